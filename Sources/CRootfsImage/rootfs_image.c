// libext2fs side of the rootfs builder. Mirrors what e2fsprogs' own misc/create_inode.c does for
// `mke2fs -d` (that file is not part of the installed library), minus every host file access.
#include "rootfs_image.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <ext2fs/ext2fs.h>
#include <et/com_err.h>

struct rootfs_image {
    ext2_filsys fs;
};

struct rootfs_image_file {
    ext2_file_t file;
};

long rootfs_image_open(const char *path, rootfs_image **out) {
    *out = NULL;
    rootfs_image *image = calloc(1, sizeof *image);
    if (image == NULL) return ENOMEM;
    errcode_t err = ext2fs_open(path, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &image->fs);
    if (err) { free(image); return err; }
    err = ext2fs_read_bitmaps(image->fs);
    if (err) { ext2fs_close_free(&image->fs); free(image); return err; }
    // Permission bits are set exactly later; no umask may creep into intermediate states.
    image->fs->umask = 0;
    *out = image;
    return 0;
}

long rootfs_image_close(rootfs_image *image) {
    errcode_t err = ext2fs_close_free(&image->fs);
    free(image);
    return err;
}

void rootfs_image_discard(rootfs_image *image) {
    ext2fs_free(image->fs);
    free(image);
}

const char *rootfs_image_error_message(long code) {
    static int initialized;
    if (!initialized) { initialize_ext2_error_table(); initialized = 1; }
    return error_message(code);
}

int rootfs_image_error_is_full(long code) {
    return code == EXT2_ET_BLOCK_ALLOC_FAIL || code == EXT2_ET_INODE_ALLOC_FAIL ||
        code == EXT2_ET_DIR_NO_SPACE || code == ENOSPC || code == EXT2_ET_EA_NO_SPACE;
}

uint32_t rootfs_image_root_ino(void) { return EXT2_ROOT_INO; }

long rootfs_image_lookup(rootfs_image *image, uint32_t dir, const char *name, uint32_t *ino) {
    ext2_ino_t found = 0;
    errcode_t err = ext2fs_lookup(image->fs, dir, name, (int)strlen(name), NULL, &found);
    if (err == EXT2_ET_FILE_NOT_FOUND) { *ino = 0; return 0; }
    *ino = found;
    return err;
}

static int file_type(uint32_t mode) {
    switch (mode & LINUX_S_IFMT) {
    case LINUX_S_IFDIR: return EXT2_FT_DIR;
    case LINUX_S_IFREG: return EXT2_FT_REG_FILE;
    case LINUX_S_IFLNK: return EXT2_FT_SYMLINK;
    case LINUX_S_IFCHR: return EXT2_FT_CHRDEV;
    case LINUX_S_IFBLK: return EXT2_FT_BLKDEV;
    case LINUX_S_IFIFO: return EXT2_FT_FIFO;
    case LINUX_S_IFSOCK: return EXT2_FT_SOCK;
    default: return EXT2_FT_UNKNOWN;
    }
}

// ext2fs_link does not grow a full directory block in 1.47.0: the caller must expand and retry.
static errcode_t link_growing(ext2_filsys fs, ext2_ino_t dir, const char *name, ext2_ino_t ino, int type) {
    errcode_t err = ext2fs_link(fs, dir, name, ino, type);
    if (err == EXT2_ET_DIR_NO_SPACE) {
        err = ext2fs_expand_dir(fs, dir);
        if (err) return err;
        err = ext2fs_link(fs, dir, name, ino, type);
    }
    return err;
}

long rootfs_image_link(rootfs_image *image, uint32_t dir, const char *name, uint32_t ino, uint32_t mode) {
    int type = file_type(mode);
    if (type == EXT2_FT_UNKNOWN || type == EXT2_FT_DIR) return EINVAL;
    return link_growing(image->fs, dir, name, ino, type);
}

