/* Shared by hostile.elf's files (see hostile.c): the attacked device, its memory and request
 * buffers, how requests are built and answers reported, and the attacks. */
#ifndef KILN_GUEST_HOSTILE_H
#define KILN_GUEST_HOSTILE_H

#include "hostile_queue.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_VSOCK 19
#define VIRTIO_ID_FS 26
#define SMALL_QUEUE 8
#define BEYOND_RAM 0x1000000000ULL /* 64 GiB: no guest of these tests has RAM there */
#define MMIO_HOLE 0xd0000000ULL
#define VIRTIO_BLK_T_IN 0

enum kind { BLK, RNG, NET, VSOCK, FS };

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

struct request_buffers {
    struct blk_header header;
    uint8_t status;
    uint8_t in[512];
    uint8_t out[512];
};

/* The attacked device: its driver state, rings (room for HQ_MAX entries) and buffers. */
extern struct hq attacked;
extern enum kind attacked_kind;
extern struct virtq_desc attacked_desc[HQ_MAX];
extern struct hq_avail attacked_avail;
extern struct hq_used attacked_used;
extern struct request_buffers attacked_buf;
/* Options (hostile.c). */
extern uint64_t storm, ram_mib;

/* hostile_requests.c */
uint64_t wanted(void);
void set_desc(volatile struct virtq_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
void build_healthy(struct hq *q, enum kind kind, struct request_buffers *b);
const char *healthy_request(struct hq *q, enum kind kind, struct request_buffers *b);
void build_bad(struct hq *q, uint64_t addr, uint32_t len, uint16_t flags);

/* hostile.c: "RESULT <what> [blk <status>] status <hex> isr <hex>" (InterruptStatus then
 * acknowledged); the same after waiting for the device; a fresh start of the attacked device
 * (0 and a RESULT line if it fails). */
void report(struct hq *q, const char *what);
void wait_and_report(struct hq *q);
int start_attacked(void);

/* hostile_chains.c: descriptor chains, indirect tables, the available ring, queue set-up. */
void a_loop(void);
void a_selfloop(void);
void a_next_oob(void);
void a_head_oob(void);
void a_beyond_ram(void);
void a_mmio_hole(void);
void a_wrap(void);
void a_straddle(void);
void a_huge_len(void);
void a_zero_len(void);
void a_indirect_nested(void);
void a_indirect_badlen(void);
void a_indirect_zero(void);
void a_indirect_huge(void);
void a_indirect_loop(void);
void a_indirect_next_oob(void);
void a_indirect_beyond_ram(void);
void a_indirect_and_next(void);
void a_avail_jump(void);
void a_avail_max(void);
void a_same_head(void);
void a_rings_beyond_ram(void);
void a_rings_wrap(void);
void a_rings_mmio(void);
void a_rings_straddle(void);
void a_rings_overlap(void);
void a_rings_misaligned(void);
void a_qsize_bad(void);

/* hostile_mmio.c: the register window, config space, notification storms, reset races. */
void a_registers(void);
void a_config(void);
void a_notify_storm(void);
void a_notify_bad_queue(void);
void a_storm_needs_reset(void);
void a_reset_race(void);
/* Started afresh, then DEVICE_NEEDS_RESET (a head index beyond the queue). */
void enter_needs_reset(void);

#endif
