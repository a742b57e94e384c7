import Devices

/// The event loops a machine's devices are served on: one for every device but the drives (the
/// device thread), and one per drive, each run by a thread of its own (`kiln_drive0`...).
///
/// A drive's handler may wait on its disk: a read or write of a file on a stalled NFS, FUSE or
/// dm-delay device blocks whatever thread makes it, and io_uring cannot take every such call
/// off the thread (ext4 and tmpfs take no non-blocking buffered write). On a loop of its own a
/// drive that waits holds only its own requests; net, vsock, entropy, the shared directories
/// and the other drives keep flowing (issue 16, point 2), whichever engine the drive uses.
final class DeviceLoops: Sendable {
    let shared: EventLoop
    /// In drive order: the n-th block device of the bus is served by `drives[n]`.
    let drives: [EventLoop]

    init(driveCount: Int) throws(VMMError) {
        shared = try EventLoop()
        var drives: [EventLoop] = []
        for _ in 0..<driveCount { drives.append(try EventLoop()) }
        self.drives = drives
    }

    /// The loop that serves `kind`, the `driveIndex`-th drive if it is one.
    func loop(for kind: DeviceKind, driveIndex: Int) -> EventLoop {
        switch kind {
        case .block: drives[driveIndex]
        case .net, .vsock, .rng, .fs, .serial, .i8042, .bootTimer, .sleepControl, .pvpanic: shared
        }
    }

    /// Runs `body` while no handler runs on any loop: the shared loop's thread asks the first
    /// drive's loop, which asks the next, and so on; `body` runs on the innermost, with every
    /// other loop thread waiting for it between two handlers (or not running).
    func quiesce<T>(_ body: () -> T) -> T {
        quiesce(from: 0, body)
    }

    private func quiesce<T>(from index: Int, _ body: () -> T) -> T {
        let outer = index == 0 ? shared : drives[index - 1]
        guard index < drives.count else { return outer.quiesce(body) }
        return outer.quiesce { quiesce(from: index + 1, body) }
    }

    /// Ends every loop's `run()`.
    func stop() {
        shared.stop()
        drives.forEach { $0.stop() }
    }
}
