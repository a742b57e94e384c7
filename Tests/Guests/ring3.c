/* Ring 3 for the test guests. See ring3.h. */
#include "ring3.h"

#define PTE_P 1UL
#define PTE_RW 2UL
#define PTE_US 4UL
#define PTE_PS 0x80UL

#define SEL_UCODE 0x18
#define SEL_UDATA 0x20
#define SEL_TSS 0x28

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[4][512] __attribute__((aligned(4096)));
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
static uint8_t user_stack[16384] __attribute__((aligned(16)));

struct __attribute__((packed)) gdt_pointer {
    uint16_t limit;
    uint64_t base;
};

static uint64_t segment(uint64_t access, uint64_t flags)
{
    /* base 0, limit 0xfffff; access byte at bits 40..47, flags (G, D/B, L) at 52..55 */
    return 0xffffULL | (0xfULL << 48) | (access << 40) | (flags << 52);
}

void ring3_enter(void (*user_main)(void))
{
    for (unsigned i = 0; i < 4 * 512; i++)
        pd[i / 512][i % 512] = ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_US | PTE_PS;
    for (unsigned i = 0; i < 4; i++)
        pdpt[i] = (uintptr_t)pd[i] | PTE_P | PTE_RW | PTE_US;
    pml4[0] = (uintptr_t)pdpt | PTE_P | PTE_RW | PTE_US;

    tss.rsp[0] = (uintptr_t)(kernel_stack + sizeof kernel_stack);
    tss.iomap_base = (uint16_t)__builtin_offsetof(struct tss64, iomap);
    memset(tss.iomap, 0xff, sizeof tss.iomap);
    tss.iomap[0x3f8 / 8] = 0x00;                          /* 0x3f8..0x3ff */
    tss.iomap[I8042_COMMAND / 8] &= (uint8_t)~(1u << (I8042_COMMAND % 8));

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
