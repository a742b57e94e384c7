/* Ring-3 virtqueue driver for hostile.elf. See hostile_queue.h. */
#include "hostile_queue.h"

/* Deadline for a device's answer in TSC cycles: 2^32 is 1.2-2 s at 2-3.5 GHz. Kiln's device
 * thread answers a notification within microseconds to a few milliseconds, but on this shared
 * 2-core machine under load 15-20 it once went unscheduled past a 0.2 s deadline. Only an
 * attack the device ignores would wait this long, and none does. */
#define HQ_DEADLINE (1ULL << 32)
#define IDLE_QUEUE_SIZE 8

/* Rings of the queues hostile.elf does not drive: descriptors at 0, available at 0x100, used
 * at 0x200 of one page each, as 2.7's alignment asks. */
static uint8_t idle_rings[HQ_MAX_QUEUES][4096] __attribute__((aligned(4096)));

static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

const char *hq_negotiate(struct hq *q, uint64_t wanted)
{
    if (hq_read(q, VIRTIO_MMIO_MAGIC) != VIRTIO_MAGIC)
        return "magic";
    hq_write(q, VIRTIO_MMIO_STATUS, 0);
    uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE;
    hq_write(q, VIRTIO_MMIO_STATUS, status);
    status |= VIRTIO_STATUS_DRIVER;
    hq_write(q, VIRTIO_MMIO_STATUS, status);
    hq_write(q, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t offered = hq_read(q, VIRTIO_MMIO_DEVICE_FEATURES);
    hq_write(q, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    offered |= (uint64_t)hq_read(q, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    q->features = offered & wanted;
    hq_write(q, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    hq_write(q, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)q->features);
    hq_write(q, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    hq_write(q, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(q->features >> 32));
    status |= VIRTIO_STATUS_FEATURES_OK;
    hq_write(q, VIRTIO_MMIO_STATUS, status);
    if (!(hq_read(q, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
        return "features refused";
    return NULL;
}

void hq_configure(const struct hq *q, unsigned index, uint32_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
    hq_write(q, VIRTIO_MMIO_QUEUE_SEL, index);
    hq_write(q, VIRTIO_MMIO_QUEUE_NUM, size);
    hq_write(q, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    hq_write(q, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    hq_write(q, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    hq_write(q, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
    hq_write(q, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    hq_write(q, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
    hq_write(q, VIRTIO_MMIO_QUEUE_READY, 1);
}

void hq_configure_idle_queues(const struct hq *q)
{
    for (unsigned i = 0; i < q->queues && i < HQ_MAX_QUEUES; i++) {
        if (i == q->queue)
            continue;
        memset(idle_rings[i], 0, sizeof idle_rings[i]);
        uintptr_t page = (uintptr_t)idle_rings[i];
        hq_configure(q, i, IDLE_QUEUE_SIZE, page, page + 0x100, page + 0x200);
    }
}

uint32_t hq_driver_ok(const struct hq *q)
{
    uint32_t status = hq_read(q, VIRTIO_MMIO_STATUS);
    hq_write(q, VIRTIO_MMIO_STATUS, status | VIRTIO_STATUS_DRIVER_OK);
    return hq_read(q, VIRTIO_MMIO_STATUS);
}

const char *hq_start(struct hq *q, uint64_t wanted)
{
    const char *why = hq_negotiate(q, wanted);
    if (why)
        return why;
    q->avail_idx = q->used_idx = 0;
    memset((void *)q->avail, 0, sizeof *q->avail);
    memset((void *)q->used, 0, sizeof *q->used);
    hq_configure(q, q->queue, q->size, (uintptr_t)q->desc, (uintptr_t)q->avail, (uintptr_t)q->used);
    if (hq_read(q, VIRTIO_MMIO_QUEUE_READY) != 1)
        return "queue not ready";
    hq_configure_idle_queues(q);
    uint32_t status = hq_driver_ok(q);
    if (status & VIRTIO_STATUS_NEEDS_RESET)
        return "needs reset";
    if (!(status & VIRTIO_STATUS_DRIVER_OK))
        return "driver ok refused";
    return NULL;
}

void hq_notify(const struct hq *q)
{
    hq_write(q, VIRTIO_MMIO_QUEUE_NOTIFY, q->queue);
}

void hq_publish(struct hq *q, uint16_t head)
{
    q->avail->ring[q->avail_idx % q->size] = head;
    barrier();
    q->avail_idx++;
    q->avail->idx = q->avail_idx;
    barrier();
    hq_notify(q);
}

enum hq_outcome hq_wait(struct hq *q, uint32_t *id, uint32_t *len)
{
    uint64_t start = rdtsc();
    for (unsigned polls = 0;; polls++) {
        if (q->used->idx != q->used_idx) {
            barrier();
            volatile struct hq_used_elem *elem = &q->used->ring[q->used_idx % q->size];
            *id = elem->id;
            *len = elem->len;
            q->used_idx++;
            return HQ_USED;
        }
        /* A status read is an exit to the VMM (~30 us from ring 3): not on every poll. */
        if (polls % 1024 == 0 && (hq_read(q, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET))
            return HQ_NEEDS_RESET;
        if (rdtsc() - start > HQ_DEADLINE)
            return HQ_NONE;
        cpu_relax();
    }
}
