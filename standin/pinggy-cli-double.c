/*
 * pinggy-cli-double: behaves like Pinggy's own CLI (npm `pinggy` 0.5.3, what the pinggy/pinggy image runs) on the
 * wire of our stand-in, by running the OpenSSH client inside. tunnelctl's tests run every tunnel test against it as
 * well as against plain OpenSSH, so that neither client's behaviour can regress unseen.
 *
 * Like the CLI it:
 *   - takes the CLI's arguments (ssh-like: -p, -R, -L, -o and -t ignored, TOKEN[+type][+force]@server, then
 *     Pinggy's options), and refuses an unknown option with the CLI's `✖ Fatal Error: Unknown option '…'`;
 *     unlike it, also `-F FILE` and a server without a user: tunnelctl's login file (`User TOKEN…`) for OpenSSH,
 *     which the double drives (the real CLI keeps its user in its arguments);
 *   - keeps its daemon's state under $XDG_CONFIG_HOME/pinggy or ~/.config/pinggy and its log under
 *     $XDG_STATE_HOME/pinggy-cli/logs or ~/.local/state/pinggy-cli/logs, and fails to start where it cannot;
 *   - redraws a spinner (`⠋ …`) after a bare \r every 80 ms while it connects;
 *   - prints ` ✔ Success: Tunnel established!`, a rule, `Remote URLs:`, each URL indented by two spaces;
 *   - refuses a token under 10 characters before connecting: `✖ Error: Failed to start tunnel: Validation failed:`
 *     and `- Token must be at least 10 characters long` on the next line, exit 1;
 *   - prints nothing about a refused login, a failed connection or a dropped session: until its first session the
 *     spinner goes on, after it nothing until ` ✔ Success: Reconnected: URL, URL`; the reasons go to its daemon log
 *     in the CLI's format (`ISO-TIME [tunnel:ID8] [info] Tunnel will reconnect {"error":"…",…}`, `Tunnel
 *     reconnecting {"retryCnt":N}`, `Tunnel started {"urls":[…]}`, `Tunnel reconnection completed {"urls":[…]}`);
 *   - reconnects inside the process every PINGGY_DOUBLE_RETRY_SECONDS (default 2; the CLI's is 6) and after
 *     PINGGY_DOUBLE_MAX_ATTEMPTS (default 5; the CLI's is 20) attempts in a row prints
 *     `✖ Error: Failed to start tunnel: Maximum reconnection attempts reached. Exiting.` and exits 1 (the only
 *     deliberate difference: its pace, so that tests do not wait minutes);
 *   - run as `tail -c N FILE` (a link named tail), prints the file's last N bytes: how tunnelctl reads the daemon
 *     log of a running container (the real image has node for that);
 *   - once its tunnel is established, on SIGINT, SIGTERM or SIGHUP prints `Stopping tunnel...`, closes its session
 *     (ssh leaves the server cleanly) and exits 0; before that it has no handler (the CLI installs its shutdown
 *     handlers after connecting), so as PID 1 without an init process it ignores SIGTERM and `docker stop` waits out
 *     the grace.
 * Colours (picocolors' codes) only when stdout is a terminal, as the CLI does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SSH "/usr/bin/ssh"
#define BANNER "You can access local server via following URL(s):"
#define REFUSAL "Login is not allowed"
#define RULE "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80" \
             "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
#define MAX_ARGS 256
#define MAX_URLS 8

static const char *FRAMES[] = {"\xe2\xa0\x8b", "\xe2\xa0\x99", "\xe2\xa0\xb9", "\xe2\xa0\xb8", "\xe2\xa0\xbc",
                               "\xe2\xa0\xb4", "\xe2\xa0\xa6", "\xe2\xa0\xa7", "\xe2\xa0\x87", "\xe2\xa0\x8f"};
static volatile sig_atomic_t stop_signal;
static int colour;
static int frame;
static pid_t ssh_pid;

static const char *paint(const char *code) { return colour ? code : ""; }
#define GREEN paint("\x1b[32m")
#define RED paint("\x1b[31m")
#define CYAN paint("\x1b[36m")
#define GRAY paint("\x1b[90m")
#define MAGENTA paint("\x1b[95m")
#define BOLD paint("\x1b[1m")
#define RESET paint("\x1b[0m")

static void say(int fd, const char *format, ...) {
    char text[4096];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(text, sizeof text, format, args);
    va_end(args);
    if (length > (int)sizeof text - 1) length = sizeof text - 1;
    for (int done = 0; done < length;) {
        ssize_t wrote = write(fd, text + done, length - done);
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote <= 0) return;
        done += wrote;
    }
}

static void spin(const char *text) {
    say(1, "\r%s%s%s %s", CYAN, FRAMES[frame++ % 10], RESET, text);
}

static void error(const char *kind, const char *message) { say(2, "%s%s\xe2\x9c\x96 %s:%s %s%s%s\n", RED, BOLD, kind, RESET, RED, message, RESET); }
static void success(const char *message) { say(1, "%s%s \xe2\x9c\x94 Success:%s %s%s%s\n", GREEN, BOLD, RESET, GREEN, message, RESET); }

static void on_signal(int signal_number) { stop_signal = signal_number; }

static char daemon_log_path[1200], tunnel_id[9];

/* One line of the daemon log, as the CLI's winston logger writes it: `ISO-TIME [tunnel:ID8] [info] MESSAGE JSON`. */
static void daemon_log(const char *message, const char *json) {
    char stamp[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", gmtime(&now.tv_sec));
    int fd = daemon_log_path[0] ? open(daemon_log_path, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
    if (fd < 0) return;
    say(fd, "%s.%03ldZ [tunnel:%s] [info] %s %s\n", stamp, now.tv_nsec / 1000000, tunnel_id, message, json);
    close(fd);
}

/* `text` as a JSON string's inside: quotes and backslashes escaped, control characters dropped. */
static void json_text(char *out, size_t size, const char *text) {
    size_t used = 0;
    for (; *text && used + 3 < size; text++) {
        if (*text == '"' || *text == '\\') out[used++] = '\\';
        if ((unsigned char)*text >= 0x20) out[used++] = *text;
    }
    out[used] = 0;
}

static void handle_stop_signals(void) {
    struct sigaction action = {0};
    action.sa_handler = on_signal;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGHUP, &action, NULL);
}

static int is_url(const char *line) {
    static const char *schemes[] = {"http://", "https://", "tcp://", "tls://", "udp://", "tlstcp://"};
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++)
        if (strncmp(line, schemes[i], strlen(schemes[i])) == 0) return 1;
    return 0;
}

