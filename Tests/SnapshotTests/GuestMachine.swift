import CKiln
import Foundation
import GuestMemory
import KVM
import Snapshot
@testable import VMM
import X86Boot

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A one-vCPU machine for the snapshot tests, run on the test's own thread: the booted
/// original (X86Boot loads a guest from Tests/Guests) or a clone restored from a snapshot.
/// Its only device is a serial port that never fills up (LSR always "transmitter empty");
/// between `run` calls the vCPU is outside KVM_RUN, i.e. paused.
final class GuestMachine {
    static let tssAddress: UInt64 = 0xfffb_d000
    static let identityMapAddress: UInt64 = 0xfffb_c000

    let kvm: Kvm
    let vm: VirtualMachine
    let vcpu: Vcpu
    let ranges: [HostMemoryRange]
    let support: VcpuStateSupport
    /// Owns the mappings in `ranges`: fresh memory (booted) or the memory file mapped
    /// copy-on-write (restored), as the VMM maps them.
    private let memoryOwner: GuestMemory
    private(set) var output: [UInt8] = []
    /// KVM_KVMCLOCK_CTRL's answer after a restore: true when the guest had kvmclock enabled.
    private(set) var clockNotified: Bool?

    private init(kvm: Kvm, vm: VirtualMachine, vcpu: Vcpu, ranges: [HostMemoryRange], memoryOwner: GuestMemory) {
        self.kvm = kvm
        self.vm = vm
        self.vcpu = vcpu
        self.ranges = ranges
        self.memoryOwner = memoryOwner
        self.support = vm.stateSupport()
    }

    /// Memory slots go in first, then the irqchip and PIT, as the VMM builds a machine.
    private static func makeVM(_ kvm: Kvm, ranges: [HostMemoryRange], logDirtyPages: Bool) throws -> VirtualMachine {
        let vm = try kvm.createVM()
        for (slot, range) in ranges.enumerated() {
            try vm.setUserMemoryRegion(slot: UInt32(slot), guestAddress: range.guestAddress, size: range.size,
                                       hostAddress: range.host, logDirtyPages: logDirtyPages)
        }
        try vm.setTSSAddress(tssAddress)
        try vm.setIdentityMapAddress(identityMapAddress)
        try vm.createIRQChip()
        try vm.createPIT2()
        return vm
    }

