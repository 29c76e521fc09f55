/* A tiny HTTP server for tests: the "service on a user-defined network" a tunnel points at.
 * usage: /web [PORT]   (default 8080). Answers every request with 200 and
 * "hello from web <hostname>\n", one connection at a time; exits 0 on SIGTERM/SIGINT. */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void leave(int signal_number) { (void)signal_number; _exit(0); }

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    char host[256] = "", body[512], head[256], request[4096];
    struct sockaddr_in address = {0};
    int one = 1, listener = socket(AF_INET, SOCK_STREAM, 0);

    signal(SIGTERM, leave);
    signal(SIGINT, leave);
    gethostname(host, sizeof host - 1);
    snprintf(body, sizeof body, "hello from web %s\n", host);
    snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n", strlen(body));
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 16)) {
        perror("web: cannot listen");
        return 1;
    }
    printf("web: listening on port %d\n", port);
    fflush(stdout);
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0) continue;
        if (read(client, request, sizeof request) > 0) {  /* one read holds any test's request line */
            (void)!write(client, head, strlen(head));
            (void)!write(client, body, strlen(body));
        }
        close(client);
    }
}