/* Create `folder` and its parents, then write `text` to `folder`/`name`; -1 with the reason in `problem`. */
static int write_into(char *folder, const char *name, const char *text, char *problem, size_t size) {
    char path[1200];
    for (char *slash = strchr(folder + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash) *slash = 0;
        if (mkdir(folder, 0700) != 0 && errno != EEXIST) {
            snprintf(problem, size, "%s, mkdir '%.1000s'", strerror(errno), folder);
            return -1;
        }
        if (!slash) break;
        *slash = '/';
    }
    snprintf(path, sizeof path, "%s/%s", folder, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) {
        snprintf(problem, size, "%s, open '%.1000s'", strerror(errno), path);
        return -1;
    }
    say(fd, "%s", text);
    close(fd);
    return 0;
}

/* The CLI's daemon cannot start where it cannot write its state ($XDG_CONFIG_HOME/pinggy, else ~/.config/pinggy:
 * daemon.json) and its log ($XDG_STATE_HOME/pinggy-cli/logs, else ~/.local/state/pinggy-cli/logs: daemon.log). */
static int prepare_daemon_folders(char *problem, size_t size) {
    char folder[1024], text[100];
    const char *home = getenv("HOME") && *getenv("HOME") ? getenv("HOME") : "/root";
    const char *config = getenv("XDG_CONFIG_HOME"), *state = getenv("XDG_STATE_HOME");
    if (config && *config) snprintf(folder, sizeof folder, "%s/pinggy", config);
    else snprintf(folder, sizeof folder, "%s/.config/pinggy", home);
    snprintf(text, sizeof text, "{\"pid\": %d}\n", (int)getpid());
    if (write_into(folder, "daemon.json", text, problem, size) != 0) return -1;
    if (state && *state) snprintf(folder, sizeof folder, "%s/pinggy-cli/logs", state);
    else snprintf(folder, sizeof folder, "%s/.local/state/pinggy-cli/logs", home);
    snprintf(text, sizeof text, "[info] Daemon starting {\"pid\":%d}\n", (int)getpid());
    snprintf(daemon_log_path, sizeof daemon_log_path, "%s/daemon.log", folder);
    return write_into(folder, "daemon.log", text, problem, size);
}

