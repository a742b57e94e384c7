/* hostile.elf: a hostile virtio driver. Every attack runs in ring 3 (ring3.h), natively fast,
 * against one of Kiln's virtio devices; after each one the guest checks that the attacked
 * device works again after a reset and that another device works throughout. This file holds
 * the options, reporting and driver loop; hostile_requests.c builds requests, hostile_chains.c
 * and hostile_mmio.c hold the attacks, hostile_queue.c the ring-3 virtqueue driver.
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
 *   SURVIVED, then (end=wait) WAITING ready; after a byte on the serial port the attacked
 *   device is made to need reset, RESULT final ..., WAITING needs_reset; or (end=reset) the
 *   i8042 reset.
 * "status" is the device's status register after the attack (0x40 = DEVICE_NEEDS_RESET),
 * "isr" its InterruptStatus (acknowledged after printing). "none": no used buffer and no
 * NEEDS_RESET within the deadline (hostile_queue.c). "setup": the attack was on the queue
 * set-up itself and "status" tells whether DRIVER_OK was refused. Errors on the guest's side
 * before any attack print "HOSTILE <why>" and reset. */
#include "hostile.h"
#include "ring3.h"

#define BP_CMD_LINE_PTR 0x228

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

struct virtq_desc attacked_desc[HQ_MAX] __attribute__((aligned(4096)));
struct hq_avail attacked_avail __attribute__((aligned(4096)));
struct hq_used attacked_used __attribute__((aligned(4096)));
static struct virtq_desc other_desc[SMALL_QUEUE] __attribute__((aligned(4096)));
static struct hq_avail other_avail __attribute__((aligned(4096)));
static struct hq_used other_used __attribute__((aligned(4096)));
struct request_buffers attacked_buf __attribute__((aligned(64)));
static struct request_buffers other_buf __attribute__((aligned(64)));

struct hq attacked;
static struct hq other;
enum kind attacked_kind;
static enum kind other_kind;
uint64_t storm = 1000000, ram_mib = 64;
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

/* ---- reporting ---- */

static void report_rest(struct hq *q)
{
    if (attacked_kind == BLK) {
        serial_puts(" blk ");
        serial_put_hex(attacked_buf.status);
    }
    uint32_t isr = hq_read(q, VIRTIO_MMIO_INTERRUPT_STATUS);
    serial_puts(" status ");
    serial_put_hex(hq_read(q, VIRTIO_MMIO_STATUS));
    serial_puts(" isr ");
    serial_put_hex(isr);
    serial_putc('\n');
    hq_write(q, VIRTIO_MMIO_INTERRUPT_ACK, isr);
}

void report(struct hq *q, const char *what)
{
    serial_puts("RESULT ");
    serial_puts(what);
    report_rest(q);
}

void wait_and_report(struct hq *q)
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
    report_rest(q);
}

/* Starts the attacked device afresh; an attack that cannot even start says so. */
int start_attacked(void)
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
    serial_puts("WAITING ready\n");
    /* The host pauses the VM here, resumes it and sends a byte; then the attacked device is
     * left needing reset, the second state in which the host checks that nothing spins. */
    while (!(inb(SERIAL_LSR) & LSR_DATA_READY))
        cpu_relax();
    (void)inb(SERIAL_BASE);
    enter_needs_reset();
    report(&attacked, "final");
    serial_puts("WAITING needs_reset\n");
    for (;;)
        cpu_relax();
}

int main(void *boot_params)
{
    (void)boot_params;
    ring3_enter(user_main);
}
