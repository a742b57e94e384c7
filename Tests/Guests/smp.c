/* smp.elf: reads the MP table, then starts every other processor it lists with INIT + SIPI
 * through the local APIC and a real-mode trampoline (ap_trampoline.S). Output:
 *   MPCPUS <n>                     enabled processor entries in the MP table
 *   MPCPU <apic id> bsp|ap         one per entry
 *   AP <apic id> up                printed by each AP once it runs 64-bit C code
 *   SMP ok | SMP none | SMP timeout <apic id>
 * or "MPTABLE missing" / "MPTABLE bad" instead of MPCPUS when the table is absent or corrupt.
 * Each AP waits at most ~4e9 TSC cycles (1-4 s on current hosts).
 * With "count" on the kernel command line (the multi-vCPU snapshot test), after "SMP ok" every
 * processor counts for ever, each its own n = 0, 1, 2... kept in a register across the loop:
 *   CPU <apic id> COUNT <n>
 * one whole line at a time (a spinlock orders the processors' lines). */
#include "runtime.h"
#include "smp.h"

#define EBDA_START 0x9fc00UL
#define EBDA_END 0xa0000UL
#define MAX_CPUS 16
#define AP_STACK_SIZE 2048
#define AP_WAIT_CYCLES 4000000000ULL

#define LAPIC_ID 0x020
#define LAPIC_SVR 0x0f0
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define ICR_INIT 0x00004500     /* delivery mode INIT, level assert */
#define ICR_STARTUP 0x00004600  /* delivery mode start-up, vector in bits 0-7 */
#define ICR_BUSY 0x00001000

extern char ap_trampoline_start[], ap_trampoline_end[];
extern char ap_trampoline_cr3[], ap_trampoline_stack[], ap_trampoline_entry[];

static uint8_t ap_stacks[MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));
static volatile uint32_t aps_up;
static volatile uint32_t counting, all_up, print_lock;

#define BP_CMD_LINE_PTR 0x228
#define CMDLINE_MAX 256

/* Whether `word` is one of the kernel command line's space-separated words. */
static int cmdline_has(const char *word)
{
    const char *line = (const char *)(uintptr_t)*(const volatile uint32_t *)(ZERO_PAGE_ADDR + BP_CMD_LINE_PTR);
    if (!line)
        return 0;
    for (unsigned i = 0; i < CMDLINE_MAX && line[i];) {
        unsigned j = 0;
        while (word[j] && i + j < CMDLINE_MAX && line[i + j] == word[j])
            j++;
        if (!word[j] && (i + j == CMDLINE_MAX || line[i + j] == ' ' || line[i + j] == 0))
            return 1;
        while (i < CMDLINE_MAX && line[i] && line[i] != ' ')
            i++;
        while (i < CMDLINE_MAX && line[i] == ' ')
            i++;
    }
    return 0;
}

__attribute__((noreturn)) static void count_forever(uint32_t id)
{
    while (!all_up)
        cpu_relax();
    for (uint64_t n = 0;; n++) {
        while (__atomic_exchange_n(&print_lock, 1, __ATOMIC_ACQUIRE))
            cpu_relax();
        serial_puts("CPU ");
        serial_put_dec(id);
        serial_puts(" COUNT ");
        serial_put_dec(n);
        serial_putc('\n');
        __atomic_store_n(&print_lock, 0, __ATOMIC_RELEASE);
    }
}

static uint32_t lapic_read(unsigned reg) { return mmio_read32(LAPIC_ADDR + reg); }
static void lapic_write(unsigned reg, uint32_t v) { mmio_write32(LAPIC_ADDR + reg, v); }

static uint8_t checksum(const uint8_t *p, unsigned len)
{
    uint8_t sum = 0;
    while (len--)
        sum += *p++;
    return sum;
}

static const uint8_t *find_mp_config(void)
{
    for (uintptr_t a = EBDA_START; a + 16 <= EBDA_END; a += 16) {
        const uint8_t *f = (const uint8_t *)a;
        if (f[0] == '_' && f[1] == 'M' && f[2] == 'P' && f[3] == '_' && f[8] == 1 &&
            checksum(f, 16) == 0) {
            uint32_t config = *(const uint32_t *)(f + 4);
            return config ? (const uint8_t *)(uintptr_t)config : 0;
        }
    }
    return 0;
}

