/* Tiny polled virtio-mmio driver for the test guests. See virtio.h. */
#include "virtio.h"

/* Ring layout in one page: descriptor table (16-aligned), available ring (2-aligned), used
 * ring (4-aligned), as 2.7 asks. */
#define RING_DESC_OFFSET 0
#define RING_AVAIL_OFFSET 0x100
#define RING_USED_OFFSET 0x200

/* Polls of used->idx before giving up. One poll costs 12-17 us on our emulated ring 0, so this
 * is 5-7 s (measured); a healthy device answers within a few hundred polls (a flush, i.e.
 * fdatasync on the host, took ~800), and a test's own timeout is 30 s. */
#define POLL_LIMIT 400000UL

static uint8_t ring_page[4096] __attribute__((aligned(4096)));

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[VIRTIO_QUEUE_SIZE];
    uint16_t used_event;
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[VIRTIO_QUEUE_SIZE];
    uint16_t avail_event;
};

#define DESC ((volatile struct virtq_desc *)(ring_page + RING_DESC_OFFSET))
#define AVAIL ((volatile struct virtq_avail *)(ring_page + RING_AVAIL_OFFSET))
#define USED ((volatile struct virtq_used *)(ring_page + RING_USED_OFFSET))

static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

uintptr_t virtio_find(uint32_t device_id, unsigned nth)
{
    for (unsigned slot = 0; slot < VIRTIO_MMIO_SLOTS; slot++) {
        uintptr_t base = VIRTIO_MMIO_FIRST + slot * VIRTIO_MMIO_STRIDE;
        if (mmio_read32(base + VIRTIO_MMIO_MAGIC) != VIRTIO_MAGIC)
            return 0;
        if (mmio_read32(base + VIRTIO_MMIO_DEVICE_ID) == device_id && nth-- == 0)
            return base;
    }
    return 0;
}

static void write_address(struct virtio_dev *dev, unsigned low_reg, uintptr_t addr)
{
    virtio_write(dev, low_reg, (uint32_t)addr);
    virtio_write(dev, low_reg + 4, (uint32_t)((uint64_t)addr >> 32));
}

const char *virtio_init(struct virtio_dev *dev, uintptr_t base, uint64_t wanted)
{
    dev->base = base;
    dev->avail_idx = 0;
    dev->used_idx = 0;
    if (virtio_read(dev, VIRTIO_MMIO_MAGIC) != VIRTIO_MAGIC)
        return "magic";
    if (virtio_read(dev, VIRTIO_MMIO_VERSION) != VIRTIO_MMIO_VERSION_2)
        return "version";

    /* 3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK (and check it stuck). */
    virtio_write(dev, VIRTIO_MMIO_STATUS, 0);
    uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE;
    virtio_write(dev, VIRTIO_MMIO_STATUS, status);
    status |= VIRTIO_STATUS_DRIVER;
    virtio_write(dev, VIRTIO_MMIO_STATUS, status);

    virtio_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t offered = virtio_read(dev, VIRTIO_MMIO_DEVICE_FEATURES);
    virtio_write(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    offered |= (uint64_t)virtio_read(dev, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    dev->offered = offered;
    dev->features = offered & wanted;
    virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)dev->features);
    virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    virtio_write(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(dev->features >> 32));
    status |= VIRTIO_STATUS_FEATURES_OK;
    virtio_write(dev, VIRTIO_MMIO_STATUS, status);
    if (!(virtio_read(dev, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
        return "features refused";

    /* 4.2.3.2: queue 0, size 8, rings in ring_page. */
    virtio_write(dev, VIRTIO_MMIO_QUEUE_SEL, 0);
    if (virtio_read(dev, VIRTIO_MMIO_QUEUE_READY) != 0)
        return "queue already ready";
    uint32_t max = virtio_read(dev, VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max < VIRTIO_QUEUE_SIZE)
        return "queue too small";
    memset(ring_page, 0, sizeof ring_page);
    virtio_write(dev, VIRTIO_MMIO_QUEUE_NUM, VIRTIO_QUEUE_SIZE);
    write_address(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uintptr_t)(ring_page + RING_DESC_OFFSET));
    write_address(dev, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uintptr_t)(ring_page + RING_AVAIL_OFFSET));
    write_address(dev, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uintptr_t)(ring_page + RING_USED_OFFSET));
    virtio_write(dev, VIRTIO_MMIO_QUEUE_READY, 1);
    if (virtio_read(dev, VIRTIO_MMIO_QUEUE_READY) != 1)
        return "queue not ready";

    status |= VIRTIO_STATUS_DRIVER_OK;
    virtio_write(dev, VIRTIO_MMIO_STATUS, status);
    uint32_t now = virtio_read(dev, VIRTIO_MMIO_STATUS);
    if (now & VIRTIO_STATUS_NEEDS_RESET)
        return "needs reset";
    if (!(now & VIRTIO_STATUS_DRIVER_OK))
        return "driver ok refused";
    return NULL;
}

int virtio_submit(struct virtio_dev *dev, const struct virtio_buf *bufs, unsigned count, uint32_t *used_len)
{
    for (unsigned i = 0; i < count; i++) {
        DESC[i].addr = bufs[i].addr;
        DESC[i].len = bufs[i].len;
        DESC[i].flags = (uint16_t)((i + 1 < count ? VIRTQ_DESC_F_NEXT : 0)
                                   | (bufs[i].device_writes ? VIRTQ_DESC_F_WRITE : 0));
        DESC[i].next = (uint16_t)(i + 1 < count ? i + 1 : 0);
    }
    AVAIL->ring[dev->avail_idx % VIRTIO_QUEUE_SIZE] = 0;
    /* x86 keeps stores in order; the compiler must too (descriptors, ring entry, then idx). */
    barrier();
    dev->avail_idx++;
    AVAIL->idx = dev->avail_idx;
    barrier();
    virtio_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, 0);

    for (unsigned long polls = 0; USED->idx == dev->used_idx; polls++) {
        if (polls == POLL_LIMIT)
            return VIRTIO_TIMEOUT;
        cpu_relax();
    }
    barrier();
    volatile struct virtq_used_elem *elem = &USED->ring[dev->used_idx % VIRTIO_QUEUE_SIZE];
    dev->used_idx++;
    *used_len = elem->len;
    return elem->id == 0 ? 0 : VIRTIO_BAD_USED;
}

static const char hex_digits[] = "0123456789abcdef";

void put_bytes_hex(const uint8_t *bytes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        serial_putc(hex_digits[bytes[i] >> 4]);
        serial_putc(hex_digits[bytes[i] & 15]);
    }
}

void put_line_dec(const char *key, uint64_t value)
{
    serial_puts(key);
    serial_putc(' ');
    serial_put_dec(value);
    serial_putc('\n');
}
