/* Tiny runtime shared by Kiln's test guests: serial output/input, reset. See runtime.h. */
#include "runtime.h"

void serial_putc(char c)
{
    while (!(inb(SERIAL_LSR) & LSR_THR_EMPTY))
        cpu_relax();
    outb(SERIAL_BASE, (uint8_t)c);
}

void serial_puts(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

static const char hex_digits[] = "0123456789abcdef";

void serial_put_escaped(const char *s, size_t max_len)
{
    for (size_t i = 0; i < max_len && s[i]; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            serial_putc((char)c);
        } else {
            serial_putc('\\');
            serial_putc('x');
            serial_putc(hex_digits[c >> 4]);
            serial_putc(hex_digits[c & 15]);
        }
    }
}

void serial_put_hex(uint64_t value)
{
    char buf[16];
    int n = 0;
    do {
        buf[n++] = hex_digits[value & 15];
        value >>= 4;
    } while (value);
    serial_putc('0');
    serial_putc('x');
    while (n)
        serial_putc(buf[--n]);
}

void serial_put_dec(uint64_t value)
{
    char buf[20];
    int n = 0;
    do {
        buf[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        serial_putc(buf[--n]);
}

uint8_t serial_getc(void)
{
    /* Each LSR read is one exit to the VMM; keep the loop to a single in + test. */
    while (!(inb(SERIAL_LSR) & LSR_DATA_READY))
        ;
    return inb(SERIAL_BASE);
}

void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

void reset(void)
{
    outb(I8042_COMMAND, I8042_RESET);
    halt_forever();
}

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    while (n--)
        *d++ = (uint8_t)c;
    return dst;
}
