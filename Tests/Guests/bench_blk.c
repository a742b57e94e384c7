/* bench_blk.elf: virtio-blk throughput benchmark whose driver loop runs in ring 3.
 *
 * On our PVM /dev/kvm ring-0 guest code is emulated (~1.6 M instructions/s) while ring-3 code
 * runs natively (Facts about our machines, DESIGN.md), so ring 0 only calls ring3_enter (ring3.h:
 * page tables with U/S, a GDT with DPL3 segments, a TSS opening the serial and i8042 ports),
 * and ring 3 sets up the device, runs the phases, prints and resets (port 0x64), all by itself.
 *
 * Driver: one split virtqueue of QSIZE (256) entries; request slot s owns descriptors 3s
 * (header), 3s+1 (data, one descriptor per request), 3s+2 (status); up to `qd` requests are in
 * flight; completions are polled on used->idx (Kiln completes on its device thread, notified by
 * ioeventfd), refilled slots are published together, with one QueueNotify per batch unless the
 * device has said it is processing the queue anyway (VIRTQ_USED_F_NO_NOTIFY); the avail
 * ring asks for no interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT), which a polling driver does not need.
 *
 * Command line (all optional, "key=value" separated by spaces):
 *   phases=LIST   subset of "sr,sw,rr,rw" (seq read, seq write, random read, random write),
 *                 default all four, in that order
 *   seq_mib=N     bytes per sequential phase in MiB (default: the whole disk, whole MiB); more
 *                 than the disk wraps around to sector 0
 *   rand_ops=N    requests per random phase (default 65536)
 *   qd_seq=N      1 MiB requests in flight (default 8, at most 32)
 *   qd_rand=N     4 KiB requests in flight (default 64, at most 85)
 *   seed=N        LCG seed for random sectors (default 1)
 *   flush=1       end each write phase with a FLUSH inside the timed region (default 0)
 *   cal=N         only calibrate: print CAL0 <tsc>, spin N million TSC cycles, print CAL1 <tsc>
 * Buffers live at 16 MiB..48 MiB of guest RAM: boot with --memory 64 or more.
 *
 * Output (one fact per line, decimal):
 *   BENCH ring3 cpl <n>                   (CS & 3 as seen from the driver loop: 3 expected)
 *   BLK capacity <sectors> size_max <bytes> seg_max <n> qsize <n>
 *   <PHASE> bytes <n> ops <n> cycles <tsc cycles> errors <n> qd <n>
 *                                         PHASE is SEQREAD, SEQWRITE, RANDREAD or RANDWRITE;
 *                                         cycles = rdtsc delta from first submit to last completion
 *   DONE
 * or "BLK none", "BLK init <reason>", "<PHASE> TIMEOUT" (a request unanswered for ~2^34 TSC
 * cycles), then the VM resets. Ring 3 has no clock but the TSC: the host calibrates it (cal=N). */
#include "ring3.h"
#include "virtio.h"

#define QSIZE 256
#define MAX_QD_SEQ 32
#define MAX_QD_RAND 85 /* 3 descriptors per request */
#define SEQ_LEN (1U << 20)
#define RAND_LEN 4096U
#define BUF_BASE (16UL << 20)
#define SECTOR_SIZE 512

#define VIRTIO_BLK_F_SIZE_MAX (1ULL << 1)
#define VIRTIO_BLK_F_SEG_MAX (1ULL << 2)
#define VIRTIO_BLK_F_FLUSH (1ULL << 9)
#define BLK_CONFIG_CAPACITY 0x100
#define BLK_CONFIG_SIZE_MAX 0x108
#define BLK_CONFIG_SEG_MAX 0x10c
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4

#define BP_CMD_LINE_PTR 0x228

/* ---- virtqueue (used only from ring 3) ---- */

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct virtq_desc desc[QSIZE] __attribute__((aligned(4096)));
static struct {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[QSIZE];
    uint16_t used_event;
} avail __attribute__((aligned(4096)));
static struct {
    uint16_t flags;
    uint16_t idx;
    struct {
        uint32_t id;
        uint32_t len;
    } ring[QSIZE];
    uint16_t avail_event;
} used __attribute__((aligned(4096)));

static struct blk_header headers[MAX_QD_RAND] __attribute__((aligned(16)));
static uint8_t statuses[MAX_QD_RAND];
static struct virtio_dev dev;
static uint16_t avail_idx, used_idx;
static uint64_t capacity; /* sectors */

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1
#define AVAIL ((volatile __typeof__(avail) *)&avail)
#define USED ((volatile __typeof__(used) *)&used)
#define DESC ((volatile struct virtq_desc *)desc)

