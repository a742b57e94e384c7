#include <seccomp.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Installs a BPF program as the calling thread's seccomp filter, as libseccomp's seccomp_load
 * does for a context with no_new_privs set and TSYNC clear: prctl(PR_SET_NO_NEW_PRIVS), then
 * seccomp(SECCOMP_SET_MODE_FILTER) with no flags. Returns 0 or -errno. */
static inline int kiln_seccomp_install_program(const struct sock_filter *instructions, uint16_t count) {
    struct sock_fprog program = { .len = count, .filter = (struct sock_filter *)instructions };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0)
        return -errno;
    return 0;
}

/* 0 when the kernel knows the filter return action `action`, else -errno
 * (SECCOMP_GET_ACTION_AVAIL, Linux 4.14). */
static inline int kiln_seccomp_action_available(uint32_t action) {
    if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0)
        return -errno;
    return 0;
}
