#define _GNU_SOURCE
#include "CFileServer.h"
#include <linux/openat2.h>
#include <fcntl.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

_Static_assert(KILN_O_PATH == O_PATH, "O_PATH");

_Static_assert(KILN_RESOLVE_NO_XDEV == RESOLVE_NO_XDEV, "RESOLVE_NO_XDEV");
_Static_assert(KILN_RESOLVE_NO_MAGICLINKS == RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS");
_Static_assert(KILN_RESOLVE_NO_SYMLINKS == RESOLVE_NO_SYMLINKS, "RESOLVE_NO_SYMLINKS");
_Static_assert(KILN_RESOLVE_BENEATH == RESOLVE_BENEATH, "RESOLVE_BENEATH");

int kiln_fs_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

ssize_t kiln_fs_getdents64(int fd, void *buffer, size_t count) {
    return (ssize_t)syscall(SYS_getdents64, fd, buffer, count);
}

int kiln_fs_fstatfs(int fd, struct kiln_fs_statfs *out) {
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return -1;
    out->blocks = st.f_blocks;
    out->bfree = st.f_bfree;
    out->bavail = st.f_bavail;
    out->files = st.f_files;
    out->ffree = st.f_ffree;
    out->bsize = (uint64_t)st.f_bsize;
    out->namelen = (uint64_t)st.f_namelen;
    out->frsize = (uint64_t)st.f_frsize;
    return 0;
}

ssize_t kiln_fs_fgetxattr(int fd, const char *name, void *value, size_t size) {
    return fgetxattr(fd, name, value, size);
}

ssize_t kiln_fs_flistxattr(int fd, char *list, size_t size) { return flistxattr(fd, list, size); }
