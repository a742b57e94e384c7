import Devices
import Synchronization
import Testing
@testable import VMM
#if canImport(Glibc)
import Glibc
#endif

/// Standard input while the guest does not read its UART: paused, nothing lost, nothing spun,
/// even when the writer has hung up (epoll reports EPOLLHUP whatever the mask).
@Suite struct ConsoleInputTests {
    struct NoInterrupt: InterruptLine { func trigger() {} }
    struct NoOutput: SerialOutput { func write(_ bytes: UnsafeRawBufferPointer) {} }

    final class RunningLoop: @unchecked Sendable {
        let loop: EventLoop
        var thread: NativeThread?
        init(_ loop: EventLoop) throws {
            self.loop = loop
            thread = try NativeThread.spawn(name: "test_loop") { [loop] in loop.run() }
        }
        func stop() {
            loop.stop()
            thread?.join()
            thread = nil
        }
    }

    static let lsr: UInt64 = 5
    static let dataReady: UInt8 = 0x01

    @Test func hungUpInputWaitsForTheGuestWithoutSpinning() throws {
        var fds: [Int32] = [-1, -1]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        // More than one read's worth, then the writer goes: EPOLLHUP from here on.
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        let written = data.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        try #require(written == data.count)
        close(fds[1])

        let console = try ConsoleInput(input: fds[0], seccomp: false)
        let serial = Serial16550(interrupt: NoInterrupt(), output: NoOutput(),
                                 onReceiveSpace: { console.receiveSpaceAvailable() })
        let loop = try EventLoop()
        try console.attach(serial: serial, to: loop, stop: StopCoordinator())
        let running = try RunningLoop(loop)

        // The guest reads nothing for a while: the loop must sit idle.
        usleep(200_000)
        let idleDispatches = loop.dispatched
        #expect(idleDispatches <= 3, "handlers ran \(idleDispatches) times while the guest read nothing")

        // The guest drains its FIFO: every byte arrives, in order.
        var received: [UInt8] = []
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(10))
        while received.count < data.count && clock.now < deadline {
            var status: UInt8 = 0
            withUnsafeMutableBytes(of: &status) { serial.read(offset: Self.lsr, data: $0) }
            guard status & Self.dataReady != 0 else {
                usleep(100)
                continue
            }
            var byte: UInt8 = 0
            withUnsafeMutableBytes(of: &byte) { serial.read(offset: 0, data: $0) }
            received.append(byte)
        }
        running.stop()
        #expect(received.count == data.count)
        #expect(received.elementsEqual(data), "bytes lost or out of order")
    }

    /// /dev/null has nothing to forward: no reader thread; a regular file still gets one.
    @Test func nullInputStartsNoReaderButAFileDoes() throws {
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(null >= 0)
        defer { close(null) }
        #expect(ConsoleInput.isNullDevice(null))
        let nullConsole = try ConsoleInput(input: null, seccomp: false)
        let serial = Serial16550(interrupt: NoInterrupt(), output: NoOutput(), onReceiveSpace: {})
        #expect(try nullConsole.attach(serial: serial, to: EventLoop(), stop: StopCoordinator()) == false)

        var template = Array("/tmp/kiln-console-XXXXXX".utf8CString)
        let file = mkstemp(&template)
        try #require(file >= 0)
        defer { close(file); unlink(template) }
        #expect(!ConsoleInput.isNullDevice(file))
        let zero = open("/dev/zero", O_RDONLY | O_CLOEXEC)
        try #require(zero >= 0)
        defer { close(zero) }
        #expect(!ConsoleInput.isNullDevice(zero), "/dev/zero (1, 5) is not /dev/null")
        let stop = StopCoordinator()
        let fileConsole = try ConsoleInput(input: file, seccomp: false)
        // An empty file: the reader starts, reads end of file at once and ends.
        #expect(try fileConsole.attach(serial: serial, to: EventLoop(), stop: stop) == true)
    }
}
