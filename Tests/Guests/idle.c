/* idle.elf: writes the boot marker, prints "IDLE", then waits in `sti; hlt` forever.
 * With interrupts enabled KVM keeps the vCPU halted inside the kernel, so the VM neither
 * exits nor counts as powered off: a steady state for measuring the VMM's memory. */
#include "runtime.h"

void main(void)
{
    mmio_write8(BOOT_MARKER_ADDR, 123);
    serial_puts("IDLE\n");
    for (;;) __asm__ volatile("sti; hlt");
}
