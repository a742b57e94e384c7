/* counter.elf: counts for ever in ring 3, for the snapshot/restore tests. Each step n = 0, 1, 2...
 * prints
 *   "COUNT n XMM m"
 * where n lives in a general-purpose register and memory, and m only in xmm0 (added to with
 * paddq), so a restore that loses the SSE/XSAVE state prints an m that differs from n.
 *
 * Ring 0 (emulated instruction by instruction on our PVM /dev/kvm, which lacks SSE and xgetbv
 * there) only prepares the machine, as bench_blk.c does: CR4.OSFXSR, XSAVE with XCR0 = x87|SSE
 * when CPUID offers it, kvmclock (MSR_KVM_SYSTEM_TIME_NEW) on a page of its own, page tables
 * with U/S, a GDT with DPL3 segments and a TSS whose I/O bitmap opens the serial ports; it
 * prints "XSAVE on" (or "XSAVE off") and "KVMCLOCK 0x..." (the MSR read back) and leaves for
 * CPL 3 with interrupts off, which prints "CPL 3" and counts (natively, no SSE emulation needed).
 * Step n also writes n into the first word of page n % 8 of a 32 KiB buffer at 0x300000
 * (DIRTY_BASE), which the dirty-log tests look for. Never ends on its own. */
#include "runtime.h"

#define DIRTY_BASE 0x300000UL
#define DIRTY_PAGES 8
#define PVCLOCK_PAGE 0x2ff000UL
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_US 0x4ULL
#define PTE_PS 0x80ULL
#define SEL_UCODE 0x18
#define SEL_UDATA 0x20
#define SEL_TSS 0x28

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[512] __attribute__((aligned(4096)));
static uint64_t gdt[7] __attribute__((aligned(16)));

struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
    uint8_t iomap[1024 / 8 + 1]; /* ports 0..1023, then the required all-ones byte */
} __attribute__((packed));

static struct tss64 tss __attribute__((aligned(16)));
static uint8_t kernel_stack[4096] __attribute__((aligned(16)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));

struct __attribute__((packed)) gdt_pointer {
    uint16_t limit;
    uint64_t base;
};

static inline void wrmsr(uint32_t msr, uint64_t value)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return ((uint64_t)hi << 32) | lo;
}

/* ---- ring 3 ---- */

__attribute__((noreturn)) static void user_main(void)
{
    uint64_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    serial_puts("CPL ");
    serial_put_dec(cs & 3);
    serial_putc('\n');
    /* xmm0 = 0, xmm1 = 1 in the low quadword; nothing else here touches xmm registers
     * (the guests are built with -mgeneral-regs-only). */
    static const uint64_t one[2] __attribute__((aligned(16))) = {1, 0};
    __asm__ volatile("pxor %%xmm0, %%xmm0\n\tmovdqa %0, %%xmm1" : : "m"(one));
    for (uint64_t n = 0;; n++) {
        uint64_t m;
        __asm__ volatile("movq %%xmm0, %0\n\tpaddq %%xmm1, %%xmm0" : "=r"(m));
        *(volatile uint64_t *)(DIRTY_BASE + (n % DIRTY_PAGES) * 4096) = n;
        serial_puts("COUNT ");
        serial_put_dec(n);
        serial_puts(" XMM ");
        serial_put_dec(m);
        serial_putc('\n');
    }
}

/* ---- ring 0: prepare and leave ---- */

static void enable_sse_and_xsave(void)
{
    uint64_t cr4;
    uint32_t eax = 1, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "c"(0));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    cr4 |= (1UL << 9) | (1UL << 10);             /* OSFXSR, OSXMMEXCPT */
    int xsave = (ecx >> 26) & 1;
    if (xsave)
        cr4 |= 1UL << 18;                        /* OSXSAVE */
    __asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
    if (xsave)
        __asm__ volatile("xsetbv" : : "c"(0), "a"(3), "d"(0));
    serial_puts(xsave ? "XSAVE on\n" : "XSAVE off\n");
}

static uint64_t segment(uint64_t access, uint64_t flags)
{
    /* base 0, limit 0xfffff; access byte at bits 40..47, flags (G, D/B, L) at 52..55 */
    return 0xffffULL | (0xfULL << 48) | (access << 40) | (flags << 52);
}

int main(void *boot_params)
{
    (void)boot_params;
    enable_sse_and_xsave();
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, PVCLOCK_PAGE | 1);
    serial_puts("KVMCLOCK ");
    serial_put_hex(rdmsr(MSR_KVM_SYSTEM_TIME_NEW));
    serial_putc('\n');

    /* The first 1 GiB by 2 MiB pages, user-accessible: guest RAM of the tests is far smaller. */
    for (unsigned i = 0; i < 512; i++)
        pd[i] = ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_US | PTE_PS;
    pdpt[0] = (uintptr_t)pd | PTE_P | PTE_RW | PTE_US;
    pml4[0] = (uintptr_t)pdpt | PTE_P | PTE_RW | PTE_US;

    tss.rsp[0] = (uintptr_t)(kernel_stack + sizeof kernel_stack);
    tss.iomap_base = (uint16_t)__builtin_offsetof(struct tss64, iomap);
    memset(tss.iomap, 0xff, sizeof tss.iomap);
    tss.iomap[0x3f8 / 8] = 0x00;                          /* 0x3f8..0x3ff */

    uint64_t tss_base = (uintptr_t)&tss;
    uint64_t tss_limit = sizeof tss - 1;
    gdt[0] = 0;
    gdt[1] = segment(0x9a, 0xa); /* kernel code: P, DPL0, code; G, L */
    gdt[2] = segment(0x92, 0xc); /* kernel data */
    gdt[3] = segment(0xfa, 0xa); /* user code: DPL3 */
    gdt[4] = segment(0xf2, 0xc); /* user data: DPL3 */
    gdt[5] = (tss_limit & 0xffff) | ((tss_base & 0xffffff) << 16) | (0x89ULL << 40)
             | (((tss_limit >> 16) & 0xf) << 48) | (((tss_base >> 24) & 0xff) << 56);
    gdt[6] = tss_base >> 32;

    struct gdt_pointer gp = { sizeof gdt - 1, (uintptr_t)gdt };
    uint64_t user_rsp = (uintptr_t)(user_stack + sizeof user_stack) - 8; /* as if called */
    __asm__ volatile("lgdt %0\n\t"
                     "mov %1, %%cr3\n\t"
                     "mov %2, %%ax\n\t"
                     "ltr %%ax\n\t"
                     "mov %3, %%ax\n\t"
                     "mov %%ax, %%ds\n\t"
                     "mov %%ax, %%es\n\t"
                     "xor %%eax, %%eax\n\t"
                     "mov %%ax, %%fs\n\t"
                     "mov %%ax, %%gs\n\t"
                     "pushq %4\n\t"   /* SS */
                     "pushq %5\n\t"   /* RSP */
                     "pushq $0x2\n\t" /* RFLAGS: IF=0, IOPL=0 */
                     "pushq %6\n\t"   /* CS */
                     "pushq %7\n\t"   /* RIP */
                     "iretq"
                     :
                     : "m"(gp), "r"((uint64_t)(uintptr_t)pml4), "i"(SEL_TSS), "i"(SEL_UDATA | 3),
                       "i"((uint64_t)(SEL_UDATA | 3)), "r"(user_rsp), "i"((uint64_t)(SEL_UCODE | 3)),
                       "r"((uint64_t)(uintptr_t)user_main)
                     : "rax", "memory");
    __builtin_unreachable();
}
