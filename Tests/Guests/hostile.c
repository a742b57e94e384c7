/* hostile.elf: a hostile virtio driver. Every attack runs in ring 3 (ring3.h), natively fast,
 * against one of Kiln's virtio devices; after each one the guest checks that the attacked
 * device works again after a reset and that another device works throughout.
 *
 * Command line ("key=value" separated by spaces):
 *   dev=blk|rng|net|vsock|fs  the device attacked (default blk); the attacks use its queue 0
 *                             (blk, rng) or 1 (net and vsock transmit, fs requests)
 *   attack=NAME|all           one attack or all of them in turn (default all)
 *   storm=N                   QueueNotify writes in notify_storm (default 1000000)
 *   ram_mib=N                 guest RAM, for the attack straddling its end (default 64)
 *   end=wait|reset            after the last attack: wait in a ring-3 `pause` loop for ever
 *                             (default; ring 3 cannot halt, ring3.h), for the host to pause
 *                             the VM and measure kiln idle, or reset
 * The other device is the first virtio-rng, or the first virtio-blk when rng is attacked.
 *
 * Output, one line each:
 *   DEVICE <dev> base <hex> queue <n>, OTHER_DEVICE <rng|blk> base <hex>
 *   per attack: ATTACK <name>
 *               [STORM notifies <n> cycles <tsc>]
 *               RESULT <used id <n> len <n>|needs_reset|none|setup> [blk <status hex>] status <hex> isr <hex>
 *               RECOVER ok | RECOVER fail <why>   (reset, start again, one healthy request)
 *               OTHER ok | OTHER fail <why>       (one request on the other device)
 *   SURVIVED, then WAITING (end=wait) or the i8042 reset.
 * "status" is the device's status register after the attack (0x40 = DEVICE_NEEDS_RESET),
 * "isr" its InterruptStatus (acknowledged after printing). "none": no used buffer and no
 * NEEDS_RESET within the deadline (hostile_queue.c). "setup": the attack was on the queue
 * set-up itself and "status" tells whether DRIVER_OK was refused. Errors on the guest's side
 * before any attack print "HOSTILE <why>" and reset. */
#include "hostile_queue.h"
#include "ring3.h"

#define BP_CMD_LINE_PTR 0x228
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_VSOCK 19
#define VIRTIO_ID_FS 26
#define SMALL_QUEUE 8
#define BEYOND_RAM 0x1000000000ULL /* 64 GiB: no guest of these tests has RAM there */
#define MMIO_HOLE 0xd0000000ULL

#define VIRTIO_BLK_T_IN 0

enum kind { BLK, RNG, NET, VSOCK, FS };

struct device_kind {
    const char *name;
    uint32_t id;
    unsigned queue;  /* the queue attacked */
    unsigned queues; /* all of the device's queues */
};

static const struct device_kind kinds[] = {
    [BLK] = { "blk", VIRTIO_ID_BLOCK, 0, 1 },
    [RNG] = { "rng", VIRTIO_ID_RNG, 0, 1 },
    [NET] = { "net", VIRTIO_ID_NET, 1, 2 },
    [VSOCK] = { "vsock", VIRTIO_ID_VSOCK, 1, 3 },
    [FS] = { "fs", VIRTIO_ID_FS, 1, 2 },
};

/* ---- memory ---- */

static struct virtq_desc attacked_desc[HQ_MAX] __attribute__((aligned(4096)));
static struct hq_avail attacked_avail __attribute__((aligned(4096)));
static struct hq_used attacked_used __attribute__((aligned(4096)));
static struct virtq_desc other_desc[SMALL_QUEUE] __attribute__((aligned(4096)));
static struct hq_avail other_avail __attribute__((aligned(4096)));
static struct hq_used other_used __attribute__((aligned(4096)));
/* A page that is desc table, available ring and used ring at once (rings_overlap). */
static uint8_t overlap_page[4096] __attribute__((aligned(4096)));
static struct virtq_desc indirect[2][16] __attribute__((aligned(16)));

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct request_buffers {
    struct blk_header header;
    uint8_t status;
    uint8_t in[512];
    uint8_t out[512];
};
static struct request_buffers attacked_buf __attribute__((aligned(64)));
static struct request_buffers other_buf __attribute__((aligned(64)));

