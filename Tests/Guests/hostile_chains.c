/* hostile.elf's attacks on descriptor chains, indirect tables, the available ring and the queue
 * set-up. See hostile.c. */
#include "hostile.h"

/* A page that is desc table, available ring and used ring at once (rings_overlap). */
static uint8_t overlap_page[4096] __attribute__((aligned(4096)));
static struct virtq_desc indirect[2][16] __attribute__((aligned(16)));

/* ---- attacks on descriptor chains ---- */

static void chain_attack(uint64_t addr, uint32_t len, uint16_t flags)
{
    if (!start_attacked())
        return;
    build_bad(&attacked, addr, len, flags);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

/* Descriptor 0 (and, with `two`, descriptor 1) chained on to `next0` (`next1`): loops and
 * indices past the table. */
static void next_attack(uint16_t next0, int two, uint16_t next1)
{
    if (!start_attacked())
        return;
    uint16_t w = attacked_kind == RNG ? VIRTQ_DESC_F_WRITE : 0;
    set_desc(&attacked.desc[0], (uintptr_t)attacked_buf.out, 16, (uint16_t)(VIRTQ_DESC_F_NEXT | w), next0);
    if (two)
        set_desc(&attacked.desc[1], (uintptr_t)attacked_buf.out, 16, (uint16_t)(VIRTQ_DESC_F_NEXT | w), next1);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

void a_loop(void) { next_attack(1, 1, 0); }
void a_selfloop(void) { next_attack(0, 0, 0); }
void a_next_oob(void) { next_attack(0xffff, 0, 0); }

void a_head_oob(void)
{
    if (!start_attacked())
        return;
    build_healthy(&attacked, attacked_kind, &attacked_buf);
    hq_publish(&attacked, 0xfffe);
    wait_and_report(&attacked);
}

void a_beyond_ram(void) { chain_attack(BEYOND_RAM, 512, 0); }
void a_mmio_hole(void) { chain_attack(MMIO_HOLE, 512, 0); }
void a_wrap(void) { chain_attack(0xfffffffffffffe00ULL, 0x400, 0); }
void a_straddle(void) { chain_attack((ram_mib << 20) - 256, 512, 0); }
void a_huge_len(void) { chain_attack((uintptr_t)attacked_buf.in, 0xffffffffU, 0); }
void a_zero_len(void) { chain_attack((uintptr_t)attacked_buf.in, 0, 0); }

/* ---- attacks with indirect descriptors ---- */

static void indirect_attack(uint64_t table, uint32_t len, uint16_t extra_flags)
{
    if (!start_attacked())
        return;
    if (!(attacked.features & VIRTIO_F_INDIRECT_DESC)) {
        serial_puts("RESULT indirect_not_offered\n");
        return;
    }
    build_bad(&attacked, table, len, (uint16_t)(VIRTQ_DESC_F_INDIRECT | extra_flags));
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

static void valid_table_entry(volatile struct virtq_desc *d, uint16_t flags, uint16_t next)
{
    uint16_t w = attacked_kind == RNG || attacked_kind == BLK ? VIRTQ_DESC_F_WRITE : 0;
    set_desc(d, (uintptr_t)attacked_buf.in, 64, (uint16_t)(w | flags), next);
}

void a_indirect_nested(void)
{
    memset(indirect, 0, sizeof indirect);
    set_desc(&indirect[0][0], (uintptr_t)indirect[1], 16, VIRTQ_DESC_F_INDIRECT, 0);
    valid_table_entry(&indirect[1][0], 0, 0);
    indirect_attack((uintptr_t)indirect[0], 16, 0);
}

void a_indirect_badlen(void)
{
    memset(indirect, 0, sizeof indirect);
    valid_table_entry(&indirect[0][0], 0, 0);
    indirect_attack((uintptr_t)indirect[0], 17, 0);
}

void a_indirect_zero(void)
{
    memset(indirect, 0, sizeof indirect);
    indirect_attack((uintptr_t)indirect[0], 0, 0);
}

void a_indirect_huge(void)
{
    memset(indirect, 0, sizeof indirect);
    valid_table_entry(&indirect[0][0], 0, 0);
    indirect_attack((uintptr_t)indirect[0], 0xfffffff0U, 0);
}

void a_indirect_loop(void)
{
    memset(indirect, 0, sizeof indirect);
    valid_table_entry(&indirect[0][0], VIRTQ_DESC_F_NEXT, 1);
    valid_table_entry(&indirect[0][1], VIRTQ_DESC_F_NEXT, 0);
    indirect_attack((uintptr_t)indirect[0], 32, 0);
}

void a_indirect_next_oob(void)
{
    memset(indirect, 0, sizeof indirect);
    valid_table_entry(&indirect[0][0], VIRTQ_DESC_F_NEXT, 5);
    indirect_attack((uintptr_t)indirect[0], 32, 0);
}

void a_indirect_beyond_ram(void) { indirect_attack(BEYOND_RAM, 64, 0); }

void a_indirect_and_next(void)
{
    memset(indirect, 0, sizeof indirect);
    valid_table_entry(&indirect[0][0], 0, 0);
    indirect_attack((uintptr_t)indirect[0], 16, VIRTQ_DESC_F_NEXT);
}

/* ---- attacks on the available ring ---- */

static void avail_attack(uint16_t jump)
{
    if (!start_attacked())
        return;
    build_healthy(&attacked, attacked_kind, &attacked_buf);
    for (unsigned i = 0; i < attacked.size; i++)
        attacked.avail->ring[i] = 0;
    __asm__ volatile("" ::: "memory");
    attacked.avail_idx = (uint16_t)(attacked.avail_idx + jump);
    attacked.avail->idx = attacked.avail_idx;
    __asm__ volatile("" ::: "memory");
    hq_notify(&attacked);
    wait_and_report(&attacked);
}

void a_avail_jump(void) { avail_attack(SMALL_QUEUE + 1000); }
void a_avail_max(void) { avail_attack(0xffff); }
/* The same head in every slot: one chain in flight SMALL_QUEUE times. */
void a_same_head(void) { avail_attack(SMALL_QUEUE); }

/* ---- attacks on the queue set-up ---- */

/* Negotiates, puts the attacked queue's rings at the given addresses, asks for DRIVER_OK
 * and reports; if the device took it, one request follows on those rings. */
static void rings_attack(uint64_t desc, uint64_t avail, uint64_t used)
{
    const char *why = hq_negotiate(&attacked, wanted());
    if (why) {
        serial_puts("RESULT start_failed ");
        serial_puts(why);
        serial_putc('\n');
        return;
    }
    hq_configure(&attacked, attacked.queue, SMALL_QUEUE, desc, avail, used);
    hq_configure_idle_queues(&attacked);
    uint32_t status = hq_driver_ok(&attacked);
    report(&attacked, "setup");
    if (!(status & VIRTIO_STATUS_DRIVER_OK) || (status & VIRTIO_STATUS_NEEDS_RESET))
        return;
    /* Accepted (the rings are RAM): drive one request through them, whatever they overlap. */
    volatile struct virtq_desc *d = (volatile struct virtq_desc *)(uintptr_t)desc;
    volatile struct hq_avail *a = (volatile struct hq_avail *)(uintptr_t)avail;
    set_desc(&d[0], (uintptr_t)attacked_buf.in, 64, attacked_kind == RNG || attacked_kind == BLK ? VIRTQ_DESC_F_WRITE : 0, 0);
    a->ring[0] = 0;
    a->idx = (uint16_t)(a->idx + 1);
    hq_notify(&attacked);
    uint64_t start = rdtsc();
    while (rdtsc() - start < (1ULL << 27))
        cpu_relax();
    report(&attacked, "after_request");
}

void a_rings_beyond_ram(void)
{
    rings_attack(BEYOND_RAM, (uintptr_t)&attacked_avail, (uintptr_t)&attacked_used);
}

void a_rings_wrap(void)
{
    rings_attack((uintptr_t)attacked_desc, 0xfffffffffffff000ULL, (uintptr_t)&attacked_used);
}

void a_rings_mmio(void)
{
    rings_attack((uintptr_t)attacked_desc, (uintptr_t)&attacked_avail, MMIO_HOLE);
}

void a_rings_straddle(void)
{
    rings_attack((uintptr_t)attacked_desc, (uintptr_t)&attacked_avail, (ram_mib << 20) - 16);
}

void a_rings_overlap(void)
{
    memset(overlap_page, 0, sizeof overlap_page);
    uintptr_t page = (uintptr_t)overlap_page;
    rings_attack(page, page, page);
}

void a_rings_misaligned(void)
{
    rings_attack((uintptr_t)attacked_desc + 1, (uintptr_t)&attacked_avail + 1, (uintptr_t)&attacked_used + 2);
}

/* QueueNum zero, not a power of two, above QueueNumMax, 2^16 and 2^32-1: each must be
 * refused (4.2.2), leaving a size the rings below hold, and a request must still work. */
void a_qsize_bad(void)
{
    const char *why = hq_negotiate(&attacked, wanted());
    if (why) {
        serial_puts("RESULT start_failed ");
        serial_puts(why);
        serial_putc('\n');
        return;
    }
    hq_write(&attacked, VIRTIO_MMIO_QUEUE_SEL, attacked.queue);
    uint32_t max = hq_read(&attacked, VIRTIO_MMIO_QUEUE_NUM_MAX);
    const uint32_t sizes[] = { 0, 3, 7, max + 1, max * 2, 0x10000, 0xffffffffU };
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        hq_write(&attacked, VIRTIO_MMIO_QUEUE_NUM, sizes[i]);
    serial_puts("QUEUE_NUM_MAX ");
    serial_put_dec(max);
    serial_putc('\n');
    if (max > HQ_MAX) {
        report(&attacked, "max_too_large_for_guest");
        return;
    }
    /* Whatever size stands, slot 0 of each ring is the first one used. */
    attacked.avail_idx = attacked.used_idx = 0;
    attacked.size = 1;
    memset((void *)attacked.avail, 0, sizeof *attacked.avail);
    memset((void *)attacked.used, 0, sizeof *attacked.used);
    hq_write(&attacked, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)attacked_desc);
    hq_write(&attacked, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    hq_write(&attacked, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(uintptr_t)&attacked_avail);
    hq_write(&attacked, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
    hq_write(&attacked, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(uintptr_t)&attacked_used);
    hq_write(&attacked, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
    hq_write(&attacked, VIRTIO_MMIO_QUEUE_READY, 1);
    hq_configure_idle_queues(&attacked);
    hq_driver_ok(&attacked);
    build_healthy(&attacked, attacked_kind, &attacked_buf);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

