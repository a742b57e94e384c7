import Devices
import GuestMemory
import Synchronization

/// A device that walks every chain it is given and records what the walk produced, so queue
/// tests can see exactly which descriptors a chain yields or which error ends it. Each chain
/// is returned with used length = its device-writable bytes.
final class ChainRecorder: VirtioDevice {
    enum Walk: Equatable {
        case chain(head: UInt16, [Descriptor])
        /// `yielded` descriptors came out before the error.
        case failed(head: UInt16, DescriptorChainError, yielded: Int = 0)
    }

    let deviceType = VirtioDeviceType.entropy
    let features: UInt64 = 0
    let queueMaxSizes: [UInt16]
    let configSize = 0
    private let log = Mutex<[Walk]>([])
    private let activations = Mutex<[UInt64]>([])
    private let resets = Atomic<Int>(0)

    init(queueMaxSizes: [UInt16] = [16]) { self.queueMaxSizes = queueMaxSizes }

    var walks: [Walk] { log.withLock { $0 } }
    var activatedFeatures: [UInt64] { activations.withLock { $0 } }
    var resetCount: Int { resets.load(ordering: .relaxed) }

    func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer) {}
    func activate(features: UInt64) throws(VirtioActivationError) { activations.withLock { $0.append(features) } }
    func reset() { resets.add(1, ordering: .relaxed) }

    func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        while var chain = try queue.popChain(memory: memory) {
            var descriptors: [Descriptor] = []
            var written: UInt32 = 0
            do {
                while let descriptor = try chain.next() {
                    descriptors.append(descriptor)
                    if descriptor.isDeviceWritable { written &+= descriptor.length }
                }
                log.withLock { $0.append(.chain(head: chain.head, descriptors)) }
            } catch {
                log.withLock { [count = descriptors.count] in
                    $0.append(.failed(head: chain.head, error, yielded: count))
                }
                written = 0
            }
            try queue.addUsed(head: chain.head, length: written, memory: memory)
        }
    }
}

/// A device with a config space the driver can read and write, and an activation that can
/// be made to fail.
final class ConfigDevice: VirtioDevice {
    let deviceType = VirtioDeviceType.console
    let features: UInt64 = 1 << 0 | 1 << 35
    let queueMaxSizes: [UInt16] = [8, 4]
    let configSize = 12
    let failActivation: Bool
    private let bytes = Mutex<[UInt8]>(Array(0..<12))

    init(failActivation: Bool = false) { self.failActivation = failActivation }

    var config: [UInt8] { bytes.withLock { $0 } }

    func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer) {
        bytes.withLock { bytes in
            for index in data.indices { data[index] = bytes[offset + index] }
        }
    }

    func writeConfig(offset: Int, data: UnsafeRawBufferPointer) {
        bytes.withLock { bytes in
            for index in data.indices { bytes[offset + index] = data[index] }
        }
    }

    func activate(features: UInt64) throws(VirtioActivationError) {
        if failActivation { throw VirtioActivationError("backend gone") }
    }

    func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {}
}

/// A device for the transport's processing loop: it can leave buffers unconsumed (as a
/// receive queue with no host data does) and can run a closure after a pass, standing in for
/// a guest CPU that adds a buffer at that moment without kicking. Single-threaded tests only.
final class ScriptedDevice: VirtioDevice, @unchecked Sendable {
    let deviceType = VirtioDeviceType.network
    let features: UInt64 = 0
    let queueMaxSizes: [UInt16] = [8]
    let configSize = 0
    var consumes = true
    var afterPass: (() -> Void)?
    private(set) var passes = 0
    private(set) var consumed = 0

    func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer) {}

    func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        passes += 1
        while consumes, let chain = try queue.popChain(memory: memory) {
            consumed += 1
            try queue.addUsed(head: chain.head, length: 0, memory: memory)
        }
        let hook = afterPass
        afterPass = nil
        hook?()
    }
}

/// A device whose first pass takes nothing and runs `duringFirstPass` (a driver racing the
/// device from another vCPU); later passes use every chain.
final class RacingDriverDevice: VirtioDevice, @unchecked Sendable {
    let deviceType = VirtioDeviceType.entropy
    let features: UInt64 = 0
    let queueMaxSizes: [UInt16] = [8]
    let configSize = 0
    var duringFirstPass: (() -> Void)?
    private(set) var passes = 0

    func readConfig(offset: Int, into data: UnsafeMutableRawBufferPointer) {}
    func activate(features: UInt64) throws(VirtioActivationError) {}
    func reset() {}

    func processQueue(_ index: Int, queue: inout SplitQueue, memory: GuestMemory) throws(QueueError) {
        passes += 1
        if passes == 1 {
            duringFirstPass?()
            return
        }
        while let chain = try queue.popChain(memory: memory) {
            try queue.addUsed(head: chain.head, length: 0, memory: memory)
        }
    }
}
