/* Tiny virtio-mmio driver shared by the virtio test guests (virtio 1.x, MMIO transport version
 * 2, one split virtqueue of VIRTIO_QUEUE_SIZE entries, polled: the guest runs with interrupts
 * off). Kiln puts its devices in 4 KiB windows from VIRTIO_MMIO_FIRST upwards, drives first
 * and then the rng (Sources/VMM/VirtioDevices.swift); QueueNotify lands on an ioeventfd, so a
 * request completes asynchronously on Kiln's device thread and the driver polls used->idx.
 *
 * Everything is synchronous and one request at a time: a chain always occupies descriptors
 * 0..n-1 and the driver waits for it before building the next. Only one device can be set up
 * at a time (the ring lives in one static page). */
#ifndef KILN_GUEST_VIRTIO_H
#define KILN_GUEST_VIRTIO_H

#include "runtime.h"

#define VIRTIO_MMIO_FIRST 0xd0001000UL
#define VIRTIO_MMIO_STRIDE 0x1000UL
#define VIRTIO_MMIO_SLOTS 16

/* Registers (virtio 1.x 4.2.2). */
#define VIRTIO_MMIO_MAGIC 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION_2 2

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG 4

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_F_VERSION_1 (1ULL << 32)

/* Split virtqueue (2.7). */
#define VIRTIO_QUEUE_SIZE 8
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* One buffer of a chain: guest-physical address (= virtual, identity-mapped), length, and
 * whether the device writes it. */
struct virtio_buf {
    uint64_t addr;
    uint32_t len;
    int device_writes;
};

struct virtio_dev {
    uintptr_t base;
    uint64_t offered;  /* DeviceFeatures, both words */
    uint64_t features; /* what the driver accepted (and the device took with FEATURES_OK) */
    uint16_t avail_idx;
    uint16_t used_idx;
};

static inline uint32_t virtio_read(const struct virtio_dev *dev, unsigned reg)
{
    return mmio_read32(dev->base + reg);
}

static inline void virtio_write(const struct virtio_dev *dev, unsigned reg, uint32_t value)
{
    mmio_write32(dev->base + reg, value);
}

/* Base address of the nth (from 0) device with this ID, scanning windows until one does not
 * answer the magic value; 0 when there is none. */
uintptr_t virtio_find(uint32_t device_id, unsigned nth);

/* Reset, negotiate (accepting offered & wanted; VERSION_1 must be among them), set up queue 0
 * and set DRIVER_OK. Returns NULL on success, else a short reason for the guest to print. */
const char *virtio_init(struct virtio_dev *dev, uintptr_t base, uint64_t wanted);

/* Submits buffers as one chain on queue 0, notifies, and polls the used ring. Returns 0 and
 * the used length, or -1 when the device did not answer in time (about 10 s here), or -2 when
 * the used element names another head. */
#define VIRTIO_TIMEOUT (-1)
#define VIRTIO_BAD_USED (-2)
int virtio_submit(struct virtio_dev *dev, const struct virtio_buf *bufs, unsigned count, uint32_t *used_len);

/* Prints bytes as contiguous lowercase hex pairs (no 0x), e.g. "4b494c4e". */
void put_bytes_hex(const uint8_t *bytes, size_t count);
/* "KEY <decimal>\n". */
void put_line_dec(const char *key, uint64_t value);

#endif
