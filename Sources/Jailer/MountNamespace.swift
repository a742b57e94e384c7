import CJailer
#if canImport(Glibc)
import Glibc
#endif

/// Gives the process its own mount namespace whose root is the jail: nothing of the host's
/// filesystem stays reachable (pivot_root, then the old root is detached, unlike a chroot).
enum MountNamespace {
    /// `bindIn`: host files made visible read-only at `root/<name>` (their mount points exist).
    /// `bindInDirectories`: host directories made visible read-only at `root/share<N>`.
    /// `executable`: the exec file made visible read-only (nosuid, nodev, but executable) at
    /// `root/<path>` (JailDirectory.placeExecutable made the mount point).
    static func enter(root: String, bindIn: [String] = [], bindInDirectories: [String] = [],
                      executable: (source: String, pathInJail: String)? = nil) throws(JailerError) {
        let step = "mount namespace"
        try check(step, "unshare(CLONE_NEWNS)") { jailer_unshare(JAILER_CLONE_NEWNS) }
        // Nothing we mount or unmount here may propagate back to the host's namespace.
        try check(step, "make / private") { jailer_mount_private_recursive("/") }
        // pivot_root needs the new root to be a mount point.
        try check(step, "bind-mount \(root)") { jailer_bind_mount(root, root) }
        if let executable {
            try check(step, "bind-mount \(executable.source)") {
                jailer_bind_mount_file_readonly(executable.source, root + executable.pathInJail)
            }
        }
        for file in bindIn {
            let target = root + "/" + baseName(file)
            // Only in this namespace; read-only even for a file the VMM's uid could write.
            try check(step, "bind-mount \(file)") { jailer_bind_mount_file_readonly(file, target) }
        }
        for (index, directory) in bindInDirectories.enumerated() {
            let target = root + JailConfig.sharedDirectoryPath(index)
            try check(step, "bind-mount \(directory)") { jailer_bind_mount_directory_readonly(directory, target) }
        }
        try check(step, "chdir \(root)") { chdir(root) }
        try check(step, "mkdir old_root") { mkdir("old_root", 0o700) }
        try check(step, "pivot_root") { jailer_pivot_root(".", "old_root") }
        try check(step, "chdir /") { chdir("/") }
        try check(step, "detach old root") { jailer_umount_detach("/old_root") }
        try check(step, "rmdir /old_root") { rmdir("/old_root") }
    }
}