    static func boot(guest name: String, memoryMiB: UInt64 = 32, logDirtyPages: Bool = false) throws -> GuestMachine {
        let kvm = try Kvm()
        let memory = try GuestMemory(layout: GuestRAM.layout(mebibytes: memoryMiB))
        let ranges = memory.regions.map { HostMemoryRange(guestAddress: $0.start.rawValue, size: $0.size, host: $0.host) }
        let vm = try makeVM(kvm, ranges: ranges, logDirtyPages: logDirtyPages)
        let image = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try TestGuests.path(name))))
        let kernel = try image.withUnsafeBytes { try KernelLoader.load($0, into: memory) }
        let boot = try BootConfigurator.configure(memory: memory, kernel: kernel, initrd: nil, commandLine: "", vcpuCount: 1)
        let vcpu = try vm.createVcpu(id: 0)
        let supported = try kvm.supportedCPUID().map(CPUIDConversion.entry)
        try vcpu.setCPUID(try CPUID.adjust(supported, vcpuIndex: 0, vcpuCount: 1).map(CPUIDConversion.kvmEntry))
        try BootVcpuSetup.apply(boot.cpu, to: vcpu, hostMSRs: try kvm.msrIndexList())
        try vcpu.configureLocalInterrupts()
        return GuestMachine(kvm: kvm, vm: vm, vcpu: vcpu, ranges: ranges, memoryOwner: memory)
    }

    /// A new VM and vCPU from `snapshot`, its memory mapped MAP_PRIVATE from `memoryPath`:
    /// the order a VMM's restore follows (VM state before vCPU state, kvmclock told last).
    static func restore(_ snapshot: MachineSnapshot, memoryPath: String, logDirtyPages: Bool = false) throws -> GuestMachine {
        let kvm = try Kvm()
        try CPUCompatibilityPolicy.strict.check(saved: snapshot.guestCPUID, host: try kvm.guestVisibleCPUID())
        let memory = try mapMemoryFile(memoryPath, layout: snapshot.memory)
        let ranges = memory.regions.map { HostMemoryRange(guestAddress: $0.start.rawValue, size: $0.size, host: $0.host) }
        let vm = try makeVM(kvm, ranges: ranges, logDirtyPages: logDirtyPages)
        try vm.restoreState(snapshot.vm)
        let machine = GuestMachine(kvm: kvm, vm: vm, vcpu: try vm.createVcpu(id: 0), ranges: ranges, memoryOwner: memory)
        try machine.vcpu.restoreState(snapshot.vcpus[0], support: machine.support)
        machine.clockNotified = try machine.vcpu.notifyClockStopped()
        return machine
    }

    /// The memory file of a snapshot mapped as the VMM's restore maps it (GuestMemory's
    /// copy-on-write file mapping; the layout's ranges lie back to back in the file).
    static func mapMemoryFile(_ path: String, layout: [MemoryFileRange]) throws -> GuestMemory {
        try MemoryFileRange.validate(layout)
        guard layout == MemoryFileRange.contiguous(layout.map { ($0.guestAddress, $0.size) }) else {
            throw TestFailure("the memory ranges are not back to back in the file")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TestFailure("open \(path): errno \(errno)") }
        defer { close(fd) }
        return try GuestMemory(layout: layout.map { (GuestAddress($0.guestAddress), $0.size) }, file: fd)
    }

    /// Runs until `lines` more complete lines of serial output have arrived (or `deadline`).
    func run(lines: Int, seconds: Double = 30) throws {
        let target = output.count(where: { $0 == 0x0a }) + lines
        let deadline = Date().addingTimeInterval(seconds)
        while output.count(where: { $0 == 0x0a }) < target {
            guard Date() < deadline else { throw TestFailure("guest did not print \(lines) lines in \(seconds) s: \(text)") }
            switch try vcpu.runOnce() {
            case let .ioOut(port, _, data) where port == 0x3f8:
                output.append(contentsOf: data)
            case let .ioIn(port, _, data) where port == 0x3fd:
                data.storeBytes(of: 0x60, as: UInt8.self)   // THR empty, transmitter idle
            case .ioIn(_, _, let data):
                for index in data.indices { data[index] = 0xff }
            case .ioOut, .interrupted:
                continue
            case let exit:
                throw TestFailure("unexpected \(exit.reasonName) at rip 0x\(String((try? vcpu.registers().rip) ?? 0, radix: 16)); output: \(text)")
            }
        }
    }

    var text: String { String(decoding: output, as: UTF8.self) }
    var lines: [String] { text.split(separator: "\n").map(String.init) }

    /// Everything of the paused machine: KVM state and the memory layout (the memory itself
    /// goes to a memory file separately).
    func capture(kind: MachineSnapshot.MemoryKind = .full, dirty: [DirtyBitmap]? = nil) throws -> MachineSnapshot {
        try vcpu.completePendingExit()
        let candidates = SnapshotMSRs.candidates(hostIndexList: try kvm.msrIndexList())
        let vcpuState = try vcpu.captureState(msrCandidates: candidates, support: support)
        return MachineSnapshot(memory: MemoryFileRange.contiguous(ranges.map { ($0.guestAddress, $0.size) }),
                               memoryKind: kind, dirtyPages: dirty, vm: try vm.captureState(), vcpus: [vcpuState],
                               opaqueSections: [("dev.serial", Array("serial state".utf8))])
    }

    func dirtyLog() throws -> [DirtyBitmap] {
        try ranges.indices.map { try vm.dirtyLog(slot: UInt32($0), size: ranges[$0].size) }
    }
}

/// Tests/Guests, built once per test process.
enum TestGuests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    nonisolated(unsafe) private static var built = false
    private static let lock = NSLock()

    static func path(_ name: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let directory = packageRoot.appendingPathComponent("Tests/Guests").path
        if !built {
            let make = Process()
            // Under the lock the other test modules take: concurrent makes race in a fresh clone.
            make.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            make.arguments = [directory + "/Makefile", "/usr/bin/make", "-s", "-C", directory]
            try make.run()
            make.waitUntilExit()
            guard make.terminationStatus == 0 else { throw TestFailure("make -C \(directory) failed") }
            built = true
        }
        return directory + "/build/" + name
    }
}

/// A scratch directory removed when the test ends.
final class ScratchDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "kiln-snapshot-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}
