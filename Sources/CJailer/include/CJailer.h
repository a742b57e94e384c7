// C shim for the jailer: system calls glibc does not wrap, variadic functions Swift cannot call
// (syscall, prctl), declarations Swift's Glibc module leaves out (mount, unshare, setns,
// setgroups) and macros it cannot import (makedev).
#ifndef CJAILER_H
#define CJAILER_H

#include <sys/types.h>

int jailer_pivot_root(const char *new_root, const char *put_old);
int jailer_close_range(unsigned int first, unsigned int last);
pid_t jailer_fork(void);
dev_t jailer_makedev(unsigned int major, unsigned int minor);
int jailer_prctl(int option, unsigned long arg2);
int jailer_unshare(int flags);
int jailer_setns(int fd, int nstype);
int jailer_setgroups_none(void);
int jailer_mount_private_recursive(const char *target);
int jailer_bind_mount(const char *source, const char *target);
// Bind-mounts the file `source` on `target` (an existing file) read-only, nosuid, nodev.
int jailer_bind_mount_file_readonly(const char *source, const char *target);
// A host directory read-only, nosuid, nodev, noexec at `target` (an existing directory); its
// own submounts are not carried along.
int jailer_bind_mount_directory_readonly(const char *source, const char *target);
int jailer_umount_detach(const char *target);
int jailer_pipe_cloexec(int fds[2]);

extern const int JAILER_O_PATH;

extern const int JAILER_CLONE_NEWNS;
extern const int JAILER_CLONE_NEWNET;
extern const int JAILER_CLONE_NEWPID;
extern const int JAILER_PR_SET_NO_NEW_PRIVS;
extern const int JAILER_PR_SET_KEEPCAPS;
extern const int JAILER_PR_CAP_AMBIENT;
extern const unsigned long JAILER_PR_CAP_AMBIENT_CLEAR_ALL;

#endif