struct options {
    const char *destination;  /* TOKEN[+type][+force]@server, or server with `-F FILE` naming the user */
    const char *config;       /* -F FILE: tunnelctl's login file (`User TOKEN…`), passed on to ssh */
    const char *ssh_args[MAX_ARGS];
    int count;
    int reconnect;
};

/* Node's util.parseArgs over the CLI's options: values attached (-R0:…, -p443, --token=x) or separate. */
static int parse_arguments(int argc, char **argv, struct options *options) {
    static const char *valued_long[] = {"server-port", "type", "localport", "debugger", "token", "loglevel",
                                        "logfile", "saveconf", "conf", "name", "serve", "remote-management",
                                        "manage"};
    static const char *flag_long[] = {"v4", "v6", "force", "follow", "v", "vv", "vvv", "no-autoreconnect", "save",
                                      "auto", "noTui", "notui", "b", "all", "version", "help", "t", "T", "n", "N"};
    const char **words = options->ssh_args;
    int *count = &options->count;
    const char *destination = NULL, *remote[MAX_ARGS];
    int remote_count = 0;
    options->reconnect = 1;
    for (int i = 1; i < argc; i++) {
        const char *word = argv[i];
        if (word[0] != '-' || word[1] == 0) {
            if (!destination && strchr(word, '@')) destination = word;
            else if (!destination && !strchr(word, ':')) destination = word;
            else if (remote_count < MAX_ARGS) remote[remote_count++] = word;
            continue;
        }
        if (word[1] == '-') {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(word + 2, "="), word + 2);
            int known = 0;
            for (size_t k = 0; k < sizeof valued_long / sizeof *valued_long; k++)
                if (strcmp(name, valued_long[k]) == 0) {
                    known = 1;
                    if (!strchr(word, '=')) i++;
                }
            for (size_t k = 0; k < sizeof flag_long / sizeof *flag_long; k++)
                if (strcmp(name, flag_long[k]) == 0) known = 1;
            if (!known) {
                char message[200];
                snprintf(message, sizeof message,
                         "Unknown option '%s'. Please check your command or use pinggy -h for guidance.", word);
                error("Fatal Error", message);
                return -1;
            }
            if (strcmp(name, "no-autoreconnect") == 0) options->reconnect = 0;
            continue;
        }
        char letter = word[1];
        const char *value = word[2] ? word + 2 : (i + 1 < argc ? argv[i + 1] : "");
        switch (letter) {
        case 'p': case 'R': case 'L': case 'o': case 'l': case 'd': case 'F':
            if (!word[2]) i++;
            if (letter == 'F') { words[(*count)++] = "-F"; words[(*count)++] = value; options->config = value; }
            if (letter == 'p') { words[(*count)++] = "-p"; words[(*count)++] = value; }
            if (letter == 'R') { words[(*count)++] = "-R"; words[(*count)++] = value; }
            if (letter == 'L') { words[(*count)++] = "-L"; words[(*count)++] = value; }
            break;  /* -o: the CLI ignores ssh options, and so does its double */
        case 't': case 'T': case 'n': case 'N': case '4': case '6': case 'f': case 's': case 'h':
            break;
        case 'a':
            options->reconnect = 0;
            break;
        default: {
            char message[200];
            snprintf(message, sizeof message,
                     "Unknown option '-%c'. Please check your command or use pinggy -h for guidance.", letter);
            error("Fatal Error", message);
            return -1;
        }
        }
        if (*count > MAX_ARGS - 40) return -1;
    }
    if (!destination) destination = "a.pinggy.io";
    options->destination = destination;
    static const char *fixed[] = {"-T", "-n", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                  "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
                                  "-o", "ExitOnForwardFailure=yes"};
    for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++) words[(*count)++] = fixed[k];
    words[(*count)++] = destination;
    for (int k = 0; k < remote_count && *count < MAX_ARGS - 1; k++) words[(*count)++] = remote[k];
    words[*count] = NULL;
    return 0;
}

