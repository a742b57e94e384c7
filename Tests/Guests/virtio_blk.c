/* virtio_blk.elf: drives a virtio-blk device from inside the VM (virtio.h) and reports what it
 * answers, so a host test can check both the guest's view and the disk image. The device is the
 * first block device, or the Nth (from 0) with "blk=N" on the command line. Output, in order:
 *   BLK id 2                         (or "BLK none" / "BLK init <reason>", then DONE)
 *   BASE <window address>
 *   CAPACITY <sectors>               config space, read under ConfigGeneration
 *   RO <0|1>                         VIRTIO_BLK_F_RO in the negotiated features
 *   SERIAL <id>                      GET_ID, escaped like zeropage's CMDLINE ("SERIAL STATUS n"
 *                                    when the request fails)
 *   READ0 <hex>                      first 16 bytes of sector 0 as 32 hex digits, no 0x
 *   READ0 STATUS <n>                 virtio-blk status byte: 0 OK, 1 IOERR, 2 UNSUPP
 *   READ0 used_len <n>               513 expected: 512 data bytes + the status byte
 *   ISR <hex>                        InterruptStatus after the read (0x1: used buffer), then ACKed
 *   WRITE1 STATUS <n>                sector 1 := "KILN-SECTOR-ONE!" x 32 (1 = IOERR when RO)
 *   FLUSH STATUS <n>                 only when not RO
 *   READ1 <hex>                      first 16 bytes of sector 1, read back
 *   READ1 STATUS <n>
 *   READPAST STATUS <n>              a read of sector CAPACITY (one past the end): 1 expected
 *   BADADDR used_len <n>             a chain whose header lies outside guest RAM (0xe0000000,
 *   BADADDR status <hex>             never RAM in Kiln's layout): used length 0, status byte
 *                                    left as the guest set it (0xff)
 *   AFTERBAD STATUS <n>              a normal read of sector 0 afterwards: the device still works
 *   DONE
 * A request that gets no answer in time prints "<KEY> TIMEOUT" (or "<KEY> BADUSED" when the used
 * element names another chain) and ends the run (no DONE). */
#include "virtio.h"

#define BLK_CONFIG_CAPACITY 0x100
#define VIRTIO_BLK_F_RO (1ULL << 5)
#define VIRTIO_BLK_F_FLUSH (1ULL << 9)
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_ID_BYTES 20
#define SECTOR_SIZE 512
#define BAD_ADDRESS 0xe0000000UL
#define STATUS_UNTOUCHED 0xff

#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_CMD_LINE_PTR 0x228

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct blk_header header __attribute__((aligned(16)));
static uint8_t data[SECTOR_SIZE] __attribute__((aligned(16)));
static volatile uint8_t status_byte;
static struct virtio_dev dev;

static const char pattern[] = "KILN-SECTOR-ONE!";

/* Sends one request and returns its used length, leaving the status byte in status_byte. A
 * request without a (well-formed) answer prints "<key> TIMEOUT" or "<key> BADUSED" and ends. */
static uint32_t blk_request(const char *key, uint32_t type, uint64_t sector, uint64_t header_addr, void *buffer,
                            uint32_t len, int device_writes)
{
    header.type = type;
    header.reserved = 0;
    header.sector = sector;
    status_byte = STATUS_UNTOUCHED;
    struct virtio_buf bufs[3];
    unsigned n = 0;
    bufs[n++] = (struct virtio_buf){ header_addr, sizeof header, 0 };
    if (len)
        bufs[n++] = (struct virtio_buf){ (uintptr_t)buffer, len, device_writes };
    bufs[n++] = (struct virtio_buf){ (uintptr_t)&status_byte, 1, 1 };
    uint32_t used = 0;
    int result = virtio_submit(&dev, bufs, n, &used);
    if (result != 0) {
        serial_puts(key);
        serial_puts(result == VIRTIO_TIMEOUT ? " TIMEOUT\n" : " BADUSED\n");
        reset();
    }
    return used;
}

static void put_status(const char *key)
{
    serial_puts(key);
    serial_puts(" STATUS ");
    serial_put_dec(status_byte);
    serial_putc('\n');
}

static uint64_t read_capacity(void)
{
    uint32_t generation, low, high;
    do {
        generation = virtio_read(&dev, VIRTIO_MMIO_CONFIG_GENERATION);
        low = virtio_read(&dev, BLK_CONFIG_CAPACITY);
        high = virtio_read(&dev, BLK_CONFIG_CAPACITY + 4);
    } while (generation != virtio_read(&dev, VIRTIO_MMIO_CONFIG_GENERATION));
    return (uint64_t)high << 32 | low;
}

