/* Requests for hostile.elf: healthy ones per device kind, and chains carrying one bad descriptor. */
#include "hostile.h"

uint64_t wanted(void) { return VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC; }

void set_desc(volatile struct virtq_desc *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    d->addr = addr;
    d->len = len;
    d->flags = flags;
    d->next = next;
}

/* A request the device of `kind` answers when all is well, in descriptors 0.. of q; its head
 * is 0. blk: read sector 0; rng: 64 bytes; net: one broadcast frame; vsock: a RST to the host
 * (no connection: dropped); fs: FUSE_INIT. */
void build_healthy(struct hq *q, enum kind kind, struct request_buffers *b)
{
    volatile struct virtq_desc *d = q->desc;
    memset(b, 0, sizeof *b);
    b->status = 0xff;
    switch (kind) {
    case BLK:
        b->header.type = VIRTIO_BLK_T_IN;
        set_desc(&d[0], (uintptr_t)&b->header, sizeof b->header, VIRTQ_DESC_F_NEXT, 1);
        set_desc(&d[1], (uintptr_t)b->in, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
        set_desc(&d[2], (uintptr_t)&b->status, 1, VIRTQ_DESC_F_WRITE, 0);
        break;
    case RNG:
        set_desc(&d[0], (uintptr_t)b->in, 64, VIRTQ_DESC_F_WRITE, 0);
        break;
    case NET: {
        /* virtio_net_hdr_v1 (12 bytes, all zero) then a 60-byte Ethernet frame. */
        uint8_t *frame = b->out + 12;
        memset(frame, 0xff, 6);
        frame[6] = 0x02;
        frame[12] = 0x08;
        set_desc(&d[0], (uintptr_t)b->out, 12 + 60, 0, 0);
        break;
    }
    case VSOCK: {
        /* virtio_vsock_hdr: src_cid, dst_cid (u64), src_port, dst_port, len (u32), type,
         * op (u16), flags, buf_alloc, fwd_cnt (u32): 44 bytes. */
        uint8_t *h = b->out;
        h[0] = 3;            /* src_cid */
        h[8] = 2;            /* dst_cid: the host */
        h[16] = 0x39;        /* src_port 1337 */
        h[17] = 0x05;
        h[20] = 0x0f;        /* dst_port 9999 */
        h[21] = 0x27;
        h[28] = 1;           /* type: stream */
        h[30] = 3;           /* op: RST */
        set_desc(&d[0], (uintptr_t)b->out, 44, 0, 0);
        break;
    }
    case FS: {
        /* fuse_in_header (40 bytes) + fuse_init_in (64) in; fuse_out_header + fuse_init_out out. */
        uint32_t *in = (uint32_t *)b->out;
        in[0] = 40 + 64;     /* len */
        in[1] = 26;          /* FUSE_INIT */
        in[2] = 1;           /* unique */
        in[10] = 7;          /* major */
        in[11] = 31;         /* minor */
        set_desc(&d[0], (uintptr_t)b->out, 40 + 64, VIRTQ_DESC_F_NEXT, 1);
        set_desc(&d[1], (uintptr_t)b->in, 16 + 64, VIRTQ_DESC_F_WRITE, 0);
        break;
    }
    }
}

/* Whether a used element answers build_healthy's request properly. */
static const char *check_healthy(enum kind kind, const struct request_buffers *b, uint32_t id, uint32_t len)
{
    if (id != 0)
        return "wrong head";
    switch (kind) {
    case BLK:
        if (len != 513 || b->status != 0)
            return "blk read failed";
        return NULL;
    case RNG:
        return len == 0 || len > 64 ? "rng length" : NULL;
    case FS:
        if (len < 16 || *(const int32_t *)(b->in + 4) != 0)
            return "fuse init failed";
        return NULL;
    case NET:
    case VSOCK:
        return NULL; /* transmit chains come back with length 0 */
    }
    return NULL;
}

const char *healthy_request(struct hq *q, enum kind kind, struct request_buffers *b)
{
    uint32_t id, len;
    build_healthy(q, kind, b);
    hq_publish(q, 0);
    switch (hq_wait(q, &id, &len)) {
    case HQ_NEEDS_RESET: return "needs reset";
    case HQ_NONE: return "no answer";
    case HQ_USED: break;
    }
    return check_healthy(kind, b, id, len);
}

/* A chain whose descriptor `bad` (address, length, extra flags) sits where the device of
 * the attacked kind parses or fills: blk's data buffer between a valid header and status,
 * rng's buffer, the first (driver-written) descriptor of net, vsock and fs. Head 0. */
void build_bad(struct hq *q, uint64_t addr, uint32_t len, uint16_t flags)
{
    volatile struct virtq_desc *d = q->desc;
    struct request_buffers *b = &attacked_buf;
    memset(b, 0, sizeof *b);
    b->status = 0xff;
    switch (attacked_kind) {
    case BLK:
        set_desc(&d[0], (uintptr_t)&b->header, sizeof b->header, VIRTQ_DESC_F_NEXT, 1);
        set_desc(&d[1], addr, len, (uint16_t)(VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE | flags), 2);
        set_desc(&d[2], (uintptr_t)&b->status, 1, VIRTQ_DESC_F_WRITE, 0);
        break;
    case RNG:
        set_desc(&d[0], addr, len, (uint16_t)(VIRTQ_DESC_F_WRITE | flags), 1);
        break;
    case NET:
    case VSOCK:
    case FS:
        set_desc(&d[0], addr, len, flags, 1);
        break;
    }
}

