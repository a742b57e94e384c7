// C shim: exposes the kernel's KVM structures and the ioctl request numbers (function-like
// macros Swift cannot import) and wraps variadic calls (ioctl) that Swift cannot call directly.
#ifndef CKILN_H
#define CKILN_H

#include <linux/kvm.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

// ioctl is variadic; these fixed-arity wrappers are what Swift calls.
int kiln_ioctl_ptr(int fd, unsigned long request, void *arg);
int kiln_ioctl_val(int fd, unsigned long request, unsigned long arg);

// Request numbers of the KVM ioctls Kiln issues.
static const unsigned long KILN_KVM_GET_API_VERSION = KVM_GET_API_VERSION;
static const unsigned long KILN_KVM_CREATE_VM = KVM_CREATE_VM;
static const unsigned long KILN_KVM_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
static const unsigned long KILN_KVM_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
static const unsigned long KILN_KVM_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;
static const unsigned long KILN_KVM_GET_MSR_INDEX_LIST = KVM_GET_MSR_INDEX_LIST;
static const unsigned long KILN_KVM_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
static const unsigned long KILN_KVM_SET_TSS_ADDR = KVM_SET_TSS_ADDR;
static const unsigned long KILN_KVM_SET_IDENTITY_MAP_ADDR = KVM_SET_IDENTITY_MAP_ADDR;
static const unsigned long KILN_KVM_CREATE_IRQCHIP = KVM_CREATE_IRQCHIP;
static const unsigned long KILN_KVM_CREATE_PIT2 = KVM_CREATE_PIT2;
static const unsigned long KILN_KVM_IRQ_LINE = KVM_IRQ_LINE;
static const unsigned long KILN_KVM_IRQFD = KVM_IRQFD;
static const unsigned long KILN_KVM_IOEVENTFD = KVM_IOEVENTFD;
static const unsigned long KILN_KVM_CREATE_VCPU = KVM_CREATE_VCPU;
static const unsigned long KILN_KVM_RUN = KVM_RUN;
static const unsigned long KILN_KVM_GET_REGS = KVM_GET_REGS;
static const unsigned long KILN_KVM_SET_REGS = KVM_SET_REGS;
static const unsigned long KILN_KVM_GET_SREGS = KVM_GET_SREGS;
static const unsigned long KILN_KVM_SET_SREGS = KVM_SET_SREGS;
static const unsigned long KILN_KVM_SET_FPU = KVM_SET_FPU;
static const unsigned long KILN_KVM_SET_MSRS = KVM_SET_MSRS;
static const unsigned long KILN_KVM_GET_MSRS = KVM_GET_MSRS;
static const unsigned long KILN_KVM_SET_CPUID2 = KVM_SET_CPUID2;
static const unsigned long KILN_KVM_GET_LAPIC = KVM_GET_LAPIC;
static const unsigned long KILN_KVM_SET_LAPIC = KVM_SET_LAPIC;
static const unsigned long KILN_KVM_GET_MP_STATE = KVM_GET_MP_STATE;
static const unsigned long KILN_KVM_SET_MP_STATE = KVM_SET_MP_STATE;