static pid_t start_ssh(struct options *options, int *output) {
    int pipe_ends[2];
    if (pipe(pipe_ends) != 0) return -1;
    const char *argv[MAX_ARGS + 2];
    argv[0] = SSH;
    for (int i = 0; i <= options->count; i++) argv[i + 1] = options->ssh_args[i];
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipe_ends[1], 1);
        dup2(pipe_ends[1], 2);
        close(pipe_ends[0]);
        close(pipe_ends[1]);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execv(SSH, (char **)argv);
        dprintf(2, "cannot run %s: %s\n", SSH, strerror(errno));
        _exit(127);
    }
    close(pipe_ends[1]);
    *output = pipe_ends[0];
    return pid;
}

static void stop_ssh(void) {
    if (ssh_pid <= 0) return;
    kill(ssh_pid, SIGTERM);  /* ssh closes its connection: the server sees the session end at once */
    for (int waited = 0; waited < 40; waited++) {
        if (waitpid(ssh_pid, NULL, WNOHANG) == ssh_pid) { ssh_pid = 0; return; }
        usleep(50000);
    }
    kill(ssh_pid, SIGKILL);
    waitpid(ssh_pid, NULL, 0);
    ssh_pid = 0;
}

static void quit(void) {
    say(1, "\r\x1b[K\nStopping tunnel...\n");
    stop_ssh();
    say(1, "Tunnel stopped.\n");
    exit(0);
}

/* One session: spin until ssh prints the banner and its URLs, announce them, relay refusals; return on ssh's end.
 * Returns 1 when the session was up (URLs announced), 0 when it never was; `reason` gets Pinggy's last words. */
