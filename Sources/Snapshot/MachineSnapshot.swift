import CKiln
import KVM

/// Everything in a state file: the guest memory layout, KVM's VM and vCPU state, and opaque
/// sections (device and VMM state, encoded by their owners). Sections named `kiln.*` and
/// `kvm.*` are this type's own; every other name is free for devices ("dev.serial", ...).
public struct MachineSnapshot: Sendable {
    public enum MemoryKind: UInt8, Sendable, Equatable {
        /// The memory file holds all of guest memory.
        case full = 0
        /// The memory file holds only the pages in `dirtyPages`, at the offsets a full file
        /// would use; merge it onto its base (`MemoryFile.merge`) before restoring.
        case diff = 1
    }

    public var memory: [MemoryFileRange]
    public var memoryKind: MemoryKind
    /// One bitmap per memory range for a diff snapshot; nil for a full one.
    public var dirtyPages: [DirtyBitmap]?
    public var vm: VMState
    public var vcpus: [VcpuState]
    /// Device and VMM sections, in the order they were added.
    public var opaqueSections: [(name: String, bytes: [UInt8])]

    public init(memory: [MemoryFileRange], memoryKind: MemoryKind = .full, dirtyPages: [DirtyBitmap]? = nil,
                vm: VMState, vcpus: [VcpuState], opaqueSections: [(name: String, bytes: [UInt8])] = []) {
        self.memory = memory
        self.memoryKind = memoryKind
        self.dirtyPages = dirtyPages
        self.vm = vm
        self.vcpus = vcpus
        self.opaqueSections = opaqueSections
    }

    public static let memorySection = "kiln.memory"
    public static let dirtySection = "kiln.dirty"
    public static let vmSection = "kvm.vm"
    public static func vcpuSection(_ index: Int) -> String { "kvm.vcpu.\(index)" }
    public static let maxMemoryRanges = 64

    public func opaqueSection(_ name: String) -> [UInt8]? { opaqueSections.first { $0.name == name }?.bytes }

    /// The CPUID the guest saw (vCPU 0's), for `CPUCompatibilityPolicy.check`.
    public var guestCPUID: [kvm_cpuid_entry2] { vcpus.first?.cpuid ?? [] }

    public func encoded() throws(SnapshotError) -> [UInt8] {
        try MemoryFileRange.validate(memory)
        var container = SnapshotContainer()
        var layout = ByteWriter()
        layout.u8(memoryKind.rawValue)
        layout.u32(UInt32(memory.count))
        for range in memory {
            layout.u64(range.guestAddress)
            layout.u64(range.size)
            layout.u64(range.fileOffset)
        }
        try container.add(Self.memorySection, layout.bytes)
        if memoryKind == .diff {
            guard let dirtyPages, dirtyPages.count == memory.count else {
                throw .malformed("a diff snapshot needs one dirty bitmap per memory range")
            }
            var dirty = ByteWriter()
            for bitmap in dirtyPages {
                dirty.u32(UInt32(bitmap.words.count))
                for word in bitmap.words { dirty.u64(word) }
            }
            try container.add(Self.dirtySection, dirty.bytes)
        }
        try container.add(Self.vmSection, KVMStateCodec.encode(vm))
        for (index, vcpu) in vcpus.enumerated() { try container.add(Self.vcpuSection(index), KVMStateCodec.encode(vcpu)) }
        for (name, bytes) in opaqueSections {
            guard !name.hasPrefix("kiln."), !name.hasPrefix("kvm.") else { throw .malformed("section name \(name) is reserved") }
            try container.add(name, bytes)
        }
        return try container.encoded()
    }

    /// Decodes and validates an untrusted state file image (checksum first, see
    /// `SnapshotContainer.decode`). CPU compatibility is a separate step (it needs the host).
    public static func decode(_ bytes: [UInt8]) throws(SnapshotError) -> MachineSnapshot {
        let container = try SnapshotContainer.decode(bytes)
        var layout = ByteReader(try container.requiredSection(memorySection), context: memorySection)
        guard let kind = MemoryKind(rawValue: try layout.u8("memory kind")) else { throw .malformed("unknown memory kind") }
        let rangeCount = try layout.count("memory ranges", limit: maxMemoryRanges, elementSize: 24)
        var memory: [MemoryFileRange] = []
        for index in 0..<rangeCount {
            memory.append(MemoryFileRange(guestAddress: try layout.u64("range \(index) guest address"),
                                          size: try layout.u64("range \(index) size"),
                                          fileOffset: try layout.u64("range \(index) file offset")))
        }
        try layout.finish()
        try MemoryFileRange.validate(memory)

        var dirtyPages: [DirtyBitmap]?
        if kind == .full, container.section(dirtySection) != nil { throw .malformed("a full snapshot with dirty bitmaps") }
        if kind == .diff {
            var reader = ByteReader(try container.requiredSection(dirtySection), context: dirtySection)
            var bitmaps: [DirtyBitmap] = []
            for range in memory {
                let pages = Int(range.size / DirtyBitmap.pageSize)   // validate() bounds the size
                let expected = (pages + 63) / 64
                let count = try reader.count("dirty bitmap words", limit: expected, elementSize: 8)
                guard count == expected else { throw .malformed("dirty bitmap of \(count) words for \(pages) pages") }
                var words: [UInt64] = []
                words.reserveCapacity(count)
                for _ in 0..<count { words.append(try reader.u64("dirty bitmap word")) }
                bitmaps.append(DirtyBitmap(pageCount: pages, words: words))
            }
            try reader.finish()
            dirtyPages = bitmaps
        }

        let vm = try KVMStateCodec.decodeVM(try container.requiredSection(vmSection))
        var vcpus: [VcpuState] = []
        while let bytes = container.section(vcpuSection(vcpus.count)) {
            guard vcpus.count < KVMStateCodec.maxVcpus else { throw .malformed("more than \(KVMStateCodec.maxVcpus) vCPUs") }
            let vcpu = try KVMStateCodec.decodeVcpu(bytes, context: vcpuSection(vcpus.count))
            guard vcpu.id == UInt32(vcpus.count) else { throw .malformed("\(vcpuSection(vcpus.count)) holds vCPU \(vcpu.id)") }
            vcpus.append(vcpu)
        }
        guard !vcpus.isEmpty else { throw .missingSection(vcpuSection(0)) }
        let known = Set([memorySection, dirtySection, vmSection] + (0..<vcpus.count).map(vcpuSection))
        var opaque: [(name: String, bytes: [UInt8])] = []
        for (name, bytes) in container.sections where !known.contains(name) {
            guard !name.hasPrefix("kiln."), !name.hasPrefix("kvm.") else { throw .malformed("unexpected section \(name)") }
            opaque.append((name, bytes))
        }
        return MachineSnapshot(memory: memory, memoryKind: kind, dirtyPages: dirtyPages, vm: vm, vcpus: vcpus,
                               opaqueSections: opaque)
    }
}
