/* mmio_unmapped.elf: accesses MMIO inside the gap where no device is mapped. Kiln's contract:
 * reads return all-ones and writes are dropped, and the VM keeps running.
 * Expected serial output:
 *   UNMAPPED 0xffffffff          32-bit read of 0xd0100000
 *   UNMAPPED8 0xff               8-bit read
 *   UNMAPPED64 0xffffffffffffffff
 *   REREAD 0xffffffff            32-bit read after writing 0x12345678 there
 *   ALIVE */
#include "runtime.h"

#define UNMAPPED_ADDR 0xd0100000UL

void main(void)
{
    serial_puts("UNMAPPED ");
    serial_put_hex(mmio_read32(UNMAPPED_ADDR));
    serial_puts("\nUNMAPPED8 ");
    serial_put_hex(mmio_read8(UNMAPPED_ADDR + 4));
    serial_puts("\nUNMAPPED64 ");
    serial_put_hex(mmio_read64(UNMAPPED_ADDR + 8));
    mmio_write32(UNMAPPED_ADDR, 0x12345678);
    serial_puts("\nREREAD ");
    serial_put_hex(mmio_read32(UNMAPPED_ADDR));
    serial_puts("\nALIVE\n");
}
