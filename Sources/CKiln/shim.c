#define _GNU_SOURCE
#include "CKiln.h"
#include <stdlib.h>

int kiln_ioctl_ptr(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
int kiln_ioctl_val(int fd, unsigned long request, unsigned long arg) { return ioctl(fd, request, arg); }

struct kvm_cpuid2 *kiln_cpuid_alloc(uint32_t count) {
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)count * sizeof(struct kvm_cpuid_entry2));
    if (c) c->nent = count;
    return c;
}
struct kvm_cpuid_entry2 *kiln_cpuid_entries(struct kvm_cpuid2 *cpuid) { return cpuid->entries; }

struct kvm_msrs *kiln_msrs_alloc(uint32_t count) {
    struct kvm_msrs *m = calloc(1, sizeof(*m) + (size_t)count * sizeof(struct kvm_msr_entry));
    if (m) m->nmsrs = count;
    return m;
}
struct kvm_msr_entry *kiln_msrs_entries(struct kvm_msrs *msrs) { return msrs->entries; }

struct kvm_msr_list *kiln_msr_list_alloc(uint32_t count) {
    struct kvm_msr_list *l = calloc(1, sizeof(*l) + (size_t)count * sizeof(uint32_t));
    if (l) l->nmsrs = count;
    return l;
}
uint32_t *kiln_msr_list_indices(struct kvm_msr_list *list) { return list->indices; }

int kiln_get_dirty_log(int vm, uint32_t slot, uint64_t *bitmap) {
    struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };
    return ioctl(vm, KVM_GET_DIRTY_LOG, &log);
}

#include <sys/prctl.h>
int kiln_set_thread_name(const char *name) { return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }

#include <time.h>
// Taken by a constructor so it precedes Swift's own start-up: the boot timer measures from here.
static uint64_t process_start_ns;
__attribute__((constructor)) static void kiln_record_process_start(void) { process_start_ns = kiln_monotonic_ns(); }
uint64_t kiln_process_start_ns(void) { return process_start_ns; }
uint64_t kiln_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#include <sys/eventfd.h>
#include <unistd.h>
int kiln_eventfd(unsigned int initial, int flags) { return eventfd(initial, flags); }
int kiln_eventfd_signal(int fd) { uint64_t one = 1; return (int)write(fd, &one, sizeof(one)); }
int kiln_eventfd_consume(int fd, uint64_t *value) { return (int)read(fd, value, sizeof(*value)); }

#include <errno.h>
#include <sys/uio.h>
long kiln_preadv_nowait(int fd, const void *iov, int count, int64_t offset) {
    ssize_t result = preadv2(fd, iov, count, offset, RWF_NOWAIT);
    return result < 0 ? -errno : (long)result;
}
long kiln_pwritev_nowait(int fd, const void *iov, int count, int64_t offset) {
    ssize_t result = pwritev2(fd, iov, count, offset, RWF_NOWAIT);
    return result < 0 ? -errno : (long)result;
}

#include <sys/timerfd.h>
int kiln_timerfd_create(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }
int kiln_timerfd_arm(int fd, uint64_t nanoseconds) {
    // A zero it_value would disarm the timer: the earliest expiry is 1 ns from now.
    if (nanoseconds == 0) nanoseconds = 1;
    struct itimerspec spec = { .it_value = { .tv_sec = (time_t)(nanoseconds / 1000000000ull),
                                             .tv_nsec = (long)(nanoseconds % 1000000000ull) } };
    return timerfd_settime(fd, 0, &spec, NULL);
}
int kiln_timerfd_consume(int fd, uint64_t *expirations) { return (int)read(fd, expirations, sizeof(*expirations)); }

#include <sys/epoll.h>
#include <errno.h>
int kiln_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static int kiln_epoll_ctl(int ep, int op, int fd, uint32_t events) {
    struct epoll_event event = { .events = events, .data.fd = fd };
    return epoll_ctl(ep, op, fd, &event);
}
int kiln_epoll_add(int ep, int fd, uint32_t events) { return kiln_epoll_ctl(ep, EPOLL_CTL_ADD, fd, events); }
int kiln_epoll_modify(int ep, int fd, uint32_t events) { return kiln_epoll_ctl(ep, EPOLL_CTL_MOD, fd, events); }
int kiln_epoll_remove(int ep, int fd) { return epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); }
int kiln_epoll_wait(int ep, int32_t *fds, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event ready[64];
    if (max > 64) max = 64;
    int n = epoll_wait(ep, ready, max, timeout_ms);
    for (int i = 0; i < n; i++) { fds[i] = ready[i].data.fd; events[i] = ready[i].events; }
    return n;
}

#include <sys/socket.h>
int kiln_accept_nonblocking(int listener) { return accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

#include <malloc.h>
int kiln_single_malloc_arena(void) { return mallopt(M_ARENA_MAX, 1); }
