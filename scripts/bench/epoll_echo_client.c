/* A hand-written closed-loop epoll echo client in C: the reference the nines driver is held to.
 * N connections, each sends SIZE bytes and waits for SIZE bytes back, then sends again, for SECS
 * seconds. Single-threaded, edge-triggered. Prints "requests N seconds S rps R".
 * Build: gcc -O2 -o epoll_echo_client epoll_echo_client.c
 * Run:   ./epoll_echo_client 127.0.0.1 PORT CONNECTIONS SIZE SECS      Loopback targets only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: %s HOST PORT CONNECTIONS SIZE SECS\n", argv[0]); return 2; }
    int conns = atoi(argv[3]), size = atoi(argv[4]);
    double secs = atof(argv[5]);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    int ep = epoll_create1(0), one = 1;
    int *got = calloc(conns, sizeof(int));
    int *fds = calloc(conns, sizeof(int));
    char *msg = malloc(size), buf[65536];
    memset(msg, 'x', size);
    for (int i = 0; i < conns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        fds[i] = fd;
    }
    long requests = 0;
    double start = now(), end = start + secs;
    for (int i = 0; i < conns; i++) write(fds[i], msg, size);
    struct epoll_event evs[1024];
    while (now() < end) {
        int n = epoll_wait(ep, evs, 1024, 100);
        for (int k = 0; k < n; k++) {
            int i = evs[k].data.u32;
            for (;;) {
                ssize_t r = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
                if (r <= 0) break;
                got[i] += r;
                while (got[i] >= size) {
                    got[i] -= size;
                    requests++;
                    write(fds[i], msg, size);
                }
                if (r < (ssize_t)sizeof buf) break;
            }
        }
    }
    double el = now() - start;
    printf("requests %ld seconds %.3f rps %.0f\n", requests, el, requests / el);
    return 0;
}
