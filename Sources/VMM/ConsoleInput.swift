import CKiln
import Devices
#if canImport(Glibc)
import Glibc
#endif

/// Forwards kiln's standard input to the guest's UART from the device loop. The UART's receive
/// FIFO is bounded; input the guest has not taken yet waits here (one read's worth at most)
/// while standard input is paused (out of the epoll set, so a writer that hung up meanwhile
/// is not reported again and again), until the UART reports space again. Nothing is dropped
/// and nothing spins.
final class ConsoleInput: @unchecked Sendable {
    private let input: Int32
    private let spaceAvailable: Int32
    private var buffer = [UInt8](repeating: 0, count: 4096)
    private var pending = 0..<0
    private var serial: Serial16550?
    private weak var loop: EventLoop?
    private let seccomp: Bool

    init(input: Int32 = 0, seccomp: Bool) throws(VMMError) {
        self.input = input
        self.seccomp = seccomp
        spaceAvailable = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        guard spaceAvailable >= 0 else { throw .thread(operation: "eventfd for console input", errno: errno) }
    }

    deinit { close(spaceAvailable) }

    /// For the UART's `onReceiveSpace`: called on a vCPU thread, so it only signals the loop.
    func receiveSpaceAvailable() { _ = kiln_eventfd_signal(spaceAvailable) }

    /// Starts forwarding. Standard input that epoll cannot watch (a regular file) is read by a
    /// plain blocking thread instead: then the result is true, and that thread calls `confined`
    /// once its seccomp filter is in place (or it gave up). /dev/null is not read at all.
    @discardableResult
    func attach(serial: Serial16550, to loop: EventLoop, stop: StopCoordinator,
                confined: @escaping @Sendable () -> Void = {}) throws(VMMError) -> Bool {
        self.serial = serial
        self.loop = loop
        try loop.add(spaceAvailable, events: KILN_EPOLLIN) { [unowned self] _ in
            var value: UInt64 = 0
            _ = kiln_eventfd_consume(spaceAvailable, &value)
            offerPending()
        }
        do {
            try loop.add(input, events: KILN_EPOLLIN) { [unowned self] events in readInput(events) }
        } catch {
            guard case let .thread(_, code) = error, code == EPERM else { throw error }
            // Nothing ever comes from /dev/null (how supervisors and benchmarks start kiln): no
            // reader thread to start, confine and schedule before the guest runs.
            if Self.isNullDevice(input) { return false }
            try startBlockingReader(serial: serial, stop: stop, confined: confined)
            return true
        }
        return false
    }

    /// Whether `fd` is the null character device (1, 3), wherever it is mounted.
    static func isNullDevice(_ fd: Int32) -> Bool {
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFCHR else { return false }
        let device = UInt64(status.st_rdev)
        return kiln_dev_major(device) == 1 && kiln_dev_minor(device) == 3
    }

    private func readInput(_ events: UInt32) {
        // Input the guest has not taken yet must not be overwritten: wait for its FIFO.
        guard pending.isEmpty else {
            loop?.modify(input, events: 0)
            return
        }
        let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
        if count < 0 && (errno == EINTR || errno == EAGAIN) { return }
        guard count > 0 else {
            loop?.remove(input) // end of input (or an error): the guest keeps running
            return
        }
        pending = 0..<count
        offerPending()
    }

    private func offerPending() {
        guard let serial, !pending.isEmpty else { return }
        let taken = buffer.withUnsafeBytes { serial.enqueue(input: UnsafeRawBufferPointer(rebasing: $0[pending])) }
        pending = (pending.lowerBound + taken)..<pending.upperBound
        // Pause standard input while the guest has not drained its FIFO.
        loop?.modify(input, events: pending.isEmpty ? KILN_EPOLLIN : 0)
    }

    private func startBlockingReader(serial: Serial16550, stop: StopCoordinator,
                                     confined: @escaping @Sendable () -> Void) throws(VMMError) {
        let input = input
        let seccomp = self.seccomp
        _ = try NativeThread.spawn(name: "kiln_console") {
            let entered = ThreadConfinement.enter(.devices, enabled: seccomp, stop: stop)
            confined()
            guard entered else { return }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !stop.isStopping {
                let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return }
                var offset = 0
                while offset < count && !stop.isStopping {
                    offset += buffer.withUnsafeBytes {
                        serial.enqueue(input: UnsafeRawBufferPointer(rebasing: $0[offset..<count]))
                    }
                    if offset < count { usleep(1000) }
                }
            }
        }
    }
}
