/* Tiny runtime shared by Kiln's freestanding test guests.
 *
 * The machine contract (Sources/X86Boot/Layout.swift): entered in 64-bit mode at CPL0 with the
 * first 4 GiB identity-mapped, rsp = 0x8ff0, rsi = 0x7000 (boot_params), interrupts off.
 * Ring-0 code is emulated on our PVM /dev/kvm (~1.6 M instructions/s) and every port or MMIO
 * access the VMM handles is an exit (~10 us), so everything here is deliberately minimal.
 *
 * Output convention: one fact per line, "KEY value...", hex values as 0x-prefixed lowercase
 * without leading zeros, counts and indices in decimal. */
#ifndef KILN_GUEST_RUNTIME_H
#define KILN_GUEST_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#define SERIAL_BASE 0x3f8
#define SERIAL_LSR (SERIAL_BASE + 5)
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define I8042_COMMAND 0x64
#define I8042_RESET 0xfe
#define BOOT_MARKER_ADDR 0xd0000000UL
#define ZERO_PAGE_ADDR 0x7000UL
#define LAPIC_ADDR 0xfee00000UL

static inline void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static inline uint8_t mmio_read8(uintptr_t addr) { return *(volatile uint8_t *)addr; }
static inline uint32_t mmio_read32(uintptr_t addr) { return *(volatile uint32_t *)addr; }
static inline uint64_t mmio_read64(uintptr_t addr) { return *(volatile uint64_t *)addr; }
static inline void mmio_write8(uintptr_t addr, uint8_t v) { *(volatile uint8_t *)addr = v; }
static inline void mmio_write32(uintptr_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

void serial_putc(char c);
void serial_puts(const char *s);
/* Prints bytes, escaping anything outside printable ASCII (and '\\') as \xNN. */
void serial_put_escaped(const char *s, size_t max_len);
void serial_put_hex(uint64_t value);
void serial_put_dec(uint64_t value);
/* Blocks (polling LSR) until a byte arrives. */
uint8_t serial_getc(void);

/* Resets through the i8042 (ends the VMM with exit code 0); halts forever if that fails. */
__attribute__((noreturn)) void reset(void);
__attribute__((noreturn)) void halt_forever(void);

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

#endif
