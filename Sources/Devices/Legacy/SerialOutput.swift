#if canImport(Glibc)
import Glibc
#endif

/// Where the bytes a guest transmits on its serial port go (the VMM passes stdout or a log
/// file). Called with the UART's lock held, so bytes from several vCPUs stay in order.
public protocol SerialOutput: Sendable {
    func write(_ bytes: UnsafeRawBufferPointer)
}

/// Writes serial output to a file descriptor it does not own.
///
/// Never fails the guest: a write error (a closed pipe, a non-blocking descriptor that is full)
/// drops the rest of the chunk, because a console that stalls or crashes the VM is worse than a
/// console that loses output.
public struct FileDescriptorOutput: SerialOutput {
    public let fileDescriptor: Int32

    public init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard var next = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = Glibc.write(fileDescriptor, next, remaining)
            if written > 0 {
                next += written
                remaining -= written
            } else if written < 0, errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
