/* serial_echo.elf: prints "READY", reads one line from the serial port by polling LSR, prints
 * "GOT <line>" (non-printable bytes escaped as \xNN, '\r' dropped, at most 200 bytes kept) and
 * resets. Every LSR poll is an exit to the VMM, so the VMM should answer it cheaply. */
#include "runtime.h"

#define LINE_MAX 200

void main(void)
{
    char line[LINE_MAX + 1];
    size_t len = 0;

    serial_puts("READY\n");
    for (;;) {
        uint8_t c = serial_getc();
        if (c == '\n')
            break;
        if (c != '\r' && len < LINE_MAX)
            line[len++] = (char)c;
    }
    line[len] = 0;
    serial_puts("GOT ");
    serial_put_escaped(line, LINE_MAX);
    serial_putc('\n');
}
