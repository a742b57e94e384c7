/* keyboard.elf: a stand-in for Linux's atkbd driver, for SendCtrlAltDel. Prints "KEYBOARD",
 * then polls the i8042 (interrupts stay off: there is no IDT) and collects scan codes; on
 * Ctrl+Alt+Del (set 2: 14 11 E0 71) it prints "CTRL-ALT-DEL" and resets through the i8042,
 * as Linux's reboot=k does. Any other byte is printed as "KEY xx". */
#include "runtime.h"

#define I8042_DATA 0x60
#define I8042_STATUS 0x64
#define I8042_OUTPUT_FULL 0x01
#define I8042_PULSE_RESET 0xFE

static const uint8_t ctrl_alt_del[] = { 0x14, 0x11, 0xE0, 0x71 };

static void put_hex(uint8_t value)
{
    static const char digits[] = "0123456789abcdef";
    char text[] = { 'K', 'E', 'Y', ' ', digits[value >> 4], digits[value & 15], '\n', 0 };
    serial_puts(text);
}

void main(void)
{
    __asm__ volatile("cli");
    mmio_write8(BOOT_MARKER_ADDR, 123);
    serial_puts("KEYBOARD\n");
    unsigned matched = 0;
    for (;;) {
        /* Each status read is an exit: space them out so an idle guest costs little. */
        for (volatile int spin = 0; spin < 2000; spin++) cpu_relax();
        if (!(inb(I8042_STATUS) & I8042_OUTPUT_FULL)) continue;
        uint8_t code = inb(I8042_DATA);
        if (code == ctrl_alt_del[matched]) {
            matched++;
        } else {
            put_hex(code);
            matched = code == ctrl_alt_del[0] ? 1 : 0;
        }
        if (matched == sizeof(ctrl_alt_del)) {
            serial_puts("CTRL-ALT-DEL\n");
            outb(I8042_STATUS, I8042_PULSE_RESET);
        }
    }
}