// Snapshot state (issue 17): the remaining per-vCPU and VM-level get/set pairs.
static const unsigned long KILN_KVM_GET_FPU = KVM_GET_FPU;
static const unsigned long KILN_KVM_GET_XSAVE = KVM_GET_XSAVE;
static const unsigned long KILN_KVM_GET_XSAVE2 = KVM_GET_XSAVE2;
static const unsigned long KILN_KVM_SET_XSAVE = KVM_SET_XSAVE;
static const unsigned long KILN_KVM_GET_XCRS = KVM_GET_XCRS;
static const unsigned long KILN_KVM_SET_XCRS = KVM_SET_XCRS;
static const unsigned long KILN_KVM_GET_DEBUGREGS = KVM_GET_DEBUGREGS;
static const unsigned long KILN_KVM_SET_DEBUGREGS = KVM_SET_DEBUGREGS;
static const unsigned long KILN_KVM_GET_VCPU_EVENTS = KVM_GET_VCPU_EVENTS;
static const unsigned long KILN_KVM_SET_VCPU_EVENTS = KVM_SET_VCPU_EVENTS;
static const unsigned long KILN_KVM_GET_CPUID2 = KVM_GET_CPUID2;
static const unsigned long KILN_KVM_GET_TSC_KHZ = KVM_GET_TSC_KHZ;
static const unsigned long KILN_KVM_SET_TSC_KHZ = KVM_SET_TSC_KHZ;
static const unsigned long KILN_KVM_KVMCLOCK_CTRL = KVM_KVMCLOCK_CTRL;
static const unsigned long KILN_KVM_GET_IRQCHIP = KVM_GET_IRQCHIP;
static const unsigned long KILN_KVM_SET_IRQCHIP = KVM_SET_IRQCHIP;
static const unsigned long KILN_KVM_GET_PIT2 = KVM_GET_PIT2;
static const unsigned long KILN_KVM_SET_PIT2 = KVM_SET_PIT2;
static const unsigned long KILN_KVM_GET_CLOCK = KVM_GET_CLOCK;
static const unsigned long KILN_KVM_SET_CLOCK = KVM_SET_CLOCK;
static const unsigned long KILN_KVM_GET_DIRTY_LOG = KVM_GET_DIRTY_LOG;
static const uint32_t KILN_KVM_MEM_LOG_DIRTY_PAGES = KVM_MEM_LOG_DIRTY_PAGES;
static const int32_t KILN_KVM_CAP_XSAVE = KVM_CAP_XSAVE;
static const int32_t KILN_KVM_CAP_XSAVE2 = KVM_CAP_XSAVE2;
static const int32_t KILN_KVM_CAP_XCRS = KVM_CAP_XCRS;
static const int32_t KILN_KVM_CAP_DEBUGREGS = KVM_CAP_DEBUGREGS;
static const int32_t KILN_KVM_CAP_VCPU_EVENTS = KVM_CAP_VCPU_EVENTS;
static const int32_t KILN_KVM_CAP_ADJUST_CLOCK = KVM_CAP_ADJUST_CLOCK;
static const int32_t KILN_KVM_CAP_KVMCLOCK_CTRL = KVM_CAP_KVMCLOCK_CTRL;
static const int32_t KILN_KVM_CAP_GET_TSC_KHZ = KVM_CAP_GET_TSC_KHZ;
static const int32_t KILN_KVM_CAP_TSC_CONTROL = KVM_CAP_TSC_CONTROL;
static const uint32_t KILN_KVM_CLOCK_TSC_STABLE = KVM_CLOCK_TSC_STABLE;
static const uint32_t KILN_KVM_CLOCK_REALTIME = KVM_CLOCK_REALTIME;
static const uint32_t KILN_KVM_CLOCK_HOST_TSC = KVM_CLOCK_HOST_TSC;
// sizeof(struct kvm_xsave) without its flexible tail: what KVM_GET_XSAVE writes.
static const uint32_t KILN_KVM_XSAVE_LEGACY_SIZE = sizeof(((struct kvm_xsave *)0)->region);

// KVM_GET_DIRTY_LOG takes the bitmap pointer in an anonymous union: set it here.
int kiln_get_dirty_log(int vm, uint32_t slot, uint64_t *bitmap);

// kvm_cpuid2 and kvm_msrs end in flexible arrays, which Swift does not import; these helpers
// allocate them with room for `count` entries and hand out the entry array.
struct kvm_cpuid2 *kiln_cpuid_alloc(uint32_t count);
struct kvm_cpuid_entry2 *kiln_cpuid_entries(struct kvm_cpuid2 *cpuid);
struct kvm_msrs *kiln_msrs_alloc(uint32_t count);
struct kvm_msr_entry *kiln_msrs_entries(struct kvm_msrs *msrs);
struct kvm_msr_list *kiln_msr_list_alloc(uint32_t count);
uint32_t *kiln_msr_list_indices(struct kvm_msr_list *list);

// kvm_run's exit payload is an anonymous union; these accessors keep Swift away from its layout.
/// A device number's major and minor (glibc's macros, which Swift cannot import).
static inline unsigned int kiln_dev_major(uint64_t dev) { return major(dev); }
static inline unsigned int kiln_dev_minor(uint64_t dev) { return minor(dev); }

static inline uint32_t kiln_run_exit_reason(const struct kvm_run *r) { return r->exit_reason; }
static inline void kiln_run_set_immediate_exit(struct kvm_run *r, uint8_t v) {
    __atomic_store_n(&r->immediate_exit, v, __ATOMIC_SEQ_CST);
}
static inline uint8_t kiln_run_io_direction(const struct kvm_run *r) { return r->io.direction; }
static inline uint8_t kiln_run_io_size(const struct kvm_run *r) { return r->io.size; }
static inline uint16_t kiln_run_io_port(const struct kvm_run *r) { return r->io.port; }
static inline uint32_t kiln_run_io_count(const struct kvm_run *r) { return r->io.count; }
static inline uint64_t kiln_run_io_data_offset(const struct kvm_run *r) { return r->io.data_offset; }
static inline uint64_t kiln_run_mmio_address(const struct kvm_run *r) { return r->mmio.phys_addr; }
static inline uint8_t *kiln_run_mmio_data(struct kvm_run *r) { return r->mmio.data; }
static inline uint32_t kiln_run_mmio_length(const struct kvm_run *r) { return r->mmio.len; }
static inline uint8_t kiln_run_mmio_is_write(const struct kvm_run *r) { return r->mmio.is_write; }
static inline uint64_t kiln_run_fail_entry_reason(const struct kvm_run *r) { return r->fail_entry.hardware_entry_failure_reason; }
static inline uint32_t kiln_run_fail_entry_cpu(const struct kvm_run *r) { return r->fail_entry.cpu; }
static inline uint32_t kiln_run_internal_suberror(const struct kvm_run *r) { return r->internal.suberror; }
static inline uint32_t kiln_run_internal_ndata(const struct kvm_run *r) { return r->internal.ndata; }
static inline uint64_t kiln_run_internal_data(const struct kvm_run *r, uint32_t i) { return i < 16 ? r->internal.data[i] : 0; }
static inline uint32_t kiln_run_system_event_type(const struct kvm_run *r) { return r->system_event.type; }
static inline uint64_t kiln_run_hw_exit_reason(const struct kvm_run *r) { return r->hw.hardware_exit_reason; }

