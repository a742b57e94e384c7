#include "CKiln.h"
#include <stdlib.h>

int kiln_ioctl_ptr(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
int kiln_ioctl_val(int fd, unsigned long request, unsigned long arg) { return ioctl(fd, request, arg); }

struct kvm_cpuid2 *kiln_cpuid_alloc(uint32_t count) {
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)count * sizeof(struct kvm_cpuid_entry2));
    if (c) c->nent = count;
    return c;
}
struct kvm_cpuid_entry2 *kiln_cpuid_entries(struct kvm_cpuid2 *cpuid) { return cpuid->entries; }

struct kvm_msrs *kiln_msrs_alloc(uint32_t count) {
    struct kvm_msrs *m = calloc(1, sizeof(*m) + (size_t)count * sizeof(struct kvm_msr_entry));
    if (m) m->nmsrs = count;
    return m;
}
struct kvm_msr_entry *kiln_msrs_entries(struct kvm_msrs *msrs) { return msrs->entries; }

struct kvm_msr_list *kiln_msr_list_alloc(uint32_t count) {
    struct kvm_msr_list *l = calloc(1, sizeof(*l) + (size_t)count * sizeof(uint32_t));
    if (l) l->nmsrs = count;
    return l;
}
uint32_t *kiln_msr_list_indices(struct kvm_msr_list *list) { return list->indices; }
