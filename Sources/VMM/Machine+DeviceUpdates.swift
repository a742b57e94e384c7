import Devices
#if canImport(Glibc)
import Glibc
#endif

/// Changes to a running VM's devices (Firecracker's `PATCH /drives` and
/// `PATCH /network-interfaces`), made on the VMM thread while the device thread serves queues.
extension Machine {
    /// Drive `index` (bus order: the first drive is /dev/vda) gets a new backing file, opened with
    /// the drive's read-only setting, and/or a new rate limiter. A failure changes nothing.
    public func updateDrive(index: Int, pathOnHost: String?, rateLimiter: RateLimiterConfig?) throws(VMMError) {
        let blocks = transports.filter { $0.device is Block }
        guard blocks.indices.contains(index), let block = blocks[index].device as? Block else {
            throw .invalidConfiguration("no drive \(index)")
        }
        if let pathOnHost {
            let backend = try Self.openDrive(pathOnHost, readOnly: block.isReadOnly)
            do {
                _ = try block.replaceBackend(backend)
            } catch { throw .invalidConfiguration("\(pathOnHost): \(error)") }
            // The new size reaches the guest through a config-change interrupt (virtio 4.2.2.1).
            blocks[index].notifyConfigChange()
        }
        if let rateLimiter { block.rateLimiter.update(rateLimiter) }
    }

    /// Interface `index` (bus order) gets new receive and/or transmit rate limiters.
    public func updateNetworkInterface(index: Int, receive: RateLimiterConfig?, transmit: RateLimiterConfig?) {
        let interfaces = transports.compactMap { $0.device as? Net }
        guard interfaces.indices.contains(index) else { return }
        if let receive { interfaces[index].receiveRateLimiter.update(receive) }
        if let transmit { interfaces[index].transmitRateLimiter.update(transmit) }
    }

    /// Opens a disk image for a running VM: no stat or access (the VMM thread is confined), just
    /// open, fstat on the descriptor (a regular file or a block device) and the backend's lseek.
    static func openDrive(_ path: String, readOnly: Bool) throws(VMMError) -> FileBlockBackend {
        let fd = open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        guard fd >= 0 else { throw .file(operation: "drive image", path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = errno
            close(fd)
            throw .file(operation: "drive image", path: path, errno: error)
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFBLK else {
            close(fd)
            throw .invalidConfiguration("drive image \(path) is not a regular file or block device")
        }
        do {
            return try FileBlockBackend(adopting: fd, readOnly: readOnly)
        } catch { throw .invalidConfiguration("drive image \(path): \(error)") }
    }
}
