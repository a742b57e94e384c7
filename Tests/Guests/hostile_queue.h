/* A ring-3 virtqueue driver for hostile.elf that puts its rings wherever it is told (the
 * attacks place them out of RAM, misaligned or on top of each other) and waits for the device
 * with a TSC deadline, noticing DEVICE_NEEDS_RESET as well as used buffers. */
#ifndef KILN_GUEST_HOSTILE_QUEUE_H
#define KILN_GUEST_HOSTILE_QUEUE_H

#include "virtio.h"

#define HQ_MAX 1024 /* largest queue the rings below hold */
#define HQ_MAX_QUEUES 4
#define VIRTIO_F_INDIRECT_DESC (1ULL << 28)
#define VIRTQ_DESC_F_INDIRECT 4

struct hq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[HQ_MAX];
    uint16_t used_event;
};

struct hq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct hq_used {
    uint16_t flags;
    uint16_t idx;
    struct hq_used_elem ring[HQ_MAX];
    uint16_t avail_event;
};

struct hq {
    uintptr_t base;  /* MMIO window */
    unsigned queue;  /* the queue this driver uses */
    unsigned queues; /* how many the device has; the others get small idle rings */
    uint16_t size;
    uint64_t features;
    volatile struct virtq_desc *desc;
    volatile struct hq_avail *avail;
    volatile struct hq_used *used;
    uint16_t avail_idx, used_idx;
};

enum hq_outcome { HQ_USED, HQ_NEEDS_RESET, HQ_NONE };

static inline uint32_t hq_read(const struct hq *q, unsigned reg) { return mmio_read32(q->base + reg); }
static inline void hq_write(const struct hq *q, unsigned reg, uint32_t v) { mmio_write32(q->base + reg, v); }

/* Reset, ACKNOWLEDGE, DRIVER, accept (offered & wanted), FEATURES_OK. NULL or a reason. */
const char *hq_negotiate(struct hq *q, uint64_t wanted);
/* QueueSel, QueueNum, the three ring addresses and QueueReady = 1 for queue `index`. */
void hq_configure(const struct hq *q, unsigned index, uint32_t size, uint64_t desc, uint64_t avail, uint64_t used);
/* Every other queue of the device on its own small, empty, valid rings. */
void hq_configure_idle_queues(const struct hq *q);
/* Sets DRIVER_OK; returns the status read back. */
uint32_t hq_driver_ok(const struct hq *q);
/* A healthy start: negotiate, q's rings (zeroed) for q->queue, idle rings for the rest,
 * DRIVER_OK. NULL or a reason. */
const char *hq_start(struct hq *q, uint64_t wanted);
/* Puts `head` in the next available slot, publishes it and notifies. */
void hq_publish(struct hq *q, uint16_t head);
void hq_notify(const struct hq *q);
/* Waits for the next used element, DEVICE_NEEDS_RESET or the deadline (~1.6 s here). */
enum hq_outcome hq_wait(struct hq *q, uint32_t *id, uint32_t *len);

#endif
