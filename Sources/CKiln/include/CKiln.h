// C shim: exposes the kernel's KVM structures and the ioctl request numbers (function-like
// macros Swift cannot import) and wraps variadic calls (ioctl) that Swift cannot call directly.
#ifndef CKILN_H
#define CKILN_H

#include <linux/kvm.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/ioctl.h>

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

// kvm_cpuid2 and kvm_msrs end in flexible arrays, which Swift does not import; these helpers
// allocate them with room for `count` entries and hand out the entry array.
struct kvm_cpuid2 *kiln_cpuid_alloc(uint32_t count);
struct kvm_cpuid_entry2 *kiln_cpuid_entries(struct kvm_cpuid2 *cpuid);
struct kvm_msrs *kiln_msrs_alloc(uint32_t count);
struct kvm_msr_entry *kiln_msrs_entries(struct kvm_msrs *msrs);
struct kvm_msr_list *kiln_msr_list_alloc(uint32_t count);
uint32_t *kiln_msr_list_indices(struct kvm_msr_list *list);

// kvm_run's exit payload is a union; the I/O exit's data lives at an offset inside the mapping.
static inline struct kvm_run *kiln_run(void *mapping) { return (struct kvm_run *)mapping; }

#endif
