/* vmgenid.elf: reads what a guest's vmgenid driver reads: the DSDT's VMGENCTR device and its
 * ADDR package, and the 16-byte generation ID there. Expected serial output:
 * "VGEN found\nADDR 0xff000\nID <hex> <hex>\n". Two boots print different IDs. */
#include "runtime.h"

static int matches(const uint8_t *at, const char *text)
{
    for (size_t i = 0; text[i]; i++)
        if (at[i] != (uint8_t)text[i]) return 0;
    return 1;
}

void main(void)
{
    /* The ACPI tables live in [0xE0000, 0xFF000); the DSDT's AML holds the _HID string and
     * the ADDR name followed by its package (PackageOp, length, count 2, DWordPrefix, value). */
    const uint8_t *area = (const uint8_t *)0xe0000;
    const size_t size = 0xff000 - 0xe0000;
    int found = 0;
    uint64_t addr = 0;
    for (size_t i = 0; i + 16 < size; i++) {
        if (matches(area + i, "VMGENCTR")) found = 1;
        if (matches(area + i, "ADDR") && area[i + 4] == 0x12 && area[i + 6] == 0x02 && area[i + 7] == 0x0c)
            addr = (uint64_t)area[i + 8] | (uint64_t)area[i + 9] << 8 | (uint64_t)area[i + 10] << 16
                   | (uint64_t)area[i + 11] << 24;
    }
    serial_puts(found ? "VGEN found\n" : "VGEN missing\n");
    serial_puts("ADDR ");
    serial_put_hex(addr);
    serial_puts("\n");
    if (addr) {
        serial_puts("ID ");
        serial_put_hex(mmio_read64(addr));
        serial_puts(" ");
        serial_put_hex(mmio_read64(addr + 8));
        serial_puts("\n");
    }
}
