#include "CURing.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>

struct kiln_uring {
    struct io_uring ring;
};

int kiln_uring_create(unsigned entries, int eventfd, kiln_uring **out) {
    kiln_uring *ring = calloc(1, sizeof *ring);
    if (ring == NULL) return -ENOMEM;
    // SUBMIT_ALL (5.18+): an entry the kernel refuses (it completes with its error) does not
    // stop the rest of the submission, which would otherwise wait for the next pass.
    struct io_uring_params params = {.flags = IORING_SETUP_SUBMIT_ALL};
    int result = io_uring_queue_init_params(entries, &ring->ring, &params);
    if (result == -EINVAL) {
        params = (struct io_uring_params){0};
        result = io_uring_queue_init_params(entries, &ring->ring, &params);
    }
    if (result < 0) {
        free(ring);
        return result;
    }
    // The device reuses one iovec arena across submissions, and counts on every completion
    // reaching the ring; both are kernel guarantees only with these features (5.5+).
    if (!(params.features & IORING_FEAT_SUBMIT_STABLE) || !(params.features & IORING_FEAT_NODROP)) {
        io_uring_queue_exit(&ring->ring);
        free(ring);
        return -EOPNOTSUPP;
    }
    result = io_uring_register_eventfd(&ring->ring, eventfd);
    if (result < 0) {
        io_uring_queue_exit(&ring->ring);
        free(ring);
        return result;
    }
    *out = ring;
    return 0;
}

void kiln_uring_destroy(kiln_uring *ring) {
    if (ring == NULL) return;
    io_uring_queue_exit(&ring->ring);
    free(ring);
}

int kiln_uring_prepare(kiln_uring *ring, int op, int fd, const void *iov, unsigned count,
                       uint64_t offset, uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (sqe == NULL) return -EBUSY;
    switch (op) {
    case KILN_URING_READV: io_uring_prep_readv(sqe, fd, iov, count, offset); break;
    case KILN_URING_WRITEV: io_uring_prep_writev(sqe, fd, iov, count, offset); break;
    default: io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); break;
    }
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int kiln_uring_submit(kiln_uring *ring) {
    int result;
    do {
        result = io_uring_submit(&ring->ring);
    } while (result == -EINTR);
    return result;
}

int kiln_uring_submits_all(kiln_uring *ring) { return (ring->ring.flags & IORING_SETUP_SUBMIT_ALL) != 0; }

int kiln_uring_reap(kiln_uring *ring, uint64_t *user_data, int32_t *result) {
    struct io_uring_cqe *cqe = NULL;
    if (io_uring_peek_cqe(&ring->ring, &cqe) != 0 || cqe == NULL) return 0;
    *user_data = io_uring_cqe_get_data64(cqe);
    *result = cqe->res;
    io_uring_cqe_seen(&ring->ring, cqe);
    return 1;
}

unsigned kiln_uring_ready(kiln_uring *ring) { return io_uring_cq_ready(&ring->ring); }
