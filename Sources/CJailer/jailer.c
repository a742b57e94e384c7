#define _GNU_SOURCE
#include "CJailer.h"
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

const int JAILER_O_PATH = O_PATH;
const int JAILER_CLONE_NEWNS = CLONE_NEWNS;
const int JAILER_CLONE_NEWNET = CLONE_NEWNET;
const int JAILER_CLONE_NEWPID = CLONE_NEWPID;
const int JAILER_PR_SET_NO_NEW_PRIVS = PR_SET_NO_NEW_PRIVS;
const int JAILER_PR_SET_KEEPCAPS = PR_SET_KEEPCAPS;
const int JAILER_PR_CAP_AMBIENT = PR_CAP_AMBIENT;
const unsigned long JAILER_PR_CAP_AMBIENT_CLEAR_ALL = PR_CAP_AMBIENT_CLEAR_ALL;

int jailer_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int jailer_close_range(unsigned int first, unsigned int last) {
    return (int)syscall(SYS_close_range, first, last, 0);
}

// Swift marks fork() unavailable; the jailer is single-threaded when it forks.
pid_t jailer_fork(void) { return fork(); }

dev_t jailer_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }

int jailer_prctl(int option, unsigned long arg2) { return prctl(option, arg2, 0UL, 0UL, 0UL); }

int jailer_unshare(int flags) { return unshare(flags); }

int jailer_setns(int fd, int nstype) { return setns(fd, nstype); }

int jailer_setgroups_none(void) { return setgroups(0, NULL); }

int jailer_mount_private_recursive(const char *target) {
    return mount(NULL, target, NULL, MS_REC | MS_PRIVATE, NULL);
}

int jailer_bind_mount(const char *source, const char *target) {
    return mount(source, target, NULL, MS_BIND | MS_REC, NULL);
}

int jailer_bind_mount_file_readonly(const char *source, const char *target) {
    if (mount(source, target, NULL, MS_BIND, NULL) < 0) return -1;
    // A bind mount takes MS_RDONLY only on a remount of itself.
    return mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

int jailer_bind_mount_directory_readonly(const char *source, const char *target) {
    // Not MS_REC: mounts beneath the shared directory stay out of the jail.
    if (mount(source, target, NULL, MS_BIND, NULL) < 0) return -1;
    return mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

int jailer_umount_detach(const char *target) { return umount2(target, MNT_DETACH); }

int jailer_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
