import Devices
#if canImport(Glibc)
import Glibc
#endif

/// Changes to a running VM's devices (Firecracker's `PATCH /drives` and
/// `PATCH /network-interfaces`), made on the VMM thread while the device thread serves queues.
extension Machine {
    /// Drive `id` gets a new backing file, opened with the drive's read-only setting, and/or a new
    /// rate limiter. A failure changes nothing.
    public func updateDrive(id: String, pathOnHost: String?, rateLimiter: RateLimiterConfig?) throws(VMMError) {
        guard let entry = inventory[id: .drive(id)] else { throw .invalidConfiguration("no drive \(id)") }
        switch entry.kind {
        case .block(let block):
            if let pathOnHost {
                let backend = try Self.openDrive(pathOnHost, readOnly: block.isReadOnly)
                do {
                    _ = try block.replaceBackend(backend)
                } catch { throw .invalidConfiguration("\(pathOnHost): \(error)") }
                // The new size reaches the guest through a config-change interrupt (virtio 4.2.2.1).
                entry.transport?.notifyConfigChange()
            }
            if let rateLimiter { block.rateLimiter.update(rateLimiter) }
        case .net, .vsock, .rng, .fs, .serial, .i8042, .bootTimer, .sleepControl, .pvpanic:
            throw .invalidConfiguration("device \(id) is not a drive")
        }
    }

    /// Interface `id` gets new receive and/or transmit rate limiters; an unknown id changes nothing.
    public func updateNetworkInterface(id: String, receive: RateLimiterConfig?, transmit: RateLimiterConfig?) {
        guard let entry = inventory[id: .interface(id)] else { return }
        switch entry.kind {
        case .net(let net):
            if let receive { net.receiveRateLimiter.update(receive) }
            if let transmit { net.transmitRateLimiter.update(transmit) }
        case .block, .vsock, .rng, .fs, .serial, .i8042, .bootTimer, .sleepControl, .pvpanic:
            return
        }
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
