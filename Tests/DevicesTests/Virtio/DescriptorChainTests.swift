import Devices
import GuestMemory
import TestSupport
import Testing

/// Chains as the device sees them, built by the mock driver in a 1 MiB guest memory.
@Suite struct DescriptorChainTests {
    let recorder = ChainRecorder(queueMaxSizes: [16])
    let driver: MockVirtioDriver
    let queue: MockQueue

    init() {
        driver = MockVirtioDriver(device: recorder)
        queue = driver.start()[0]
    }

    func run() -> ChainRecorder.Walk? {
        queue.notify()
        return recorder.walks.last
    }

    func descriptor(_ buffer: MockBuffer, next: Bool = false) -> Descriptor {
        Descriptor(address: buffer.address, length: buffer.length,
                   flags: (buffer.deviceWritable ? 2 : 0) | (next ? 1 : 0))
    }

    @Test func directChainYieldsEveryBufferInOrder() {
        let a = driver.readable([1, 2, 3]), b = driver.writable(5), c = driver.writable(7)
        let head = queue.submit([a, b, c])
        #expect(run() == .chain(head: head, [descriptor(a, next: true), descriptor(b, next: true), descriptor(c)]))
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(head), length: 12)])
    }

    @Test func indirectChainIsFollowed() {
        let a = driver.readable([1]), b = driver.writable(9)
        let head = queue.submitIndirect([a, b])
        #expect(run() == .chain(head: head, [descriptor(a, next: true), descriptor(b)]))
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(head), length: 9)])
    }

    @Test func directDescriptorsMayPrecedeAnIndirectTable() {
        let a = driver.readable([1]), b = driver.writable(3)
        let table = queue.writeIndirectTable([b])
        let head = queue.reserveDescriptors(2)
        queue.writeDescriptor(head, address: a.address, length: a.length, flags: 1, next: head + 1)
        queue.writeDescriptor(head + 1, address: table, length: 16, flags: Descriptor.flagIndirect)
        queue.makeAvailable(head)
        #expect(run() == .chain(head: head, [descriptor(a, next: true), descriptor(b)]))
    }

    @Test func zeroLengthBuffersAreYielded() {
        let empty = MockBuffer(address: GuestAddress(0x8000), length: 0, deviceWritable: true)
        let head = queue.submit([empty, empty])
        #expect(run() == .chain(head: head, [descriptor(empty, next: true), descriptor(empty)]))
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(head), length: 0)])
    }

    @Test func bufferEndingExactlyAtEndOfRAMIsValid() {
        let end = driver.memoryEnd.rawValue
        let last = MockBuffer(address: GuestAddress(end - 16), length: 16, deviceWritable: true)
        let head = queue.submit([last])
        #expect(run() == .chain(head: head, [descriptor(last)]))
    }

    @Test(arguments: [
        (UInt64(1 << 20), UInt32(1)),             // starts at the end of RAM
        (UInt64(1 << 20) - 8, UInt32(9)),         // runs one byte past it
        (UInt64(0x1000), UInt32.max),             // length reaching past RAM
        (UInt64.max - 7, UInt32(16)),             // address + length wraps 2^64
        (UInt64.max, UInt32(1)),
        (UInt64(1) << 40, UInt32(0)),             // zero length, but nowhere near RAM
    ])
    func buffersOutsideRAMEndTheChain(address: UInt64, length: UInt32) {
        let good = driver.readable([1])
        let bad = MockBuffer(address: GuestAddress(address), length: length, deviceWritable: true)
        let head = queue.submit([good, bad])
        #expect(run() == .failed(head: head, .outOfRange(address: address, length: length), yielded: 1))
        // The chain is still returned, with nothing written, and the queue lives on.
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(head), length: 0)])
        let fine = driver.writable(2)
        let next = queue.submit([fine])
        #expect(run() == .chain(head: next, [descriptor(fine)]))
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(next), length: 2)])
        #expect(!driver.status.contains(.needsReset))
    }

    @Test func descriptorLoopEndsAfterQueueSizeSteps() {
        let buffer = driver.writable(1)
        queue.writeDescriptor(3, address: buffer.address, length: 1, flags: 3, next: 4)
        queue.writeDescriptor(4, address: buffer.address, length: 1, flags: 3, next: 3)
        queue.makeAvailable(3)
        // Exactly queue-size descriptors come out, then the walk stops.
        #expect(run() == .failed(head: 3, .tooLong(limit: 16), yielded: 16))
        #expect(queue.takeUsed() == [UsedElement(id: 3, length: 0)])
    }

    @Test func selfLoopEnds() {
        let buffer = driver.writable(1)
        queue.writeDescriptor(0, address: buffer.address, length: 1, flags: 3, next: 0)
        queue.makeAvailable(0)
        #expect(run() == .failed(head: 0, .tooLong(limit: 16), yielded: 16))
    }

    @Test func loopInsideAnIndirectTableEnds() {
        let buffer = driver.writable(1)
        let table = driver.allocate(32, alignment: 16)
        queue.writeDescriptor(0, address: buffer.address, length: 1, flags: 3, next: 1, table: table)
        queue.writeDescriptor(1, address: buffer.address, length: 1, flags: 3, next: 0, table: table)
        queue.writeDescriptor(5, address: table, length: 32, flags: Descriptor.flagIndirect)
        queue.makeAvailable(5)
        #expect(run() == .failed(head: 5, .tooLong(limit: 16), yielded: 16))
    }

    @Test func nextBeyondTheTableEndsTheChain() {
        let buffer = driver.writable(1)
        queue.writeDescriptor(2, address: buffer.address, length: 1, flags: 3, next: 16)
        queue.makeAvailable(2)
        #expect(run() == .failed(head: 2, .nextOutOfRange(next: 16, tableSize: 16)))
    }

    @Test func nextBeyondAnIndirectTableEndsTheChain() {
        let buffer = driver.writable(1)
        let table = driver.allocate(32, alignment: 16)
        queue.writeDescriptor(0, address: buffer.address, length: 1, flags: 3, next: 2, table: table)
        queue.writeDescriptor(7, address: table, length: 32, flags: Descriptor.flagIndirect)
        queue.makeAvailable(7)
        // The bad link is caught with the descriptor that holds it, before it is yielded.
        #expect(run() == .failed(head: 7, .nextOutOfRange(next: 2, tableSize: 2)))
    }

    @Test func indirectTableInsideIndirectTableIsRefused() {
        let inner = queue.writeIndirectTable([driver.writable(4)])
        let outer = driver.allocate(16, alignment: 16)
        queue.writeDescriptor(0, address: inner, length: 16, flags: Descriptor.flagIndirect, table: outer)
        queue.writeDescriptor(1, address: outer, length: 16, flags: Descriptor.flagIndirect)
        queue.makeAvailable(1)
        #expect(run() == .failed(head: 1, .nestedIndirect))
    }

    @Test func indirectDescriptorWithNextIsRefused() {
        let table = queue.writeIndirectTable([driver.writable(4)])
        queue.writeDescriptor(0, address: table, length: 16, flags: Descriptor.flagIndirect | 1, next: 1)
        queue.makeAvailable(0)
        #expect(run() == .failed(head: 0, .indirectWithNext))
    }

    @Test(arguments: [0, 8, 24, 17 * 16] as [UInt32])
    func indirectTableLengthMustBeWholeDescriptorsAndFitTheQueue(length: UInt32) {
        let table = driver.allocate(Int(17 * 16), alignment: 16)
        queue.writeDescriptor(0, address: table, length: length, flags: Descriptor.flagIndirect)
        queue.makeAvailable(0)
        #expect(run() == .failed(head: 0, .invalidIndirectLength(length)))
    }

    @Test func indirectTableOutsideRAMIsRefused() {
        queue.writeDescriptor(0, address: GuestAddress(UInt64.max - 15), length: 32, flags: Descriptor.flagIndirect)
        queue.makeAvailable(0)
        #expect(run() == .failed(head: 0, .outOfRange(address: UInt64.max - 15, length: 32)))
    }

    @Test func indirectNeedsTheFeature() {
        let recorder = ChainRecorder()
        let driver = MockVirtioDriver(device: recorder)
        let queue = driver.start(features: VirtioFeature.version1)[0]
        queue.submitIndirect([driver.writable(4)])
        queue.notify()
        #expect(recorder.walks == [.failed(head: 0, .indirectNotNegotiated)])
    }

    @Test func writeFlagOnTheIndirectDescriptorIsIgnored() {
        let b = driver.readable([5])
        let table = queue.writeIndirectTable([b])
        queue.writeDescriptor(0, address: table, length: 16, flags: Descriptor.flagIndirect | Descriptor.flagWrite)
        queue.makeAvailable(0)
        #expect(run() == .chain(head: 0, [descriptor(b)]))
    }

    @Test func chainOfExactlyQueueSizeIsAllowed() {
        let buffers = (0..<16).map { _ in driver.writable(1) }
        let head = queue.submit(buffers)
        guard case let .chain(_, descriptors) = run() else { Issue.record("chain refused"); return }
        #expect(descriptors.count == 16)
        #expect(queue.takeUsed() == [UsedElement(id: UInt32(head), length: 16)])
    }

    @Test func indirectTableOfQueueSizeIsAllowed() {
        let buffers = (0..<16).map { _ in driver.writable(1) }
        queue.submitIndirect(buffers)
        guard case let .chain(_, descriptors) = run() else { Issue.record("chain refused"); return }
        #expect(descriptors.count == 16)
    }

    @Test func descriptorsAreCopiedWhenYielded() {
        // The walk reads each descriptor once: rewriting the table afterwards changes nothing
        // already yielded (the device validated the copy).
        let device = ChainRecorder()
        let driver = MockVirtioDriver(device: device)
        let queue = driver.start()[0]
        let a = driver.writable(4)
        queue.submit([a])
        queue.notify()
        queue.writeDescriptor(0, address: GuestAddress(UInt64.max), length: 1, flags: 2)
        #expect(device.walks == [.chain(head: 0, [descriptor(a)])])
    }
}
