// Writes inodes straight into an ext4 image made by mke2fs, through libext2fs, so layer
// archives are never extracted on the host. Only opaque handles cross into Swift: ext2fs.h's
// inline functions and bitfield structs stay on this side.
#ifndef KILN_ROOTFS_IMAGE_H
#define KILN_ROOTFS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct rootfs_image rootfs_image;
typedef struct rootfs_image_file rootfs_image_file;

// Every function returns 0 or a libext2fs/com_err error code (errno values pass through).
long rootfs_image_open(const char *path, rootfs_image **out);
// Flushes bitmaps, group descriptors and the superblock, then frees the handle.
long rootfs_image_close(rootfs_image *image);
// Frees the handle without writing anything more (the caller removes the file).
void rootfs_image_discard(rootfs_image *image);
const char *rootfs_image_error_message(long code);
// Whether `code` means the image ran out of blocks or inodes (the size estimate was too small).
int rootfs_image_error_is_full(long code);

uint32_t rootfs_image_root_ino(void);
// Looks up a name directly in a directory (no path walk, no symlinks); 0 when absent.
long rootfs_image_lookup(rootfs_image *image, uint32_t dir, const char *name, uint32_t *ino);

// Creates an empty directory entry `name` in `dir`. Type bits of `mode` pick the inode kind:
// directory, regular file (extent-mapped, empty), symlink (target set by _write_symlink),
// character/block device (with `rdev_major`/`rdev_minor`), FIFO or socket.
long rootfs_image_create(rootfs_image *image, uint32_t dir, const char *name, uint32_t mode,
                         uint32_t rdev_major, uint32_t rdev_minor, uint32_t *ino);
// Adds another name for an existing non-directory inode (a hard link).
long rootfs_image_link(rootfs_image *image, uint32_t dir, const char *name, uint32_t ino, uint32_t mode);
long rootfs_image_write_symlink(rootfs_image *image, uint32_t ino, const char *target, size_t length);

long rootfs_image_file_open(rootfs_image *image, uint32_t ino, rootfs_image_file **out);
long rootfs_image_file_write(rootfs_image_file *file, const void *bytes, size_t length);
long rootfs_image_file_close(rootfs_image_file *file);

// Sets the final metadata; called last, after links and data, which would otherwise touch it.
long rootfs_image_set_attributes(rootfs_image *image, uint32_t ino, uint32_t mode, uint32_t uid,
                                 uint32_t gid, int64_t mtime, uint32_t mtime_nsec, uint32_t links);
long rootfs_image_set_xattr(rootfs_image *image, uint32_t ino, const char *name,
                            const void *value, size_t length);

#endif
