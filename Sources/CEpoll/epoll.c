#include "CEpoll.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

int cepoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int cepoll_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int cepoll_ctl(int epoll, int op, int fd, unsigned events) {
    struct epoll_event event = { 0 };
    if (events & CEPOLL_IN) event.events |= EPOLLIN | EPOLLRDHUP;
    if (events & CEPOLL_OUT) event.events |= EPOLLOUT;
    if (events & CEPOLL_EDGE) event.events |= EPOLLET;
    event.data.fd = fd;
    int ops[] = { EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL };
    return epoll_ctl(epoll, ops[op], fd, &event);
}

int cepoll_wait(int epoll, int *fds, unsigned *events, int max, int timeout_ms) {
    struct epoll_event ready[64];
    if (max > 64) max = 64;
    int count = epoll_wait(epoll, ready, max, timeout_ms);
    for (int i = 0; i < count; i++) {
        unsigned found = 0;
        if (ready[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) found |= CEPOLL_IN;
        if (ready[i].events & EPOLLOUT) found |= CEPOLL_OUT;
        if (ready[i].events & EPOLLERR) found |= CEPOLL_ERR;
        fds[i] = ready[i].data.fd;
        events[i] = found;
    }
    return count;
}