long rootfs_image_create(rootfs_image *image, uint32_t dir, const char *name, uint32_t mode,
                         uint32_t rdev_major, uint32_t rdev_minor, uint32_t *out) {
    ext2_filsys fs = image->fs;
    int type = file_type(mode);
    if (type == EXT2_FT_UNKNOWN) return EINVAL;
    if (strlen(name) > EXT2_NAME_LEN) return ENAMETOOLONG;
    ext2_ino_t ino = 0;
    errcode_t err = ext2fs_new_inode(fs, dir, (int)(mode & LINUX_S_IFMT), NULL, &ino);
    if (err) return err;

    if (type == EXT2_FT_DIR) {
        // No name: ext2fs_mkdir's own link would fail on a full directory block instead of growing it.
        err = ext2fs_mkdir(fs, dir, ino, NULL);
        if (err) return err;
        err = link_growing(fs, dir, name, ino, EXT2_FT_DIR);
        if (err) return err;
        *out = ino;
        return 0;
    }

    err = link_growing(fs, dir, name, ino, type);
    if (err) return err;
    ext2fs_inode_alloc_stats2(fs, ino, +1, 0);

    struct ext2_inode inode;
    memset(&inode, 0, sizeof inode);
    inode.i_mode = (__u16)mode;
    inode.i_links_count = 1;
    inode.i_atime = inode.i_ctime = inode.i_mtime = (__u32)time(NULL);
    if (type == EXT2_FT_CHRDEV || type == EXT2_FT_BLKDEV) {
        // The kernel's old (8:8) and new (12:20) device encodings, as create_inode.c writes them.
        if (rdev_major < 256 && rdev_minor < 256) {
            inode.i_block[0] = rdev_major * 256 + rdev_minor;
        } else {
            inode.i_block[1] = (rdev_minor & 0xff) | (rdev_major << 8) | ((rdev_minor & ~0xffU) << 12);
        }
    } else if (type == EXT2_FT_REG_FILE && ext2fs_has_feature_extents(fs->super)) {
        ext2_extent_handle_t handle;
        inode.i_flags |= EXT4_EXTENTS_FL;
        err = ext2fs_extent_open2(fs, ino, &inode, &handle);
        if (err) return err;
        ext2fs_extent_free(handle);
    }
    err = ext2fs_write_new_inode(fs, ino, &inode);
    if (err) return err;
    *out = ino;
    return 0;
}

long rootfs_image_write_symlink(rootfs_image *image, uint32_t ino, const char *target, size_t length) {
    ext2_filsys fs = image->fs;
    struct ext2_inode inode;
    if (length == 0 || length >= fs->blocksize) return ENAMETOOLONG;
    errcode_t err = ext2fs_read_inode(fs, ino, &inode);
    if (err) return err;
    if (length < sizeof inode.i_block) {
        // A fast symlink: the target lives in i_block, and the kernel tells it by its size alone.
        memset(inode.i_block, 0, sizeof inode.i_block);
        memcpy(inode.i_block, target, length);
        inode.i_flags &= ~EXT4_EXTENTS_FL;
        inode.i_size = (__u32)length;
        return ext2fs_write_inode(fs, ino, &inode);
    }
    if (ext2fs_has_feature_extents(fs->super)) {
        ext2_extent_handle_t handle;
        memset(inode.i_block, 0, sizeof inode.i_block);
        inode.i_flags |= EXT4_EXTENTS_FL;
        err = ext2fs_extent_open2(fs, ino, &inode, &handle);
        if (err) return err;
        ext2fs_extent_free(handle);
        err = ext2fs_write_inode(fs, ino, &inode);
        if (err) return err;
    }
    rootfs_image_file *file;
    err = rootfs_image_file_open(image, ino, &file);
    if (err) return err;
    err = rootfs_image_file_write(file, target, length);
    errcode_t closed = rootfs_image_file_close(file);
    return err ? err : closed;
}

