/* triple_fault.elf: prints "TRIPLE", loads an empty IDT and executes ud2. The #UD cannot be
 * delivered, nor the #DF that follows, so the CPU shuts down: the VMM should see
 * KVM_EXIT_SHUTDOWN and stop the VM. */
#include "runtime.h"

void main(void)
{
    static const struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } empty_idt = { 0, 0 };

    serial_puts("TRIPLE\n");
    __asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
}
