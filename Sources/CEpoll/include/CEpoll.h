#ifndef CEPOLL_H
#define CEPOLL_H

/* The epoll and eventfd calls a curl thread waits with (CurlReadiness), behind plain
 * types. Swift's Glibc module has neither header; here the kernel's declarations (the
 * packed epoll_event, its flag macros) stay in epoll.c, out of every module header
 * Swift reads, and the curl shim stays libcurl's alone. */

/* What a descriptor is watched for, or was found ready for. */
enum {
    CEPOLL_IN = 1,    /* input or its end (EPOLLIN, EPOLLRDHUP; found: also EPOLLHUP) */
    CEPOLL_OUT = 2,   /* room to write (EPOLLOUT) */
    CEPOLL_ERR = 4,   /* found only: an error (EPOLLERR) */
    CEPOLL_EDGE = 8   /* watch only: edge-triggered (EPOLLET) */
};

enum { CEPOLL_ADD = 0, CEPOLL_MODIFY = 1, CEPOLL_DELETE = 2 };

/* A close-on-exec epoll set; -1 and errno on failure. */
int cepoll_create(void);
/* A close-on-exec, non-blocking eventfd; -1 and errno on failure. */
int cepoll_eventfd(void);
/* Adds, changes or removes `fd` with `events` (CEPOLL_* bits); 0, or -1 and errno. */
int cepoll_ctl(int epoll, int op, int fd, unsigned events);
/* Waits up to `timeout_ms` (-1: no limit) for up to `max` ready descriptors, filling
 * `fds` and `events` (CEPOLL_* bits); their count, or -1 and errno. */
int cepoll_wait(int epoll, int *fds, unsigned *events, int max, int timeout_ms);

#endif