/* N from a "blk=N" word of the kernel command line; 0 without one. */
static unsigned selected_index(const uint8_t *bp)
{
    uint64_t ptr = *(const uint32_t *)(bp + BP_CMD_LINE_PTR)
                   | (uint64_t)*(const uint32_t *)(bp + BP_EXT_CMD_LINE_PTR) << 32;
    if (!ptr || ptr >= (1ULL << 32))
        return 0;
    const char *s = (const char *)ptr;
    for (unsigned i = 0; s[i]; i++) {
        if ((i == 0 || s[i - 1] == ' ') && s[i] == 'b' && s[i + 1] == 'l' && s[i + 2] == 'k' && s[i + 3] == '=') {
            unsigned n = 0;
            for (i += 4; s[i] >= '0' && s[i] <= '9'; i++)
                n = n * 10 + (unsigned)(s[i] - '0');
            return n;
        }
    }
    return 0;
}

void main(const uint8_t *bp)
{
    uint32_t used;
    uintptr_t base = virtio_find(VIRTIO_ID_BLOCK, selected_index(bp));
    if (!base) {
        serial_puts("BLK none\nDONE\n");
        return;
    }
    const char *failure = virtio_init(&dev, base, VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_RO | VIRTIO_BLK_F_FLUSH);
    if (failure) {
        serial_puts("BLK init ");
        serial_puts(failure);
        serial_puts("\nDONE\n");
        return;
    }
    put_line_dec("BLK id", virtio_read(&dev, VIRTIO_MMIO_DEVICE_ID));
    serial_puts("BASE ");
    serial_put_hex(base);
    serial_putc('\n');
    uint64_t capacity = read_capacity();
    put_line_dec("CAPACITY", capacity);
    int read_only = (dev.features & VIRTIO_BLK_F_RO) != 0;
    put_line_dec("RO", (uint64_t)read_only);

    /* GET_ID: at most 20 bytes, NUL-padded when shorter. */
    char id[VIRTIO_BLK_ID_BYTES + 1];
    memset(id, 0, sizeof id);
    blk_request("SERIAL", VIRTIO_BLK_T_GET_ID, 0, (uintptr_t)&header, id, VIRTIO_BLK_ID_BYTES, 1);
    if (status_byte == 0) {
        serial_puts("SERIAL ");
        serial_put_escaped(id, VIRTIO_BLK_ID_BYTES);
        serial_putc('\n');
    } else {
        put_status("SERIAL");
    }

    memset(data, 0, sizeof data);
    used = blk_request("READ0", VIRTIO_BLK_T_IN, 0, (uintptr_t)&header, data, SECTOR_SIZE, 1);
    serial_puts("READ0 ");
    put_bytes_hex(data, 16);
    serial_putc('\n');
    put_status("READ0");
    put_line_dec("READ0 used_len", used);

    /* The device raises "used buffer" right after publishing used->idx: allow it a moment. */
    uint32_t isr = 0;
    for (unsigned i = 0; i < 1000 && !isr; i++)
        isr = virtio_read(&dev, VIRTIO_MMIO_INTERRUPT_STATUS);
    serial_puts("ISR ");
    serial_put_hex(isr);
    serial_putc('\n');
    virtio_write(&dev, VIRTIO_MMIO_INTERRUPT_ACK, isr);

    for (unsigned i = 0; i < SECTOR_SIZE; i++)
        data[i] = (uint8_t)pattern[i % 16];
    blk_request("WRITE1", VIRTIO_BLK_T_OUT, 1, (uintptr_t)&header, data, SECTOR_SIZE, 0);
    put_status("WRITE1");
    if (!read_only) {
        blk_request("FLUSH", VIRTIO_BLK_T_FLUSH, 0, (uintptr_t)&header, NULL, 0, 0);
        put_status("FLUSH");
    }

    memset(data, 0, sizeof data);
    blk_request("READ1", VIRTIO_BLK_T_IN, 1, (uintptr_t)&header, data, SECTOR_SIZE, 1);
    serial_puts("READ1 ");
    put_bytes_hex(data, 16);
    serial_putc('\n');
    put_status("READ1");

    blk_request("READPAST", VIRTIO_BLK_T_IN, capacity, (uintptr_t)&header, data, SECTOR_SIZE, 1);
    put_status("READPAST");

    used = blk_request("BADADDR", VIRTIO_BLK_T_IN, 0, BAD_ADDRESS, data, SECTOR_SIZE, 1);
    put_line_dec("BADADDR used_len", used);
    serial_puts("BADADDR status ");
    serial_put_hex(status_byte);
    serial_putc('\n');

    blk_request("AFTERBAD", VIRTIO_BLK_T_IN, 0, (uintptr_t)&header, data, SECTOR_SIZE, 1);
    put_status("AFTERBAD");
    serial_puts("DONE\n");
}
