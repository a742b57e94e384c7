/* hello.elf: writes the boot marker as its first instruction (start.S, BOOT_MARKER_FIRST), so a
 * benchmark can time VMM start -> first guest instruction; prints one line and resets.
 * Expected serial output: "hello from guest\n". */
#include "runtime.h"

void main(void)
{
    serial_puts("hello from guest\n");
}
