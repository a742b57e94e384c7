/* halt.elf: prints "HALT" and executes cli; hlt with nothing that could wake it. With an
 * in-kernel irqchip KVM keeps the halted vCPU inside the kernel, so the VMM sees no exit:
 * this guest tests the VMM's run timeout / kill path. */
#include "runtime.h"

void main(void)
{
    serial_puts("HALT\n");
    halt_forever();
}
