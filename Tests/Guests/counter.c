/* counter.elf: counts for ever in ring 3, for the snapshot/restore tests. Each step n = 0, 1, 2...
 * prints
 *   "COUNT n XMM m"
 * where n lives in a general-purpose register and memory, and m only in xmm0 (added to with
 * paddq), so a restore that loses the SSE/XSAVE state prints an m that differs from n.
 *
 * Ring 0 (emulated instruction by instruction on our PVM /dev/kvm, which lacks SSE and xgetbv
 * there) only prepares the machine: CR4.OSFXSR, XSAVE with XCR0 = x87|SSE when CPUID offers it,
 * kvmclock (MSR_KVM_SYSTEM_TIME_NEW) on a page of its own; it prints "XSAVE on" (or "XSAVE off")
 * and "KVMCLOCK 0x..." (the MSR read back) and leaves for CPL 3 through ring3_enter (ring3.c, as
 * bench_blk.c and hostile.c do), which prints "CPL 3" and counts (natively, no SSE emulation).
 * Step n also writes n into the first word of page n % 8 of a 32 KiB buffer at 0x300000
 * (DIRTY_BASE), which the dirty-log tests look for. Never ends on its own. */
#include "ring3.h"
#include "runtime.h"

#define DIRTY_BASE 0x300000UL
#define DIRTY_PAGES 8
#define PVCLOCK_PAGE 0x2ff000UL
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01

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

static void user_main(void)
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

int main(void *boot_params)
{
    (void)boot_params;
    enable_sse_and_xsave();
    wrmsr(MSR_KVM_SYSTEM_TIME_NEW, PVCLOCK_PAGE | 1);
    serial_puts("KVMCLOCK ");
    serial_put_hex(rdmsr(MSR_KVM_SYSTEM_TIME_NEW));
    serial_putc('\n');

    ring3_enter(user_main);
}