static int run_session(struct options *options, const char *spinner_text, int first_success, char *reason,
                       size_t reason_size) {
    char urls[MAX_URLS][512], buffer[8192];
    int url_count = 0, banner = 0, announced = 0, output = -1, filled = 0;
    reason[0] = 0;
    ssh_pid = start_ssh(options, &output);
    if (ssh_pid < 0) { snprintf(reason, reason_size, "%s", strerror(errno)); return 0; }
    for (;;) {
        if (stop_signal) quit();
        struct pollfd wait_for = {output, POLLIN, 0};
        int ready = poll(&wait_for, 1, 80);
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) {
            if (banner && url_count && !announced) {
                announced = 1;
                char json[4200] = "{\"urls\":[";
                for (int i = 0; i < url_count; i++) {
                    if (i) strncat(json, ",", sizeof json - strlen(json) - 1);
                    strncat(json, "\"", sizeof json - strlen(json) - 1);
                    strncat(json, urls[i], sizeof json - strlen(json) - 1);
                    strncat(json, "\"", sizeof json - strlen(json) - 1);
                }
                strncat(json, "]}", sizeof json - strlen(json) - 1);
                daemon_log(first_success ? "Tunnel started" : "Tunnel reconnection completed", json);
                if (first_success) {
                    handle_stop_signals();
                    say(1, "\r%s\xe2\x9c\x94%s  Connected to Pinggy\n", GREEN, RESET);
                    success("Tunnel established!");
                    say(1, "%s%s%s\n%sRemote URLs:%s\n", GRAY, RULE, RESET, CYAN, RESET);
                    for (int i = 0; i < url_count; i++) say(1, "  %s%s%s\n", MAGENTA, urls[i], RESET);
                    say(1, "%s%s%s\n%s%s%s\n%s\nPress Ctrl+C to stop the tunnel.\n%s\n", GRAY, RULE, RESET, GRAY,
                        RULE, RESET, GRAY, RESET);
                } else {
                    char line[4096] = "Reconnected: ";
                    for (int i = 0; i < url_count; i++) {
                        if (i) strncat(line, ", ", sizeof line - strlen(line) - 1);
                        strncat(line, urls[i], sizeof line - strlen(line) - 1);
                    }
                    say(1, "\r\x1b[K");
                    success(line);
                }
            } else if (!announced && spinner_text) {
                spin(spinner_text);
            }
            continue;
        }
        ssize_t got = read(output, buffer + filled, sizeof buffer - 1 - filled);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        filled += got;
        buffer[filled] = 0;
        char *start = buffer, *end;
        while ((end = strpbrk(start, "\r\n"))) {
            *end = 0;
            if (*start) {
                if (strstr(start, BANNER)) {
                    banner = 1, url_count = 0;
                } else if (banner && !announced && is_url(start)) {
                    if (url_count < MAX_URLS) snprintf(urls[url_count++], sizeof urls[0], "%.511s", start);
                } else if (strstr(start, REFUSAL)) {
                    snprintf(reason, reason_size, "%s", strstr(start, REFUSAL));
                } else {
                    snprintf(reason, reason_size, "%.*s", (int)reason_size - 1, start);
                }
            }
            start = end + 1;
        }
        filled = (int)strlen(start);
        memmove(buffer, start, filled + 1);
        if (filled >= (int)sizeof buffer - 1) filled = 0;  /* a line longer than the buffer is not Pinggy's */
    }
    close(output);
    while (waitpid(ssh_pid, NULL, 0) < 0 && errno == EINTR) {
        if (stop_signal) quit();
    }
    ssh_pid = 0;
    if (stop_signal) quit();
    return announced;
}

/* `tail -c N FILE`: the file's last N bytes. */
static int tail_bytes(int argc, char **argv) {
    if (argc != 4 || strcmp(argv[1], "-c") != 0) return 2;
    int fd = open(argv[3], O_RDONLY);
    if (fd < 0) return 1;
    off_t size = lseek(fd, 0, SEEK_END), limit = atol(argv[2]);
    lseek(fd, size > limit ? size - limit : 0, SEEK_SET);
    char buffer[8192];
    ssize_t got;
    while ((got = read(fd, buffer, sizeof buffer)) > 0)
        if (write(1, buffer, got) != got) return 1;
    close(fd);
    return 0;
}

/* The user a login file (-F) names: its `User` line. */
static const char *user_in_config(const char *path, char *user, size_t size) {
    FILE *file = path ? fopen(path, "r") : NULL;
    char line[1024];
    user[0] = 0;
    while (file && fgets(line, sizeof line, file))
        if (strncasecmp(line, "User ", 5) == 0) {
            snprintf(user, size, "%.*s@", (int)strcspn(line + 5, "\r\n"), line + 5);
            break;
        }
    if (file) fclose(file);
    return user;
}

