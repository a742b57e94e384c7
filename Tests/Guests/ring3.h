/* Ring 3 for the test guests whose hot loops must run natively.
 *
 * On our PVM /dev/kvm ring-0 guest code is emulated (~1.6 M instructions/s) while ring-3 code
 * runs natively (Facts about our machines, DESIGN.md). ring3_enter builds what ring 3 needs
 * and leaves ring 0 for good:
 *   - page tables mapping the first 4 GiB identity by 2 MiB pages with U/S set (RAM and the
 *     virtio-mmio windows at 0xd0001000..);
 *   - a GDT: kernel code 0x08 / data 0x10 (as Kiln's), user code 0x18 / data 0x20 (DPL 3), a
 *     64-bit TSS at 0x28 whose I/O permission bitmap opens ports 0x3f8-0x3ff (serial) and 0x64
 *     (i8042 reset) to ring 3 (IOPL=3 is ignored here);
 *   - then iretq to CPL 3 with interrupts off, running user_main on its own stack.
 * There is no way back: on our PVM /dev/kvm an interrupt or exception raised in ring 3 (even
 * `int` through a DPL-3 gate of a valid IDT) does not go through the guest's IDT and ends the
 * VM with a triple fault (measured), so ring 3 cannot reach a `hlt`. */
#ifndef KILN_GUEST_RING3_H
#define KILN_GUEST_RING3_H

#include "runtime.h"

__attribute__((noreturn)) void ring3_enter(void (*user_main)(void));

#endif
