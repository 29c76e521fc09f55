/*
 * sleeper: stand-in entrypoint for the tunnel image in tests and benchmarks.
 *
 * The real image runs ssh with arguments such as
 *   -p 443 -R0:127.0.0.1:3845 -o StrictHostKeyChecking=no TOKEN@server k:KEY
 * This program accepts and ignores any arguments, sleeps until a signal
 * arrives, and exits 0 promptly on SIGTERM, SIGINT or SIGHUP.
 *
 * It runs as PID 1 inside its container, where the kernel does not apply the
 * default "terminate" action for signals without a handler, so handlers are
 * installed explicitly; otherwise `docker stop` would wait out its timeout.
 *
 * Built statically (gcc -static -Os) so that the image holds nothing else.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig)
{
    (void)sig;
    _exit(0);
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    sigset_t none;

    (void)argc;
    (void)argv;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    /* Make sure the signals are not blocked (a parent may have blocked them). */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    for (;;)
        pause();
}
