/* hostile.elf's attacks on the register window and config space, notification storms and
 * resets racing requests. See hostile.c. */
#include "hostile.h"

/* ---- attacks on the register window ---- */

static void mmio_read(uintptr_t addr, unsigned width)
{
    switch (width) {
    case 1: (void)*(volatile uint8_t *)addr; break;
    case 2: (void)*(volatile uint16_t *)addr; break;
    case 4: (void)*(volatile uint32_t *)addr; break;
    default: (void)*(volatile uint64_t *)addr; break;
    }
}

static void mmio_write(uintptr_t addr, unsigned width, uint64_t value)
{
    switch (width) {
    case 1: *(volatile uint8_t *)addr = (uint8_t)value; break;
    case 2: *(volatile uint16_t *)addr = (uint16_t)value; break;
    case 4: *(volatile uint32_t *)addr = (uint32_t)value; break;
    default: *(volatile uint64_t *)addr = value; break;
    }
}

#define STATES 6

/* Puts the attacked device in state n: reset, ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK,
 * DEVICE_NEEDS_RESET (after a head index beyond the queue). */
static void enter_state(unsigned n)
{
    hq_write(&attacked, VIRTIO_MMIO_STATUS, 0);
    if (n >= 1)
        hq_write(&attacked, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    if (n == 2)
        hq_write(&attacked, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    if (n == 3)
        (void)hq_negotiate(&attacked, wanted());
    if (n >= 4) {
        attacked.size = SMALL_QUEUE;
        (void)hq_start(&attacked, wanted());
    }
    if (n == 5) {
        uint32_t id, len;
        hq_publish(&attacked, 0xfffe);
        (void)hq_wait(&attacked, &id, &len);
    }
}

void enter_needs_reset(void)
{
    enter_state(5);
}

/* Every register offset (0x000..0x0ff) read and written at widths 1, 2, 4 and 8 in every
 * device state (entered afresh for each 4-byte register, as a write may leave it); written all
 * ones in even states and zero in odd ones (zero is a reset, queue 0's notification, a zero
 * ring address...). */
void a_registers(void)
{
    static const unsigned widths[] = { 1, 2, 4, 8 };
    uint64_t accesses = 0;
    for (unsigned reg = 0; reg < 0x100; reg += 4) {
        for (unsigned state = 0; state < STATES; state++) {
            enter_state(state);
            uint64_t value = state % 2 ? 0 : ~0ULL;
            for (unsigned offset = reg; offset < reg + 4; offset++)
                for (unsigned w = 0; w < 4; w++) {
                    if (offset + widths[w] > 0x100)
                        continue;
                    mmio_read(attacked.base + offset, widths[w]);
                    mmio_write(attacked.base + offset, widths[w], value);
                    accesses += 2;
                }
        }
    }
    put_line_dec("ACCESSES", accesses);
    report(&attacked, "registers");
}

/* Config space read and then written all ones at every width, on a live device: at every
 * offset of its first 256 bytes (more than any of Kiln's devices has) and every 64th offset
 * from there to the end of the window. */
void a_config(void)
{
    if (!start_attacked())
        return;
    static const unsigned widths[] = { 1, 2, 4, 8 };
    uint64_t accesses = 0;
    for (unsigned offset = VIRTIO_MMIO_CONFIG; offset < 0x1000; offset += offset < 0x200 ? 1 : 61)
        for (unsigned w = 0; w < 4; w++) {
            if (offset + widths[w] > 0x1000)
                continue;
            mmio_read(attacked.base + offset, widths[w]);
            mmio_write(attacked.base + offset, widths[w], ~0ULL);
            accesses += 2;
        }
    put_line_dec("ACCESSES", accesses);
    report(&attacked, "config");
}

/* ---- notification storms ---- */

static void storm_line(uint64_t notifies, uint64_t cycles)
{
    serial_puts("STORM notifies ");
    serial_put_dec(notifies);
    serial_puts(" cycles ");
    serial_put_dec(cycles);
    serial_putc('\n');
}

/* `storm` QueueNotify writes (the ioeventfd path) on a live queue with nothing available,
 * then one request, which must be answered. */
void a_notify_storm(void)
{
    if (!start_attacked())
        return;
    uint64_t t0 = rdtsc();
    for (uint64_t i = 0; i < storm; i++)
        hq_notify(&attacked);
    storm_line(storm, rdtsc() - t0);
    build_healthy(&attacked, attacked_kind, &attacked_buf);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

/* Notifications naming queues the device does not have (no ioeventfd matches: each one is an
 * MMIO exit to the VMM, 30 us to 0.7 ms here depending on the machine's load). */
#define BAD_QUEUE_NOTIFIES 2000
void a_notify_bad_queue(void)
{
    if (!start_attacked())
        return;
    uint64_t t0 = rdtsc();
    for (unsigned i = 0; i < BAD_QUEUE_NOTIFIES; i++)
        hq_write(&attacked, VIRTIO_MMIO_QUEUE_NOTIFY, i % 2 ? 0xffffffffU : attacked.queues + i % 100);
    storm_line(BAD_QUEUE_NOTIFIES, rdtsc() - t0);
    build_healthy(&attacked, attacked_kind, &attacked_buf);
    hq_publish(&attacked, 0);
    wait_and_report(&attacked);
}

/* A storm at a device that needs reset: nothing may be processed, nothing may spin, and the
 * device still needs reset afterwards. */
void a_storm_needs_reset(void)
{
    enter_state(5);
    uint64_t count = storm / 4, t0 = rdtsc();
    for (uint64_t i = 0; i < count; i++)
        hq_notify(&attacked);
    storm_line(count, rdtsc() - t0);
    report(&attacked, "storm_done");
}

/* Requests published and the device reset at once, over and over: reset must wait for or
 * stop the processing, never leave it writing into a queue that is gone. */
void a_reset_race(void)
{
    for (unsigned i = 0; i < 300; i++) {
        if (!start_attacked())
            return;
        build_healthy(&attacked, attacked_kind, &attacked_buf);
        hq_publish(&attacked, 0);
        hq_write(&attacked, VIRTIO_MMIO_STATUS, 0);
    }
    report(&attacked, "reset_race");
}