/* Runs on each AP once the trampoline reaches 64-bit mode. */
__attribute__((noreturn)) void ap_entry64(void)
{
    uint32_t id = lapic_read(LAPIC_ID) >> 24;
    serial_puts("AP ");
    serial_put_dec(id);
    serial_puts(" up\n");
    __atomic_add_fetch(&aps_up, 1, __ATOMIC_SEQ_CST);
    if (counting)
        count_forever(id);
    halt_forever();
}

static void send_ipi(uint32_t apic_id, uint32_t icr)
{
    lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
    lapic_write(LAPIC_ICR_LOW, icr);
    for (int i = 0; i < 1000 && (lapic_read(LAPIC_ICR_LOW) & ICR_BUSY); i++)
        cpu_relax();
}

static int start_ap(uint32_t apic_id, unsigned index)
{
    uint32_t before = aps_up;
    uint8_t *base = (uint8_t *)AP_TRAMPOLINE_BASE;
    uint64_t stack_top = (uintptr_t)&ap_stacks[index][AP_STACK_SIZE];
    *(uint64_t *)(base + (ap_trampoline_stack - ap_trampoline_start)) = stack_top;

    send_ipi(apic_id, ICR_INIT);
    for (int i = 0; i < 2; i++)
        send_ipi(apic_id, ICR_STARTUP | (AP_TRAMPOLINE_BASE >> 12));

    uint64_t start = rdtsc();
    while (aps_up == before) {
        if (rdtsc() - start > AP_WAIT_CYCLES)
            return 0;
        cpu_relax();
    }
    return 1;
}

void main(void)
{
    const uint8_t *mpc = find_mp_config();
    if (!mpc) {
        serial_puts("MPTABLE missing\n");
        return;
    }
    uint16_t length = *(const uint16_t *)(mpc + 4);
    if (mpc[0] != 'P' || mpc[1] != 'C' || mpc[2] != 'M' || mpc[3] != 'P' || length < 44 ||
        checksum(mpc, length) != 0) {
        serial_puts("MPTABLE bad\n");
        return;
    }

    uint32_t ids[MAX_CPUS];
    unsigned ncpus = 0, nentries = *(const uint16_t *)(mpc + 34);
    const uint8_t *e = mpc + 44, *end = mpc + length;
    for (unsigned i = 0; i < nentries && e < end; i++) {
        if (e[0] == 0) { /* processor: 20 bytes; flags bit 0 enabled, bit 1 bootstrap */
            if ((e[3] & 1) && ncpus < MAX_CPUS)
                ids[ncpus++] = e[1] | (uint32_t)(e[3] & 2) << 7; /* bit 8 marks the BSP */
            e += 20;
        } else {
            e += 8;
        }
    }
    serial_puts("MPCPUS ");
    serial_put_dec(ncpus);
    serial_putc('\n');
    for (unsigned i = 0; i < ncpus; i++) {
        serial_puts("MPCPU ");
        serial_put_dec(ids[i] & 0xff);
        serial_puts(ids[i] & 0x100 ? " bsp\n" : " ap\n");
    }
    if (ncpus < 2) {
        serial_puts("SMP none\n");
        return;
    }

    uint32_t self = lapic_read(LAPIC_ID) >> 24;
    counting = cmdline_has("count");
    lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | 0x100); /* software-enable our APIC */

    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    uint8_t *base = (uint8_t *)AP_TRAMPOLINE_BASE;
    memcpy(base, ap_trampoline_start, (size_t)(ap_trampoline_end - ap_trampoline_start));
    *(uint64_t *)(base + (ap_trampoline_cr3 - ap_trampoline_start)) = cr3;
    *(uint64_t *)(base + (ap_trampoline_entry - ap_trampoline_start)) = (uintptr_t)ap_entry64;

    for (unsigned i = 0; i < ncpus; i++) {
        uint32_t id = ids[i] & 0xff;
        if (id == self)
            continue;
        if (!start_ap(id, i)) {
            serial_puts("SMP timeout ");
            serial_put_dec(id);
            serial_putc('\n');
            return;
        }
    }
    serial_puts("SMP ok\n");
    if (counting) {
        all_up = 1;
        count_forever(self);
    }
}
