/* zeropage.elf: reports what the VMM put in boot_params (the Linux zero page, whose address
 * arrives in %rsi) so a host test can assert it line by line. Output, in this order:
 *   BOOTPARAMS <address of boot_params>
 *   BOOTFLAG ok | BOOTFLAG bad <value>       boot_flag 0xaa55 at 0x1fe
 *   HDRS ok | HDRS bad <value>               "HdrS" at 0x202
 *   LOADER <type_of_loader>                  (0x210)
 *   E820COUNT <n>                            (0x1e8, decimal; entries beyond 128 are not read)
 *   E820 <i> <addr> <size> <type>            one per entry, type in decimal
 *   CMDLINE <string>                         NUL-terminated at cmd_line_ptr (| ext << 32), at most
 *                                            64 KiB, bytes outside printable ASCII and '\' escaped
 *                                            as \xNN; "CMDLINE" alone when the pointer is 0
 *   INITRD <addr> <size>                     ramdisk_image/size (| ext << 32)
 *   INITRD_SUM <sum>                         sum of all initrd bytes as unsigned integers, mod 2^64
 *                                            ("INITRD_SUM unmapped" if not below 4 GiB)
 *   DONE
 * Summing runs at about 3 us per 8 bytes on emulated ring 0 here: keep test initrds small. */
#include "runtime.h"

typedef uint16_t __attribute__((may_alias, aligned(1))) u16_any;
typedef uint32_t __attribute__((may_alias, aligned(1))) u32_any;
typedef uint64_t __attribute__((may_alias, aligned(1))) u64_any;
typedef uint64_t __attribute__((may_alias)) u64_word;

#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_BOOT_FLAG 0x1fe
#define BP_HEADER 0x202
#define BP_TYPE_OF_LOADER 0x210
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define E820_ENTRY_SIZE 20
#define E820_MAX_ENTRIES 128
#define CMDLINE_MAX 0x10000
#define IDENTITY_MAPPED (4ULL << 30)

static uint64_t rd16(const uint8_t *bp, unsigned off) { return *(const u16_any *)(bp + off); }
static uint64_t rd32(const uint8_t *bp, unsigned off) { return *(const u32_any *)(bp + off); }
static uint64_t rd64(const uint8_t *bp, unsigned off) { return *(const u64_any *)(bp + off); }

static void put_line_hex(const char *key, uint64_t value)
{
    serial_puts(key);
    serial_put_hex(value);
    serial_putc('\n');
}

/* Byte sum, eight bytes per step: adds the even and odd bytes of each word into four 16-bit
 * lanes, folding the lanes every 128 words before they can overflow (128 * 2 * 255 < 65536). */
static uint64_t byte_sum(const uint8_t *p, uint64_t n)
{
    const uint64_t m = 0x00ff00ff00ff00ffULL;
    uint64_t total = 0;

    for (; n && ((uintptr_t)p & 7); n--)
        total += *p++;
    const u64_word *w = (const u64_word *)p;
    for (uint64_t words = n / 8; words;) {
        uint64_t chunk = words < 128 ? words : 128;
        uint64_t lanes = 0;
        words -= chunk;
        while (chunk--) {
            uint64_t v = *w++;
            lanes += (v & m) + ((v >> 8) & m);
        }
        lanes = (lanes & 0x0000ffff0000ffffULL) + ((lanes >> 16) & 0x0000ffff0000ffffULL);
        total += (lanes & 0xffffffffULL) + (lanes >> 32);
    }
    p = (const uint8_t *)w;
    for (n &= 7; n; n--)
        total += *p++;
    return total;
}

void main(const uint8_t *bp)
{
    put_line_hex("BOOTPARAMS ", (uintptr_t)bp);

    uint64_t flag = rd16(bp, BP_BOOT_FLAG);
    serial_puts("BOOTFLAG ");
    if (flag == 0xaa55)
        serial_puts("ok\n");
    else
        put_line_hex("bad ", flag);

    uint64_t hdr = rd32(bp, BP_HEADER);
    serial_puts("HDRS ");
    if (hdr == 0x53726448)
        serial_puts("ok\n");
    else
        put_line_hex("bad ", hdr);

    put_line_hex("LOADER ", bp[BP_TYPE_OF_LOADER]);

    unsigned count = bp[BP_E820_ENTRIES];
    serial_puts("E820COUNT ");
    serial_put_dec(count);
    serial_putc('\n');
    if (count > E820_MAX_ENTRIES)
        count = E820_MAX_ENTRIES;
    for (unsigned i = 0; i < count; i++) {
        unsigned off = BP_E820_TABLE + i * E820_ENTRY_SIZE;
        serial_puts("E820 ");
        serial_put_dec(i);
        serial_putc(' ');
        serial_put_hex(rd64(bp, off));
        serial_putc(' ');
        serial_put_hex(rd64(bp, off + 8));
        serial_putc(' ');
        serial_put_dec(rd32(bp, off + 16));
        serial_putc('\n');
    }

    uint64_t cmdline = rd32(bp, BP_CMD_LINE_PTR) | rd32(bp, BP_EXT_CMD_LINE_PTR) << 32;
    serial_puts("CMDLINE");
    if (cmdline && cmdline + CMDLINE_MAX <= IDENTITY_MAPPED) {
        serial_putc(' ');
        serial_put_escaped((const char *)cmdline, CMDLINE_MAX);
    }
    serial_putc('\n');

    uint64_t initrd = rd32(bp, BP_RAMDISK_IMAGE) | rd32(bp, BP_EXT_RAMDISK_IMAGE) << 32;
    uint64_t initrd_size = rd32(bp, BP_RAMDISK_SIZE) | rd32(bp, BP_EXT_RAMDISK_SIZE) << 32;
    serial_puts("INITRD ");
    serial_put_hex(initrd);
    serial_putc(' ');
    serial_put_hex(initrd_size);
    serial_puts("\nINITRD_SUM ");
    if (initrd <= IDENTITY_MAPPED && initrd_size <= IDENTITY_MAPPED - initrd)
        serial_put_hex(byte_sum((const uint8_t *)initrd, initrd_size));
    else
        serial_puts("unmapped");
    serial_puts("\nDONE\n");
}