// LAPIC registers live in a 1 KiB byte array; each register is 32 bits at its MMIO offset.
static inline uint32_t kiln_lapic_get(const struct kvm_lapic_state *s, uint32_t offset) {
    return offset + 4 <= sizeof(s->regs) ? *(const uint32_t *)(s->regs + offset) : 0;
}
static inline void kiln_lapic_set(struct kvm_lapic_state *s, uint32_t offset, uint32_t value) {
    if (offset + 4 <= sizeof(s->regs)) *(uint32_t *)(s->regs + offset) = value;
}

// Names the calling thread (at most 15 bytes are kept).
int kiln_set_thread_name(const char *name);

// The calling thread's capability sets as 64-bit masks (bit N: capability N). 0, or -1 and errno.
int kiln_caps_get_thread(uint64_t *permitted, uint64_t *effective, uint64_t *inheritable);
// Sets the calling thread's sets (capset can only lower permitted and keep effective and
// inheritable within it, so this only drops). 0, or -1 and errno.
int kiln_caps_set_thread(uint64_t permitted, uint64_t effective, uint64_t inheritable);
// Empties the calling thread's ambient set (PR_CAP_AMBIENT_CLEAR_ALL). 0, or -1 and errno.
int kiln_caps_clear_ambient(void);

// CLOCK_MONOTONIC now, and as recorded when the process image was initialised.
uint64_t kiln_monotonic_ns(void);
uint64_t kiln_process_start_ns(void);

// eventfd wrappers: interrupts leave by irqfd and notifications arrive by ioeventfd.
int kiln_eventfd(unsigned int initial, int flags);
int kiln_eventfd_signal(int fd);
int kiln_eventfd_consume(int fd, uint64_t *value);
static const int KILN_EFD_CLOEXEC = 02000000;
static const int KILN_EFD_NONBLOCK = 04000;

// timerfd wrappers (<sys/timerfd.h> is not in Swift's Glibc module): a CLOCK_MONOTONIC timer,
// non-blocking and close-on-exec, that rate limiters arm once, relative to now.
int kiln_timerfd_create(void);
int kiln_timerfd_arm(int fd, uint64_t nanoseconds);
int kiln_timerfd_consume(int fd, uint64_t *expirations);

// epoll with the file descriptor as the event's key (epoll_event is packed, awkward in Swift).
int kiln_epoll_create(void);
int kiln_epoll_add(int ep, int fd, uint32_t events);
int kiln_epoll_modify(int ep, int fd, uint32_t events);
int kiln_epoll_remove(int ep, int fd);
int kiln_epoll_wait(int ep, int32_t *fds, uint32_t *events, int max, int timeout_ms);
static const uint32_t KILN_EPOLLIN = 0x001;
static const uint32_t KILN_EPOLLHUP = 0x010;
static const uint32_t KILN_EPOLLERR = 0x008;
static const uint32_t KILN_EPOLLOUT = 0x004;

// preadv2/pwritev2 with RWF_NOWAIT (_GNU_SOURCE, which Swift's Glibc module lacks): move what the
// page cache holds without waiting for the disk. `iov` points to `count` struct iovec. Bytes
// moved (fewer than asked when the rest would block), or -errno: -EAGAIN when nothing could be
// moved without blocking, -EOPNOTSUPP when the file does not take non-blocking I/O.
long kiln_preadv_nowait(int fd, const void *iov, int count, int64_t offset);
long kiln_pwritev_nowait(int fd, const void *iov, int count, int64_t offset);

// accept4 needs _GNU_SOURCE, which Swift's Glibc module is not built with: a non-blocking,
// close-on-exec connection from a listening socket (the vsock backend's uds_path).
int kiln_accept_nonblocking(int listener);

// mallopt(M_ARENA_MAX, 1): every thread allocates from the main arena (see kiln main).
int kiln_single_malloc_arena(void);

#endif
