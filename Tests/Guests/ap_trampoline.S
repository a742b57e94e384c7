/* Real-mode entry for application processors, the Linux way (cf. trampoline_64.S). smp.c copies
 * [ap_trampoline_start, ap_trampoline_end) to AP_TRAMPOLINE_BASE (a free page below 1 MiB; the
 * SIPI vector is its page number), fills in cr3/stack/entry, and sends INIT + SIPI. The AP starts
 * at CS = base >> 4, IP = 0 in 16-bit real mode, then goes 16 -> 32 -> 64-bit through its own
 * small GDT (Kiln's GDT at 0x500 has no 32-bit code segment) and jumps to ap_entry64 in C. */
#include "smp.h"

#define TRAMP_OFF(sym) ((sym) - ap_trampoline_start)
#define TRAMP_ADDR(sym) (TRAMP_OFF(sym) + AP_TRAMPOLINE_BASE)

    .section .data.ap_trampoline, "aw"
    .balign 16
    .globl ap_trampoline_start, ap_trampoline_end
    .globl ap_trampoline_cr3, ap_trampoline_stack, ap_trampoline_entry

    .code16
ap_trampoline_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lgdtl TRAMP_OFF(tramp_gdt_desc)        /* ds-relative: ds base == trampoline base */
    movl %cr0, %eax
    orl $1, %eax                            /* PE */
    movl %eax, %cr0
    ljmpl $TRAMP_CODE32, $TRAMP_ADDR(tramp32)

    .code32
tramp32:
    movl $TRAMP_DATA, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %cr4, %eax
    orl $0x20, %eax                         /* PAE */
    movl %eax, %cr4
    movl TRAMP_ADDR(ap_trampoline_cr3), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx                  /* EFER */
    rdmsr
    orl $0x100, %eax                        /* LME */
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax                   /* PG: now in compatibility mode */
    movl %eax, %cr0
    ljmpl $TRAMP_CODE64, $TRAMP_ADDR(tramp64)

    .code64
tramp64:
    movq TRAMP_ADDR(ap_trampoline_stack), %rsp
    movq TRAMP_ADDR(ap_trampoline_entry), %rax
    jmp *%rax

    .balign 8
tramp_gdt:
    .quad 0
    .quad 0x00af9b000000ffff                /* 0x08: 64-bit code */
    .quad 0x00cf93000000ffff                /* 0x10: data, 4 GiB */
    .quad 0x00cf9b000000ffff                /* 0x18: 32-bit code, 4 GiB */
tramp_gdt_desc:
    .word 4 * 8 - 1
    .long TRAMP_ADDR(tramp_gdt)
    .balign 8
ap_trampoline_cr3:
    .quad 0
ap_trampoline_stack:
    .quad 0
ap_trampoline_entry:
    .quad 0
ap_trampoline_end:
