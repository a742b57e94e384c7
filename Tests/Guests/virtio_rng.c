/* virtio_rng.elf: drives the first virtio-rng (entropy, device ID 4) from inside the VM.
 * Output, in order:
 *   NOV1 FEATURES_OK <0|1>    FEATURES_OK read back after offering no VERSION_1: 0 expected,
 *                             a modern-only device must refuse (then the driver resets it)
 *   RNG id 4                  (or "RNG none" / "RNG init <reason>", then DONE)
 *   BASE <window address>
 *   RNG len <n>               used length of a 64-byte device-writable request
 *   RNG len <n>               a second one into another buffer
 *   RNG differ <0|1>          1 when the two buffers differ and neither is all zero
 *   RNG devread len <n>       a device-readable buffer: nothing may be written, 0 expected
 *   DONE
 * A request that gets no answer in time prints "RNG TIMEOUT" and ends the run (no DONE). */
#include "virtio.h"

#define REQUEST_BYTES 64

static uint8_t first[REQUEST_BYTES] __attribute__((aligned(16)));
static uint8_t second[REQUEST_BYTES] __attribute__((aligned(16)));
static struct virtio_dev dev;

static uint32_t rng_request(uint8_t *buffer, int device_writes)
{
    struct virtio_buf buf = { (uintptr_t)buffer, REQUEST_BYTES, device_writes };
    uint32_t used = 0;
    int result = virtio_submit(&dev, &buf, 1, &used);
    if (result != 0) {
        serial_puts(result == VIRTIO_TIMEOUT ? "RNG TIMEOUT\n" : "RNG BADUSED\n");
        reset();
    }
    return used;
}

static int all_zero(const uint8_t *p)
{
    for (unsigned i = 0; i < REQUEST_BYTES; i++)
        if (p[i])
            return 0;
    return 1;
}

/* The driver MUST NOT accept features without VERSION_1 on a device that offers it, and Kiln
 * has no legacy interface: FEATURES_OK must not stick. */
static void check_legacy_refused(uintptr_t base)
{
    struct virtio_dev probe = { .base = base };
    virtio_write(&probe, VIRTIO_MMIO_STATUS, 0);
    virtio_write(&probe, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    virtio_write(&probe, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_write(&probe, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    virtio_write(&probe, VIRTIO_MMIO_DRIVER_FEATURES, 0);
    virtio_write(&probe, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    virtio_write(&probe, VIRTIO_MMIO_DRIVER_FEATURES, 0);
    virtio_write(&probe, VIRTIO_MMIO_STATUS,
                 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    uint32_t status = virtio_read(&probe, VIRTIO_MMIO_STATUS);
    put_line_dec("NOV1 FEATURES_OK", (status & VIRTIO_STATUS_FEATURES_OK) ? 1 : 0);
}

void main(void)
{
    uintptr_t base = virtio_find(VIRTIO_ID_RNG, 0);
    if (!base) {
        serial_puts("RNG none\nDONE\n");
        return;
    }
    check_legacy_refused(base);
    const char *failure = virtio_init(&dev, base, VIRTIO_F_VERSION_1);
    if (failure) {
        serial_puts("RNG init ");
        serial_puts(failure);
        serial_puts("\nDONE\n");
        return;
    }
    put_line_dec("RNG id", virtio_read(&dev, VIRTIO_MMIO_DEVICE_ID));
    serial_puts("BASE ");
    serial_put_hex(base);
    serial_putc('\n');
    memset(first, 0, sizeof first);
    memset(second, 0, sizeof second);
    put_line_dec("RNG len", rng_request(first, 1));
    put_line_dec("RNG len", rng_request(second, 1));
    int differ = 0;
    for (unsigned i = 0; i < REQUEST_BYTES; i++)
        differ |= first[i] != second[i];
    put_line_dec("RNG differ", (uint64_t)(differ && !all_zero(first) && !all_zero(second)));
    put_line_dec("RNG devread len", rng_request(first, 0));
    serial_puts("DONE\n");
}
