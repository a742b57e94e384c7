#ifndef KILN_CURING_H
#define KILN_CURING_H

#include <stdint.h>

/// A thin shim over liburing for virtio-blk's async engine: liburing's helpers are static
/// inline functions and its struct layouts vary by version, so Swift sees an opaque ring and
/// a handful of calls that return -errno.
typedef struct kiln_uring kiln_uring;

enum kiln_uring_op { KILN_URING_READV = 0, KILN_URING_WRITEV = 1, KILN_URING_FDATASYNC = 2 };

/// Sets up a ring of `entries` submissions (completions: twice that) and registers `eventfd`
/// for completions. -errno on failure; -EOPNOTSUPP if the kernel lacks IORING_FEAT_SUBMIT_STABLE
/// (iovec arrays must be reusable once submitted) or IORING_FEAT_NODROP (5.5).
int kiln_uring_create(unsigned entries, int eventfd, kiln_uring **out);
void kiln_uring_destroy(kiln_uring *ring);

/// Queues one operation (not yet submitted). `iov` points to `count` struct iovec. 0, or -EBUSY
/// when the submission queue is full.
int kiln_uring_prepare(kiln_uring *ring, int op, int fd, const void *iov, unsigned count,
                       uint64_t offset, uint64_t user_data);

/// Submits what was prepared: count submitted, or -errno. What the kernel did not take (it
/// could not allocate) stays queued, in order, for the next call.
int kiln_uring_submit(kiln_uring *ring);

/// 1 if the ring was set up with IORING_SETUP_SUBMIT_ALL (a refused entry does not end a
/// submission; Linux 5.18+), else 0.
int kiln_uring_submits_all(kiln_uring *ring);

/// Takes one completion if there is one (no system call): 1 and its fields, or 0.
int kiln_uring_reap(kiln_uring *ring, uint64_t *user_data, int32_t *result);

/// Completions waiting in the ring (a read of its shared memory: no system call, no lock).
unsigned kiln_uring_ready(kiln_uring *ring);

#endif