static struct hq attacked, other;
static enum kind attacked_kind, other_kind;
static uint64_t storm = 1000000, ram_mib = 64;
static int end_reset;
static const char *only_attack;

/* ---- command line ---- */

static int prefix(const char *s, const char *p)
{
    while (*p)
        if (*s++ != *p++)
            return 0;
    return 1;
}

static size_t word_length(const char *s)
{
    size_t n = 0;
    while (s[n] && s[n] != ' ')
        n++;
    return n;
}

/* True when the word at s (up to a space) is exactly w. */
static int word_is(const char *s, const char *w)
{
    size_t n = word_length(s);
    for (size_t i = 0; i < n; i++)
        if (w[i] != s[i])
            return 0;
    return w[n] == 0;
}

static uint64_t parse_dec(const char *s)
{
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

static int parse_options(void)
{
    attacked_kind = BLK;
    uint32_t ptr = *(volatile uint32_t *)(ZERO_PAGE_ADDR + BP_CMD_LINE_PTR);
    const char *s = ptr ? (const char *)(uintptr_t)ptr : "";
    while (*s) {
        while (*s == ' ')
            s++;
        if (prefix(s, "dev=")) {
            int found = 0;
            for (unsigned k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
                if (word_is(s + 4, kinds[k].name)) {
                    attacked_kind = (enum kind)k;
                    found = 1;
                }
            if (!found)
                return 0;
        } else if (prefix(s, "attack=")) {
            only_attack = word_is(s + 7, "all") ? NULL : s + 7;
        } else if (prefix(s, "storm=")) {
            storm = parse_dec(s + 6);
        } else if (prefix(s, "ram_mib=")) {
            ram_mib = parse_dec(s + 8);
        } else if (prefix(s, "end=")) {
            end_reset = word_is(s + 4, "reset");
        }
        s += word_length(s);
    }
    return 1;
}

/* ---- requests ---- */

static uint64_t wanted(void) { return VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC; }

static void set_desc(volatile struct virtq_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    d->addr = addr;
    d->len = len;
    d->flags = flags;
    d->next = next;
}

/* A request the device of `kind` answers when all is well, in descriptors 0.. of q; its head
 * is 0. blk: read sector 0; rng: 64 bytes; net: one broadcast frame; vsock: a RST to the host
 * (no connection: dropped); fs: FUSE_INIT. */
static void build_healthy(struct hq *q, enum kind kind, struct request_buffers *b)
{
    volatile struct virtq_desc *d = q->desc;
    memset(b, 0, sizeof *b);
    b->status = 0xff;
    switch (kind) {
    case BLK:
        b->header.type = VIRTIO_BLK_T_IN;
        set_desc(&d[0], (uintptr_t)&b->header, sizeof b->header, VIRTQ_DESC_F_NEXT, 1);
        set_desc(&d[1], (uintptr_t)b->in, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
        set_desc(&d[2], (uintptr_t)&b->status, 1, VIRTQ_DESC_F_WRITE, 0);
        break;
    case RNG:
        set_desc(&d[0], (uintptr_t)b->in, 64, VIRTQ_DESC_F_WRITE, 0);
        break;
    case NET: {
        /* virtio_net_hdr_v1 (12 bytes, all zero) then a 60-byte Ethernet frame. */
        uint8_t *frame = b->out + 12;
        memset(frame, 0xff, 6);
        frame[6] = 0x02;
        frame[12] = 0x08;
        set_desc(&d[0], (uintptr_t)b->out, 12 + 60, 0, 0);
        break;
    }
    case VSOCK: {
        /* virtio_vsock_hdr: src_cid, dst_cid (u64), src_port, dst_port, len (u32), type,
         * op (u16), flags, buf_alloc, fwd_cnt (u32): 44 bytes. */
        uint8_t *h = b->out;
        h[0] = 3;            /* src_cid */
        h[8] = 2;            /* dst_cid: the host */
        h[16] = 0x39;        /* src_port 1337 */
        h[17] = 0x05;
        h[20] = 0x0f;        /* dst_port 9999 */
        h[21] = 0x27;
        h[28] = 1;           /* type: stream */
        h[30] = 3;           /* op: RST */
        set_desc(&d[0], (uintptr_t)b->out, 44, 0, 0);
        break;
    }
    case FS: {
        /* fuse_in_header (40 bytes) + fuse_init_in (64) in; fuse_out_header + fuse_init_out out. */
        uint32_t *in = (uint32_t *)b->out;
        in[0] = 40 + 64;     /* len */
        in[1] = 26;          /* FUSE_INIT */
        in[2] = 1;           /* unique */
        in[10] = 7;          /* major */
        in[11] = 31;         /* minor */
        set_desc(&d[0], (uintptr_t)b->out, 40 + 64, VIRTQ_DESC_F_NEXT, 1);
        set_desc(&d[1], (uintptr_t)b->in, 16 + 64, VIRTQ_DESC_F_WRITE, 0);
        break;
    }
    }
}

/* Whether a used element answers build_healthy's request properly. */
static const char *check_healthy(enum kind kind, const struct request_buffers *b, uint32_t id, uint32_t len)
{
    if (id != 0)
        return "wrong head";
    switch (kind) {
    case BLK:
        if (len != 513 || b->status != 0)
            return "blk read failed";
        return NULL;
    case RNG:
        return len == 0 || len > 64 ? "rng length" : NULL;
    case FS:
        if (len < 16 || *(const int32_t *)(b->in + 4) != 0)
            return "fuse init failed";
        return NULL;
    case NET:
    case VSOCK:
        return NULL; /* transmit chains come back with length 0 */
    }
    return NULL;
}

static const char *healthy_request(struct hq *q, enum kind kind, struct request_buffers *b)
{
    uint32_t id, len;
    build_healthy(q, kind, b);
    hq_publish(q, 0);
    switch (hq_wait(q, &id, &len)) {
    case HQ_NEEDS_RESET: return "needs reset";
    case HQ_NONE: return "no answer";
    case HQ_USED: break;
    }
    return check_healthy(kind, b, id, len);
}

/* A chain whose descriptor `bad` (address, length, extra flags) sits where the device of
 * the attacked kind parses or fills: blk's data buffer between a valid header and status,
 * rng's buffer, the first (driver-written) descriptor of net, vsock and fs. Head 0. */
static void build_bad(struct hq *q, uint64_t addr, uint32_t len, uint16_t flags)
{
    volatile struct virtq_desc *d = q->desc;
    struct request_buffers *b = &attacked_buf;
    memset(b, 0, sizeof *b);
    b->status = 0xff;
    switch (attacked_kind) {
    case BLK:
        set_desc(&d[0], (uintptr_t)&b->header, sizeof b->header, VIRTQ_DESC_F_NEXT, 1);
        set_desc(&d[1], addr, len, (uint16_t)(VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE | flags), 2);
        set_desc(&d[2], (uintptr_t)&b->status, 1, VIRTQ_DESC_F_WRITE, 0);
        break;
    case RNG:
        set_desc(&d[0], addr, len, (uint16_t)(VIRTQ_DESC_F_WRITE | flags), 1);
        break;
    case NET:
    case VSOCK:
    case FS:
        set_desc(&d[0], addr, len, flags, 1);
        break;
    }
}

/* ---- reporting ---- */

static void put_hex_field(const char *key, uint64_t value)
{
    serial_putc(' ');
    serial_puts(key);
    serial_putc(' ');
    serial_put_hex(value);
}

static void report(struct hq *q, const char *what)
{
    serial_puts("RESULT ");
    serial_puts(what);
    if (attacked_kind == BLK)
        put_hex_field("blk", attacked_buf.status);
    uint32_t isr = hq_read(q, VIRTIO_MMIO_INTERRUPT_STATUS);
    put_hex_field("status", hq_read(q, VIRTIO_MMIO_STATUS));
    put_hex_field("isr", isr);
    serial_putc('\n');
    hq_write(q, VIRTIO_MMIO_INTERRUPT_ACK, isr);
}

static void wait_and_report(struct hq *q)
{
    uint32_t id = 0, len = 0;
    switch (hq_wait(q, &id, &len)) {
    case HQ_NEEDS_RESET:
        report(q, "needs_reset");
        return;
    case HQ_NONE:
        report(q, "none");
        return;
    case HQ_USED:
        break;
    }
    serial_puts("RESULT used id ");
    serial_put_dec(id);
    serial_puts(" len ");
    serial_put_dec(len);
    serial_puts(" ");
    uint32_t isr = hq_read(q, VIRTIO_MMIO_INTERRUPT_STATUS);
    if (attacked_kind == BLK) {
        serial_puts("blk ");
        serial_put_hex(attacked_buf.status);
        serial_putc(' ');
    }
    serial_puts("status ");
    serial_put_hex(hq_read(q, VIRTIO_MMIO_STATUS));
    serial_puts(" isr ");
    serial_put_hex(isr);
    serial_putc('\n');
    hq_write(q, VIRTIO_MMIO_INTERRUPT_ACK, isr);
}

/* Starts the attacked device afresh; an attack that cannot even start says so. */
static int start_attacked(void)
{
    attacked_buf.status = 0xff; /* so a blk status the device never wrote shows as 0xff */
    attacked.size = SMALL_QUEUE;
    const char *why = hq_start(&attacked, wanted());
    if (why) {
        serial_puts("RESULT start_failed ");
        serial_puts(why);
        serial_putc('\n');
        return 0;
    }
    return 1;
}

/* ---- attacks on descriptor chains ---- */

static void chain_attack(uint64_t addr, uint32_t len, uint16_t flags)
{
    if (!start_attacked())
        return;
    build_bad(&attacked, addr, len, flags);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

static void a_loop(void)
{
    if (!start_attacked())
        return;
    uint16_t w = attacked_kind == RNG ? VIRTQ_DESC_F_WRITE : 0;
    set_desc(&attacked.desc[0], (uintptr_t)attacked_buf.out, 16, (uint16_t)(VIRTQ_DESC_F_NEXT | w), 1);
    set_desc(&attacked.desc[1], (uintptr_t)attacked_buf.out, 16, (uint16_t)(VIRTQ_DESC_F_NEXT | w), 0);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

static void a_selfloop(void)
{
    if (!start_attacked())
        return;
    uint16_t w = attacked_kind == RNG ? VIRTQ_DESC_F_WRITE : 0;
    set_desc(&attacked.desc[0], (uintptr_t)attacked_buf.out, 16, (uint16_t)(VIRTQ_DESC_F_NEXT | w), 0);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

static void a_next_oob(void)
{
    if (!start_attacked())
        return;
    uint16_t w = attacked_kind == RNG ? VIRTQ_DESC_F_WRITE : 0;
    set_desc(&attacked.desc[0], (uintptr_t)attacked_buf.out, 16, (uint16_t)(VIRTQ_DESC_F_NEXT | w), 0xffff);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

static void a_head_oob(void)
{
    if (!start_attacked())
        return;
    build_healthy(&attacked, attacked_kind, &attacked_buf);
    hq_publish(&attacked, 0xfffe);
    wait_and_report(&attacked);
}

static void a_beyond_ram(void) { chain_attack(BEYOND_RAM, 512, 0); }
static void a_mmio_hole(void) { chain_attack(MMIO_HOLE, 512, 0); }
static void a_wrap(void) { chain_attack(0xfffffffffffffe00ULL, 0x400, 0); }
static void a_straddle(void) { chain_attack((ram_mib << 20) - 256, 512, 0); }
static void a_huge_len(void) { chain_attack((uintptr_t)attacked_buf.in, 0xffffffffU, 0); }
static void a_zero_len(void) { chain_attack((uintptr_t)attacked_buf.in, 0, 0); }

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

static void a_indirect_nested(void)
{
    memset(indirect, 0, sizeof indirect);
    set_desc(&indirect[0][0], (uintptr_t)indirect[1], 16, VIRTQ_DESC_F_INDIRECT, 0);
    valid_table_entry(&indirect[1][0], 0, 0);
    indirect_attack((uintptr_t)indirect[0], 16, 0);
}

static void a_indirect_badlen(void)
{
    memset(indirect, 0, sizeof indirect);
    valid_table_entry(&indirect[0][0], 0, 0);
    indirect_attack((uintptr_t)indirect[0], 17, 0);
}

static void a_indirect_zero(void)
{
    memset(indirect, 0, sizeof indirect);
    indirect_attack((uintptr_t)indirect[0], 0, 0);
}

static void a_indirect_huge(void)
{
    memset(indirect, 0, sizeof indirect);
    valid_table_entry(&indirect[0][0], 0, 0);
    indirect_attack((uintptr_t)indirect[0], 0xfffffff0U, 0);
}

static void a_indirect_loop(void)
{
    memset(indirect, 0, sizeof indirect);
    valid_table_entry(&indirect[0][0], VIRTQ_DESC_F_NEXT, 1);
    valid_table_entry(&indirect[0][1], VIRTQ_DESC_F_NEXT, 0);
    indirect_attack((uintptr_t)indirect[0], 32, 0);
}

static void a_indirect_next_oob(void)
{
    memset(indirect, 0, sizeof indirect);
    valid_table_entry(&indirect[0][0], VIRTQ_DESC_F_NEXT, 5);
    indirect_attack((uintptr_t)indirect[0], 32, 0);
}

static void a_indirect_beyond_ram(void) { indirect_attack(BEYOND_RAM, 64, 0); }

static void a_indirect_and_next(void)
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

static void a_avail_jump(void) { avail_attack(SMALL_QUEUE + 1000); }
static void a_avail_max(void) { avail_attack(0xffff); }
/* The same head in every slot: one chain in flight SMALL_QUEUE times. */
static void a_same_head(void) { avail_attack(SMALL_QUEUE); }

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

static void a_rings_beyond_ram(void)
{
    rings_attack(BEYOND_RAM, (uintptr_t)&attacked_avail, (uintptr_t)&attacked_used);
}

static void a_rings_wrap(void)
{
    rings_attack((uintptr_t)attacked_desc, 0xfffffffffffff000ULL, (uintptr_t)&attacked_used);
}

static void a_rings_mmio(void)
{
    rings_attack((uintptr_t)attacked_desc, (uintptr_t)&attacked_avail, MMIO_HOLE);
}

static void a_rings_straddle(void)
{
    rings_attack((uintptr_t)attacked_desc, (uintptr_t)&attacked_avail, (ram_mib << 20) - 16);
}

static void a_rings_overlap(void)
{
    memset(overlap_page, 0, sizeof overlap_page);
    uintptr_t page = (uintptr_t)overlap_page;
    rings_attack(page, page, page);
}

static void a_rings_misaligned(void)
{
    rings_attack((uintptr_t)attacked_desc + 1, (uintptr_t)&attacked_avail + 1, (uintptr_t)&attacked_used + 2);
}

/* QueueNum zero, not a power of two, above QueueNumMax, 2^16 and 2^32-1: each must be
 * refused (4.2.2), leaving a size the rings below hold, and a request must still work. */
static void a_qsize_bad(void)
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

/* ---- attacks on the register window ---- */

static void mmio_read(uintptr_t addr, unsigned width)
{
    switch (width) {
    case 1: (void)*(volatile uint8_t *)addr; break;
    case 2: (void)*(volatile uint16_t *)addr; break;
    case 4: (void)*(volatile uint32_t *)addr; break;
    default: (void)*(volatile uint64_t *)addr; break;
    }
}

static void mmio_write(uintptr_t addr, unsigned width, uint64_t value)
{
    switch (width) {
    case 1: *(volatile uint8_t *)addr = (uint8_t)value; break;
    case 2: *(volatile uint16_t *)addr = (uint16_t)value; break;
    case 4: *(volatile uint32_t *)addr = (uint32_t)value; break;
    default: *(volatile uint64_t *)addr = value; break;
    }
}

#define STATES 6

/* Puts the attacked device in state n: reset, ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK,
 * DEVICE_NEEDS_RESET (after a head index beyond the queue). */
static void enter_state(unsigned n)
{
    hq_write(&attacked, VIRTIO_MMIO_STATUS, 0);
    if (n >= 1)
        hq_write(&attacked, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    if (n == 2)
        hq_write(&attacked, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    if (n == 3)
        (void)hq_negotiate(&attacked, wanted());
    if (n >= 4) {
        attacked.size = SMALL_QUEUE;
        (void)hq_start(&attacked, wanted());
    }
    if (n == 5) {
        uint32_t id, len;
        hq_publish(&attacked, 0xfffe);
        (void)hq_wait(&attacked, &id, &len);
    }
}

/* Every register offset (0x000..0x0ff) read and written at widths 1, 2, 4 and 8 in every
 * device state (entered afresh for each 4-byte register, as a write may leave it); written all
 * ones in even states and zero in odd ones (zero is a reset, queue 0's notification, a zero
 * ring address...). */
static void a_registers(void)
{
    static const unsigned widths[] = { 1, 2, 4, 8 };
    uint64_t accesses = 0;
    for (unsigned reg = 0; reg < 0x100; reg += 4) {
        for (unsigned state = 0; state < STATES; state++) {
            enter_state(state);
            uint64_t value = state % 2 ? 0 : ~0ULL;
            for (unsigned offset = reg; offset < reg + 4; offset++)
                for (unsigned w = 0; w < 4; w++) {
                    if (offset + widths[w] > 0x100)
                        continue;
                    mmio_read(attacked.base + offset, widths[w]);
                    mmio_write(attacked.base + offset, widths[w], value);
                    accesses += 2;
                }
        }
    }
    put_line_dec("ACCESSES", accesses);
    report(&attacked, "registers");
}

/* Config space read and then written all ones at every width, on a live device: at every
 * offset of its first 256 bytes (more than any of Kiln's devices has) and every 64th offset
 * from there to the end of the window. */
static void a_config(void)
{
    if (!start_attacked())
        return;
    static const unsigned widths[] = { 1, 2, 4, 8 };
    uint64_t accesses = 0;
    for (unsigned offset = VIRTIO_MMIO_CONFIG; offset < 0x1000; offset += offset < 0x200 ? 1 : 61)
        for (unsigned w = 0; w < 4; w++) {
            if (offset + widths[w] > 0x1000)
                continue;
            mmio_read(attacked.base + offset, widths[w]);
            mmio_write(attacked.base + offset, widths[w], ~0ULL);
            accesses += 2;
        }
    put_line_dec("ACCESSES", accesses);
    report(&attacked, "config");
}

/* ---- notification storms ---- */

static void storm_line(uint64_t notifies, uint64_t cycles)
{
    serial_puts("STORM notifies ");
    serial_put_dec(notifies);
    serial_puts(" cycles ");
    serial_put_dec(cycles);
    serial_putc('\n');
}

/* `storm` QueueNotify writes (the ioeventfd path) on a live queue with nothing available,
 * then one request, which must be answered. */
static void a_notify_storm(void)
{
    if (!start_attacked())
        return;
    uint64_t t0 = rdtsc();
    for (uint64_t i = 0; i < storm; i++)
        hq_notify(&attacked);
    storm_line(storm, rdtsc() - t0);
    build_healthy(&attacked, attacked_kind, &attacked_buf);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

/* Notifications naming queues the device does not have (no ioeventfd matches: each one is an
 * MMIO exit to the VMM, 30 us to 0.7 ms here depending on the machine's load). */
#define BAD_QUEUE_NOTIFIES 2000
static void a_notify_bad_queue(void)
{
    if (!start_attacked())
        return;
    uint64_t t0 = rdtsc();
    for (unsigned i = 0; i < BAD_QUEUE_NOTIFIES; i++)
        hq_write(&attacked, VIRTIO_MMIO_QUEUE_NOTIFY, i % 2 ? 0xffffffffU : attacked.queues + i % 100);
    storm_line(BAD_QUEUE_NOTIFIES, rdtsc() - t0);
    build_healthy(&attacked, attacked_kind, &attacked_buf);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

/* A storm at a device that needs reset: nothing may be processed, nothing may spin, and the
 * device still needs reset afterwards. */
static void a_storm_needs_reset(void)
{
    enter_state(5);
    uint64_t count = storm / 4, t0 = rdtsc();
    for (uint64_t i = 0; i < count; i++)
        hq_notify(&attacked);
    storm_line(count, rdtsc() - t0);
    report(&attacked, "storm_done");
}

/* Requests published and the device reset at once, over and over: reset must wait for or
 * stop the processing, never leave it writing into a queue that is gone. */
static void a_reset_race(void)
{
    for (unsigned i = 0; i < 300; i++) {
        if (!start_attacked())
            return;
        build_healthy(&attacked, attacked_kind, &attacked_buf);
        hq_publish(&attacked, 0);
        hq_write(&attacked, VIRTIO_MMIO_STATUS, 0);
    }
    report(&attacked, "reset_race");
}

/* ---- driver loop ---- */

struct attack {
    const char *name;
    void (*run)(void);
};

static const struct attack attacks[] = {
    { "loop", a_loop },
    { "selfloop", a_selfloop },
    { "next_oob", a_next_oob },
    { "head_oob", a_head_oob },
    { "beyond_ram", a_beyond_ram },
    { "mmio_hole", a_mmio_hole },
    { "wrap", a_wrap },
    { "straddle", a_straddle },
    { "huge_len", a_huge_len },
    { "zero_len", a_zero_len },
    { "indirect_nested", a_indirect_nested },
    { "indirect_badlen", a_indirect_badlen },
    { "indirect_zero", a_indirect_zero },
    { "indirect_huge", a_indirect_huge },
    { "indirect_loop", a_indirect_loop },
    { "indirect_next_oob", a_indirect_next_oob },
    { "indirect_beyond_ram", a_indirect_beyond_ram },
    { "indirect_and_next", a_indirect_and_next },
    { "avail_jump", a_avail_jump },
    { "avail_max", a_avail_max },
    { "same_head", a_same_head },
    { "rings_beyond_ram", a_rings_beyond_ram },
    { "rings_wrap", a_rings_wrap },
    { "rings_mmio", a_rings_mmio },
    { "rings_straddle", a_rings_straddle },
    { "rings_overlap", a_rings_overlap },
    { "rings_misaligned", a_rings_misaligned },
    { "qsize_bad", a_qsize_bad },
    { "registers", a_registers },
    { "config", a_config },
    { "notify_storm", a_notify_storm },
    { "notify_bad_queue", a_notify_bad_queue },
    { "storm_needs_reset", a_storm_needs_reset },
    { "reset_race", a_reset_race },
};

static void recover(void)
{
    attacked.size = SMALL_QUEUE;
    const char *why = hq_start(&attacked, wanted());
    if (!why)
        why = healthy_request(&attacked, attacked_kind, &attacked_buf);
    serial_puts(why ? "RECOVER fail " : "RECOVER ok");
    if (why)
        serial_puts(why);
    serial_putc('\n');
}

static void check_other(void)
{
    const char *why = healthy_request(&other, other_kind, &other_buf);
    serial_puts(why ? "OTHER fail " : "OTHER ok");
    if (why)
        serial_puts(why);
    serial_putc('\n');
}

static void put_device(const char *key, const char *name, uintptr_t base)
{
    serial_puts(key);
    serial_putc(' ');
    serial_puts(name);
    serial_puts(" base ");
    serial_put_hex(base);
}

__attribute__((noreturn)) static void fail(const char *why)
{
    serial_puts("HOSTILE ");
    serial_puts(why);
    serial_putc('\n');
    reset();
}

__attribute__((noreturn)) static void user_main(void)
{
    if (!parse_options())
        fail("bad dev=");
    const struct device_kind *k = &kinds[attacked_kind];
    attacked.base = virtio_find(k->id, 0);
    if (!attacked.base)
        fail("attacked device missing");
    attacked.queue = k->queue;
    attacked.queues = k->queues;
    attacked.desc = attacked_desc;
    attacked.avail = &attacked_avail;
    attacked.used = &attacked_used;
    put_device("DEVICE", k->name, attacked.base);
    put_line_dec(" queue", attacked.queue);

    other_kind = attacked_kind == RNG ? BLK : RNG;
    other.base = virtio_find(kinds[other_kind].id, 0);
    if (!other.base)
        fail("other device missing");
    other.queue = 0;
    other.queues = 1;
    other.size = SMALL_QUEUE;
    other.desc = other_desc;
    other.avail = &other_avail;
    other.used = &other_used;
    put_device("OTHER_DEVICE", kinds[other_kind].name, other.base);
    serial_putc('\n');
    const char *why = hq_start(&other, VIRTIO_F_VERSION_1);
    if (why)
        fail(why);

    for (unsigned i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        if (only_attack && !word_is(only_attack, attacks[i].name))
            continue;
        serial_puts("ATTACK ");
        serial_puts(attacks[i].name);
        serial_putc('\n');
        attacks[i].run();
        recover();
        check_other();
    }
    serial_puts("SURVIVED\n");
    if (end_reset)
        reset();
    serial_puts("WAITING\n");
    for (;;)
        cpu_relax();
}

int main(void *boot_params)
{
    (void)boot_params;
    ring3_enter(user_main);
}
