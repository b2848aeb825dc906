/* A hand-written single-threaded epoll echo server in C: the reference nines-server is held to.
 * Edge-triggered, one shared read buffer, write back what was read, keep any unsent rest.
 * Build: gcc -O2 -o epoll_echo_server epoll_echo_server.c    Run: ./epoll_echo_server PORT
 * Prints "c-epoll listening on 127.0.0.1:PORT". Loopback only. */
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
#include <unistd.h>

#define MAXFD 65536
static char *pending[MAXFD];
static size_t pending_len[MAXFD];

static void drop_conn(int fd) { free(pending[fd]); pending[fd] = NULL; pending_len[fd] = 0; close(fd); }

/* Appends bytes to the fd's unsent queue. */
static void keep(int fd, const char *p, size_t n) {
    pending[fd] = realloc(pending[fd], pending_len[fd] + n);
    memcpy(pending[fd] + pending_len[fd], p, n);
    pending_len[fd] += n;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 2048)) { perror("bind/listen"); return 1; }
    socklen_t al = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &al);
    printf("c-epoll listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[1024];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    static char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, evs, 1024, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= MAXFD) { close(c); continue; }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            if (pending_len[fd]) {
                ssize_t w = write(fd, pending[fd], pending_len[fd]);
                if (w < 0 && errno != EAGAIN) { drop_conn(fd); continue; }
                if (w > 0) { memmove(pending[fd], pending[fd] + w, pending_len[fd] - w); pending_len[fd] -= w; }
                if (pending_len[fd]) continue;
            }
            for (;;) {
                ssize_t r = read(fd, buf, sizeof buf);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) { drop_conn(fd); break; }
                if (r < 0) break;
                ssize_t w = write(fd, buf, r);
                if (w < 0 && errno != EAGAIN) { drop_conn(fd); break; }
                if (w < r) { keep(fd, buf + (w < 0 ? 0 : w), r - (w < 0 ? 0 : w)); break; }
            }
        }
    }
}