long rootfs_image_file_open(rootfs_image *image, uint32_t ino, rootfs_image_file **out) {
    *out = NULL;
    rootfs_image_file *file = calloc(1, sizeof *file);
    if (file == NULL) return ENOMEM;
    errcode_t err = ext2fs_file_open(image->fs, ino, EXT2_FILE_WRITE, &file->file);
    if (err) { free(file); return err; }
    *out = file;
    return 0;
}

long rootfs_image_file_write(rootfs_image_file *file, const void *bytes, size_t length) {
    const char *cursor = bytes;
    while (length > 0) {
        unsigned int chunk = length > (1U << 30) ? (1U << 30) : (unsigned int)length;
        unsigned int written = 0;
        errcode_t err = ext2fs_file_write(file->file, cursor, chunk, &written);
        if (err) return err;
        if (written == 0) return EXT2_ET_SHORT_WRITE;
        cursor += written;
        length -= written;
    }
    return 0;
}

long rootfs_image_file_close(rootfs_image_file *file) {
    errcode_t err = ext2fs_file_close(file->file);
    free(file);
    return err;
}

static void set_extra_time(__u32 *seconds, __u32 *extra, int64_t value, uint32_t nsec) {
    *seconds = (__u32)(int32_t)value;
    // ext4 widens the signed 32-bit seconds with two epoch bits (years up to 2446).
    int64_t epoch = (value - (int64_t)(int32_t)value) >> 32;
    if (extra) *extra = ((__u32)epoch & EXT4_EPOCH_MASK) | (nsec << EXT4_EPOCH_BITS);
}

long rootfs_image_set_attributes(rootfs_image *image, uint32_t ino, uint32_t mode, uint32_t uid,
                                 uint32_t gid, int64_t mtime, uint32_t mtime_nsec, uint32_t links) {
    ext2_filsys fs = image->fs;
    struct ext2_inode_large inode;
    memset(&inode, 0, sizeof inode);
    errcode_t err = ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)&inode, sizeof inode);
    if (err) return err;
    // Beyond what two epoch bits can carry, clamp rather than wrap to another century.
    const int64_t lowest = INT32_MIN, highest = (int64_t)INT32_MAX + 3 * (INT64_C(1) << 32);
    if (mtime < lowest) mtime = lowest;
    if (mtime > highest) mtime = highest;
    if (mtime_nsec > 999999999) mtime_nsec = 0;
    inode.i_mode = (__u16)mode;
    inode.i_uid = (__u16)uid;
    inode.osd2.linux2.l_i_uid_high = (__u16)(uid >> 16);
    inode.i_gid = (__u16)gid;
    inode.osd2.linux2.l_i_gid_high = (__u16)(gid >> 16);
    inode.i_links_count = (__u16)links;
    int extra = EXT2_INODE_SIZE(fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
        inode.i_extra_isize >= offsetof(struct ext2_inode_large, i_crtime_extra) + 4 - EXT2_GOOD_OLD_INODE_SIZE;
    set_extra_time(&inode.i_mtime, extra ? &inode.i_mtime_extra : NULL, mtime, mtime_nsec);
    set_extra_time(&inode.i_atime, extra ? &inode.i_atime_extra : NULL, mtime, mtime_nsec);
    set_extra_time(&inode.i_ctime, extra ? &inode.i_ctime_extra : NULL, mtime, mtime_nsec);
    if (extra) set_extra_time(&inode.i_crtime, &inode.i_crtime_extra, mtime, mtime_nsec);
    return ext2fs_write_inode_full(fs, ino, (struct ext2_inode *)&inode, sizeof inode);
}

long rootfs_image_set_xattr(rootfs_image *image, uint32_t ino, const char *name,
                            const void *value, size_t length) {
    struct ext2_xattr_handle *handle;
    errcode_t err = ext2fs_xattrs_open(image->fs, ino, &handle);
    if (err) return err;
    err = ext2fs_xattrs_read(handle);
    if (!err) err = ext2fs_xattr_set(handle, name, value, length);
    errcode_t closed = ext2fs_xattrs_close(&handle);
    return err ? err : closed;
}
