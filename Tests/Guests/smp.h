/* Shared between smp.c and ap_trampoline.S. */
#ifndef KILN_GUEST_SMP_H
#define KILN_GUEST_SMP_H

/* Free page below 1 MiB in Kiln's layout (0x500 GDT/IDT, 0x7000 zero page, 0x8000-0x8fff boot
 * stack, 0x9000-0xefff page tables); SIPI vector = 0x06. */
#define AP_TRAMPOLINE_BASE 0x6000
#define TRAMP_CODE64 0x08
#define TRAMP_DATA 0x10
#define TRAMP_CODE32 0x18

#endif
