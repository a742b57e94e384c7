import Devices
#if canImport(Glibc)
import Glibc
#endif

/// Forwards kiln's standard input to the guest's UART. The UART's receive FIFO is bounded, so
/// input the guest has not read yet waits here (at most one read's worth), never unbounded.
enum ConsoleInput {
    static func start(serial: Serial16550, stop: StopCoordinator) {
        _ = try? NativeThread.spawn(name: "kiln_console") {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !stop.isStopping {
                let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return }
                var offset = 0
                while offset < count && !stop.isStopping {
                    let taken = buffer.withUnsafeBytes {
                        serial.enqueue(input: UnsafeRawBufferPointer(rebasing: $0[offset..<count]))
                    }
                    offset += taken
                    // The guest has not drained its FIFO: wait a little instead of spinning.
                    if taken == 0 { usleep(1000) }
                }
            }
        }
    }
}
