#ifndef KILN_CFILESERVER_H
#define KILN_CFILESERVER_H
// The virtio-fs server's window on the host: openat2(2), which glibc does not wrap, and
// getdents64(2), kept here so that every system call the server makes is listed in one place
// (the seccomp role of the device thread is written from this list).
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

// RESOLVE_* of linux/openat2.h, named for Swift (the macros need no struct from the header).
enum {
    KILN_RESOLVE_NO_XDEV = 0x01,
    KILN_RESOLVE_NO_MAGICLINKS = 0x02,
    KILN_RESOLVE_NO_SYMLINKS = 0x04,
    KILN_RESOLVE_BENEATH = 0x08,
};

// O_PATH (a glibc _GNU_SOURCE name the Swift Glibc module does not export).
enum { KILN_O_PATH = 010000000 };

/// What STATFS reports, from fstatfs(2) (O_PATH descriptors allowed).
struct kiln_fs_statfs {
    uint64_t blocks, bfree, bavail, files, ffree;
    uint64_t bsize, namelen, frsize;
};

/// fstatfs(fd): 0, or -1 with errno set.
int kiln_fs_fstatfs(int fd, struct kiln_fs_statfs *out);

/// fgetxattr(2) and flistxattr(2) (sys/xattr.h is not in the Swift Glibc module).
ssize_t kiln_fs_fgetxattr(int fd, const char *name, void *value, size_t size);
ssize_t kiln_fs_flistxattr(int fd, char *list, size_t size);

/// openat2(dirfd, path, {flags, mode, resolve}): a descriptor, or -1 with errno set.
int kiln_fs_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/// getdents64(fd, buffer, count): bytes of linux_dirent64 records, 0 at the end, -1 with errno.
ssize_t kiln_fs_getdents64(int fd, void *buffer, size_t count);

#endif