/* The CLI's token rule: `TOKEN[+type][+force]@server`, the token shorter than 10 characters is refused. */
static int token_too_short(const char *destination) {
    static const char *words[] = {"http", "tcp", "tls", "udp", "tlstcp", "force", "qr", "aqr", "auth"};
    const char *at = strrchr(destination, '@');
    if (!at) return 0;
    size_t length = strcspn(destination, "+@");
    for (size_t k = 0; k < sizeof words / sizeof *words; k++)
        if (length == strlen(words[k]) && strncmp(destination, words[k], length) == 0) return 0;
    return length > 0 && length < 10;
}

int main(int argc, char **argv) {
    struct options options = {0};
    char problem[1200], reason[1024], message[1200], json[1300];
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    if (strcmp(name, "tail") == 0) return tail_bytes(argc, argv);
    colour = isatty(1) && (!getenv("TERM") || strcmp(getenv("TERM"), "dumb") != 0);
    if (parse_arguments(argc, argv, &options) != 0) return 1;
    int retry_seconds = getenv("PINGGY_DOUBLE_RETRY_SECONDS") ? atoi(getenv("PINGGY_DOUBLE_RETRY_SECONDS")) : 2;
    int max_attempts = getenv("PINGGY_DOUBLE_MAX_ATTEMPTS") ? atoi(getenv("PINGGY_DOUBLE_MAX_ATTEMPTS")) : 5;
    if (retry_seconds < 1) retry_seconds = 1;
    if (max_attempts < 1) max_attempts = 1;
    snprintf(tunnel_id, sizeof tunnel_id, "%08x", (unsigned)(getpid() * 2654435761u ^ (unsigned)time(NULL)));

    for (int i = 0; i < 4; i++) { spin("Initializing..."); usleep(80000); }
    if (prepare_daemon_folders(problem, sizeof problem) != 0) {
        say(1, "\r%s\xe2\x9c\x96%s Failed to start daemon: %s\n", RED, RESET, problem);
        return 1;
    }
    say(1, "\r%s\xe2\x9c\x94%s Initialized\n", GREEN, RESET);
    for (int i = 0; i < 3; i++) { spin("Submitting tunnel to daemon..."); usleep(80000); }
    char config_user[1024];
    if (token_too_short(strchr(options.destination, '@') ? options.destination
                                                          : user_in_config(options.config, config_user, sizeof config_user))) {
        say(1, "\r%s\xe2\x9c\x96%s Failed to start\n", RED, RESET);
        error("Error", "Failed to start tunnel: Validation failed:\n- Token must be at least 10 characters long");
        return 1;
    }
    say(1, "\r\x1b[K");

    char waiting[100];
    snprintf(waiting, sizeof waiting, "Tunnel %s \xe2\x80\x94 waiting for connection...", tunnel_id);
    int ever_up = 0, attempt = 0;
    for (;;) {
        int was_up = run_session(&options, ever_up ? NULL : waiting, !ever_up, reason, sizeof reason);
        if (was_up) ever_up = 1, attempt = 0;
        json_text(message, sizeof message, reason[0] ? reason : "Connection closed");
        snprintf(json, sizeof json, "{\"error\":\"%s\",\"messages\":[\"Reconnecting\"]}", message);
        daemon_log("Tunnel will reconnect", json);
        if (!options.reconnect || attempt >= max_attempts) {
            if (!ever_up) say(1, "\r%s\xe2\x9c\x96%s Failed to connect\n", RED, RESET);
            error("Error", "Failed to start tunnel: Maximum reconnection attempts reached. Exiting.");
            return 1;
        }
        attempt++;
        snprintf(json, sizeof json, "{\"retryCnt\":%d}", attempt);
        daemon_log("Tunnel reconnecting", json);
        for (int waited = 0; waited < retry_seconds * 1000; waited += 80) {
            if (stop_signal) quit();
            if (!ever_up) spin(waiting);
            usleep(80000);
        }
    }
}