static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

/* ---- command line ---- */

struct options {
    int phase[4];
    uint64_t seq_mib, rand_ops, qd_seq, qd_rand, seed, flush, cal;
};

static int prefix(const char *s, const char *p)
{
    while (*p)
        if (*s++ != *p++)
            return 0;
    return 1;
}

static uint64_t parse_dec(const char *s)
{
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

static void parse_options(struct options *o)
{
    o->phase[0] = o->phase[1] = o->phase[2] = o->phase[3] = 1;
    o->seq_mib = 0;
    o->rand_ops = 65536;
    o->qd_seq = 8;
    o->qd_rand = 64;
    o->seed = 1;
    o->flush = 0;
    o->cal = 0;
    uint32_t ptr = *(volatile uint32_t *)(ZERO_PAGE_ADDR + BP_CMD_LINE_PTR);
    if (!ptr)
        return;
    const char *s = (const char *)(uintptr_t)ptr;
    while (*s) {
        while (*s == ' ')
            s++;
        if (prefix(s, "phases=")) {
            s += 7;
            o->phase[0] = o->phase[1] = o->phase[2] = o->phase[3] = 0;
            while (*s && *s != ' ') {
                if (prefix(s, "sr")) o->phase[0] = 1;
                else if (prefix(s, "sw")) o->phase[1] = 1;
                else if (prefix(s, "rr")) o->phase[2] = 1;
                else if (prefix(s, "rw")) o->phase[3] = 1;
                while (*s && *s != ' ' && *s != ',')
                    s++;
                if (*s == ',')
                    s++;
            }
        } else if (prefix(s, "seq_mib=")) o->seq_mib = parse_dec(s + 8);
        else if (prefix(s, "rand_ops=")) o->rand_ops = parse_dec(s + 9);
        else if (prefix(s, "qd_seq=")) o->qd_seq = parse_dec(s + 7);
        else if (prefix(s, "qd_rand=")) o->qd_rand = parse_dec(s + 8);
        else if (prefix(s, "seed=")) o->seed = parse_dec(s + 5);
        else if (prefix(s, "flush=")) o->flush = parse_dec(s + 6);
        else if (prefix(s, "cal=")) o->cal = parse_dec(s + 4);
        while (*s && *s != ' ')
            s++;
    }
    if (o->qd_seq < 1) o->qd_seq = 1;
    if (o->qd_seq > MAX_QD_SEQ) o->qd_seq = MAX_QD_SEQ;
    if (o->qd_rand < 1) o->qd_rand = 1;
    if (o->qd_rand > MAX_QD_RAND) o->qd_rand = MAX_QD_RAND;
}

/* ---- device setup (ring 3) ---- */

static void write_address(unsigned low_reg, uintptr_t addr)
{
    virtio_write(&dev, low_reg, (uint32_t)addr);
    virtio_write(&dev, low_reg + 4, (uint32_t)((uint64_t)addr >> 32));
}

static const char *blk_init(uintptr_t base)
{
    dev.base = base;
    virtio_write(&dev, VIRTIO_MMIO_STATUS, 0);
    uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
    virtio_write(&dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    virtio_write(&dev, VIRTIO_MMIO_STATUS, status);
    virtio_write(&dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t offered = virtio_read(&dev, VIRTIO_MMIO_DEVICE_FEATURES);
    virtio_write(&dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    offered |= (uint64_t)virtio_read(&dev, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    if (!(offered & VIRTIO_F_VERSION_1))
        return "no VERSION_1";
    dev.features = offered & (VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_SIZE_MAX | VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH);
    virtio_write(&dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    virtio_write(&dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)dev.features);
    virtio_write(&dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    virtio_write(&dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(dev.features >> 32));
    status |= VIRTIO_STATUS_FEATURES_OK;
    virtio_write(&dev, VIRTIO_MMIO_STATUS, status);
    if (!(virtio_read(&dev, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
        return "features refused";

    virtio_write(&dev, VIRTIO_MMIO_QUEUE_SEL, 0);
    if (virtio_read(&dev, VIRTIO_MMIO_QUEUE_NUM_MAX) < QSIZE)
        return "queue too small";
    virtio_write(&dev, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
    write_address(VIRTIO_MMIO_QUEUE_DESC_LOW, (uintptr_t)desc);
    write_address(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uintptr_t)&avail);
    write_address(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uintptr_t)&used);
    /* The driver polls the used ring with interrupts off: it asks for no interrupts, as polling
     * drivers (SPDK's, DPDK's) do, so the device pays no irqfd write per batch either. */
    AVAIL->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    virtio_write(&dev, VIRTIO_MMIO_QUEUE_READY, 1);
    if (virtio_read(&dev, VIRTIO_MMIO_QUEUE_READY) != 1)
        return "queue not ready";
    status |= VIRTIO_STATUS_DRIVER_OK;
    virtio_write(&dev, VIRTIO_MMIO_STATUS, status);
    if (!(virtio_read(&dev, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK))
        return "driver ok refused";
    return NULL;
}

/* ---- the benchmark loop (ring 3) ---- */

struct phase {
    const char *name;
    int write;
    int random;
    uint32_t len;
    uint32_t qd;
    uint64_t ops;
};

static uint64_t lcg;
static uint64_t seq_sector;

static uint64_t next_sector(const struct phase *p)
{
    if (!p->random) {
        if (seq_sector + p->len / SECTOR_SIZE > capacity)
            seq_sector = 0; /* wrap: seq_mib may exceed the disk */
        uint64_t s = seq_sector;
        seq_sector += p->len / SECTOR_SIZE;
        return s;
    }
    uint64_t blocks = capacity / (p->len / SECTOR_SIZE);
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((lcg >> 33) % blocks) * (p->len / SECTOR_SIZE);
}

static void prepare(const struct phase *p, unsigned slot, uint32_t type, uint32_t len)
{
    headers[slot].type = type;
    headers[slot].reserved = 0;
    headers[slot].sector = type == VIRTIO_BLK_T_FLUSH ? 0 : next_sector(p);
    statuses[slot] = 0xff;
    unsigned d = slot * 3;
    DESC[d].addr = (uintptr_t)&headers[slot];
    DESC[d].len = sizeof headers[slot];
    DESC[d].flags = VIRTQ_DESC_F_NEXT;
    if (len) {
        DESC[d].next = (uint16_t)(d + 1);
        DESC[d + 1].addr = BUF_BASE + (uint64_t)slot * p->len;
        DESC[d + 1].len = len;
        DESC[d + 1].flags = (uint16_t)(VIRTQ_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0));
        DESC[d + 1].next = (uint16_t)(d + 2);
    } else {
        DESC[d].next = (uint16_t)(d + 2);
    }
    DESC[d + 2].addr = (uintptr_t)&statuses[slot];
    DESC[d + 2].len = 1;
    DESC[d + 2].flags = VIRTQ_DESC_F_WRITE;
    DESC[d + 2].next = 0;
    AVAIL->ring[avail_idx % QSIZE] = (uint16_t)d;
    avail_idx++;
}

static void publish(void)
{
    barrier();
    AVAIL->idx = avail_idx;
    /* As Linux's virtio_ring does: no kick while the device says it is processing the queue
     * anyway (VIRTQ_USED_F_NO_NOTIFY); the full fence orders the idx store before the flags
     * load, pairing with the device's fence between clearing the flag and re-reading idx. */
    __asm__ volatile("mfence" ::: "memory");
    if (!(USED->flags & VIRTQ_USED_F_NO_NOTIFY))
        virtio_write(&dev, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static void wait_used(const char *name)
{
    uint64_t start = rdtsc();
    while (USED->idx == used_idx) {
        cpu_relax();
        if (rdtsc() - start > (1ULL << 34)) {
            serial_puts(name);
            serial_puts(" TIMEOUT\n");
            reset();
        }
    }
    barrier();
}

static void run_phase(const struct phase *p, int flush)
{
    uint32_t type = p->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
    uint32_t expect = p->write ? 1 : p->len + 1;
    uint64_t submitted = 0, completed = 0, errors = 0;
    seq_sector = 0;

    uint64_t t0 = rdtsc();
    for (unsigned s = 0; s < p->qd && submitted < p->ops; s++, submitted++)
        prepare(p, s, type, p->len);
    publish();
    while (completed < p->ops) {
        wait_used(p->name);
        uint16_t end = USED->idx;
        barrier();
        int refilled = 0;
        while (used_idx != end) {
            uint32_t id = USED->ring[used_idx % QSIZE].id;
            uint32_t len = USED->ring[used_idx % QSIZE].len;
            used_idx++;
            unsigned slot = id / 3;
            if (id % 3 || slot >= p->qd || len != expect || statuses[slot] != 0)
                errors++;
            completed++;
            if (submitted < p->ops && slot < p->qd) {
                prepare(p, slot, type, p->len);
                submitted++;
                refilled = 1;
            }
        }
        if (refilled)
            publish();
    }
    if (flush && p->write) {
        prepare(p, 0, VIRTIO_BLK_T_FLUSH, 0);
        publish();
        wait_used(p->name);
        if (USED->ring[used_idx % QSIZE].len != 1 || statuses[0] != 0)
            errors++;
        used_idx++;
    }
    uint64_t t1 = rdtsc();

    serial_puts(p->name);
    serial_puts(" bytes ");
    serial_put_dec(p->ops * p->len);
    serial_puts(" ops ");
    serial_put_dec(p->ops);
    serial_puts(" cycles ");
    serial_put_dec(t1 - t0);
    serial_puts(" errors ");
    serial_put_dec(errors);
    serial_puts(" qd ");
    serial_put_dec(p->qd);
    serial_putc('\n');
}

static void fill(uint8_t *p, uint64_t n, uint64_t seed)
{
    uint64_t *q = (uint64_t *)p;
    for (uint64_t i = 0; i < n / 8; i++)
        q[i] = seed + i * 0x9e3779b97f4a7c15ULL;
}

__attribute__((noreturn)) static void user_main(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    put_line_dec("BENCH ring3 cpl", cs & 3);

    struct options o;
    parse_options(&o);
    if (o.cal) {
        uint64_t t0 = rdtsc();
        put_line_dec("CAL0", t0);
        while (rdtsc() - t0 < o.cal * 1000000ULL)
            cpu_relax();
        put_line_dec("CAL1", rdtsc());
        reset();
    }

    uintptr_t base = virtio_find(VIRTIO_ID_BLOCK, 0);
    if (!base) {
        serial_puts("BLK none\n");
        reset();
    }
    const char *why = blk_init(base);
    if (why) {
        serial_puts("BLK init ");
        serial_puts(why);
        serial_putc('\n');
        reset();
    }
    uint32_t generation;
    uint64_t size_max, seg_max;
    do {
        generation = virtio_read(&dev, VIRTIO_MMIO_CONFIG_GENERATION);
        capacity = virtio_read(&dev, BLK_CONFIG_CAPACITY)
                   | (uint64_t)virtio_read(&dev, BLK_CONFIG_CAPACITY + 4) << 32;
        size_max = virtio_read(&dev, BLK_CONFIG_SIZE_MAX);
        seg_max = virtio_read(&dev, BLK_CONFIG_SEG_MAX);
    } while (generation != virtio_read(&dev, VIRTIO_MMIO_CONFIG_GENERATION));
    serial_puts("BLK capacity ");
    serial_put_dec(capacity);
    serial_puts(" size_max ");
    serial_put_dec(size_max);
    serial_puts(" seg_max ");
    serial_put_dec(seg_max);
    serial_puts(" qsize ");
    serial_put_dec(QSIZE);
    serial_putc('\n');

    /* Touch every buffer once so that no phase pays for first-touch faults. */
    fill((uint8_t *)BUF_BASE, (uint64_t)MAX_QD_SEQ * SEQ_LEN, 0x4b494c4e);

    uint64_t disk_mib = capacity * SECTOR_SIZE / SEQ_LEN;
    uint64_t seq_ops = o.seq_mib ? o.seq_mib : disk_mib;
    lcg = o.seed;
    const struct phase phases[4] = {
        { "SEQREAD", 0, 0, SEQ_LEN, (uint32_t)o.qd_seq, seq_ops },
        { "SEQWRITE", 1, 0, SEQ_LEN, (uint32_t)o.qd_seq, seq_ops },
        { "RANDREAD", 0, 1, RAND_LEN, (uint32_t)o.qd_rand, o.rand_ops },
        { "RANDWRITE", 1, 1, RAND_LEN, (uint32_t)o.qd_rand, o.rand_ops },
    };
    for (int i = 0; i < 4; i++)
        if (o.phase[i] && phases[i].ops)
            run_phase(&phases[i], (int)o.flush);
    serial_puts("DONE\n");
    reset();
}

int main(void *boot_params)
{
    (void)boot_params;
    ring3_enter(user_main);
}
