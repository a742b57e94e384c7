import CKiln
import Foundation
import KVM
import Snapshot
import Testing

/// The state file as hostile input: every corruption is refused with a typed error, none traps.
/// The state comes from a fresh VM and vCPU (no guest needs to run for this).
@Suite struct StateFileTests {
    /// A valid state file image from a VM at reset.
    static func freshSnapshot() throws -> MachineSnapshot {
        let kvm = try Kvm()
        let vm = try kvm.createVM()
        try vm.createIRQChip()
        try vm.createPIT2()
        let vcpu = try vm.createVcpu(id: 0)
        try vcpu.setCPUID(try kvm.supportedCPUID())
        let state = try vcpu.captureState(msrCandidates: SnapshotMSRs.candidates(hostIndexList: try kvm.msrIndexList()),
                                          support: vm.stateSupport())
        return MachineSnapshot(memory: [MemoryFileRange(guestAddress: 0, size: 1 << 20, fileOffset: 0)],
                               vm: try vm.captureState(), vcpus: [state],
                               opaqueSections: [("dev.virtio:0", [1, 2, 3]), ("vmm.config", Array("{}".utf8))])
    }

    @Test func crc64IsTheXZVariant() {
        #expect(CRC64.checksum(Array("123456789".utf8)) == 0x995D_C9BB_DF19_39FA)
        #expect(CRC64.checksum([UInt8]()) == 0)
    }

    @Test func everyStructureRoundTrips() throws {
        let snapshot = try Self.freshSnapshot()
        let bytes = try snapshot.encoded()
        let decoded = try MachineSnapshot.decode(bytes)
        try expectSameState(decoded.vcpus[0], snapshot.vcpus[0], exact: true)
        #expect(rawEqual(decoded.vm.picMaster, snapshot.vm.picMaster) && rawEqual(decoded.vm.ioapic, snapshot.vm.ioapic)
                && rawEqual(decoded.vm.picSlave, snapshot.vm.picSlave) && rawEqual(decoded.vm.pit, snapshot.vm.pit)
                && rawEqual(decoded.vm.clock, snapshot.vm.clock))
        #expect(decoded.opaqueSections.map(\.name) == ["dev.virtio:0", "vmm.config"])
        #expect(decoded.opaqueSection("dev.virtio:0") == [1, 2, 3])
        #expect(try decoded.encoded() == bytes)
    }

    @Test func diffSnapshotCarriesItsDirtyBitmaps() throws {
        var snapshot = try Self.freshSnapshot()
        var bitmap = DirtyBitmap(coveringBytes: 1 << 20)
        bitmap.markDirty(page: 3)
        bitmap.markDirty(offset: 0x10_0000 - 1, length: 1)
        snapshot.memoryKind = .diff
        snapshot.dirtyPages = [bitmap]
        let decoded = try MachineSnapshot.decode(try snapshot.encoded())
        #expect(decoded.memoryKind == .diff)
        #expect(decoded.dirtyPages == [bitmap])
        #expect(decoded.dirtyPages?[0].dirtyPages == [3, 255])
    }

    @Test func flippedBitsAreCaughtByTheChecksum() throws {
        let bytes = try Self.freshSnapshot().encoded()
        for position in stride(from: 24, to: bytes.count - 8, by: max(1, bytes.count / 97)) {
            var corrupt = bytes
            corrupt[position] ^= 0x10
            #expect {
                try MachineSnapshot.decode(corrupt)
            } throws: { error in
                guard case .checksumMismatch = error as? SnapshotError else { return false }
                return true
            }
        }
    }

    @Test func everyTruncationIsRefused() throws {
        let bytes = try Self.freshSnapshot().encoded()
        for length in Array(0..<64) + Array(stride(from: 64, to: bytes.count, by: 7)) {
            #expect(throws: SnapshotError.self) { try MachineSnapshot.decode(Array(bytes.prefix(length))) }
        }
        #expect(throws: SnapshotError.truncated(what: "file", needed: UInt64(bytes.count), available: UInt64(bytes.count - 1))) {
            try MachineSnapshot.decode(Array(bytes.dropLast()))
        }
        #expect(throws: SnapshotError.lengthMismatch(declared: UInt64(bytes.count), actual: UInt64(bytes.count + 1))) {
            try MachineSnapshot.decode(bytes + [0])
        }
    }

    @Test func badMagicAndWrongVersionAreRefusedByName() throws {
        var bytes = try Self.freshSnapshot().encoded()
        var magic = bytes
        magic[0] = UInt8(ascii: "X")
        #expect(throws: SnapshotError.badMagic) { try MachineSnapshot.decode(magic) }
        #expect(throws: SnapshotError.badMagic) { try MachineSnapshot.decode(Array("not a snapshot at all".utf8)) }
        bytes[8] = 2
        #expect(throws: SnapshotError.unsupportedVersion(found: 2, supported: 1)) { try MachineSnapshot.decode(bytes) }
    }

    /// Files crafted with a correct CRC but a lying structure.
    @Test func craftedTablesAreRefused() throws {
        let bytes = try Self.freshSnapshot().encoded()
        func resealed(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
            var body = Array(bytes.dropLast(8))
            edit(&body)
            let crc = CRC64.checksum(body)
            return body + withUnsafeBytes(of: crc.littleEndian) { Array($0) }
        }
        func put64(_ value: UInt64, at offset: Int, in b: inout [UInt8]) {
            for i in 0..<8 { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        func put32(_ value: UInt32, at offset: Int, in b: inout [UInt8]) {
            for i in 0..<4 { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
        }
        let entry0 = 24   // first table entry: name[40], offset, length, reserved
        let cases: [(String, [UInt8])] = [
            ("huge section count", resealed { put32(0xffff_ffff, at: 12, in: &$0) }),
            ("count past the file", resealed { put32(4000, at: 12, in: &$0) }),
            ("offset overflows", resealed { put64(UInt64.max - 2, at: entry0 + 40, in: &$0) }),
            ("length past the end", resealed { put64(1 << 40, at: entry0 + 48, in: &$0) }),
            ("offset inside the table", resealed { put64(0, at: entry0 + 40, in: &$0) }),
            ("reserved set", resealed { put64(1, at: entry0 + 56, in: &$0) }),
            ("bad name", resealed { $0[entry0] = 0x2f }),
            ("name with junk after NUL", resealed { $0[entry0 + 39] = 0x41; $0[entry0 + 38] = 0 }),
            ("duplicate name", resealed { for i in 0..<40 { $0[entry0 + 64 + i] = $0[entry0 + i] } }),
            ("overlapping sections", resealed { put64(UInt64($0[entry0 + 64 + 40]) | UInt64($0[entry0 + 64 + 41]) << 8, at: entry0 + 40, in: &$0)
                                                put64(64, at: entry0 + 48, in: &$0) }),
        ]
        for (name, file) in cases {
            #expect(throws: SnapshotError.self, "\(name) accepted") { try MachineSnapshot.decode(file) }
        }
    }

    /// Random byte changes with a recomputed CRC (what an attacker who knows the format can
    /// produce): each file is either decoded or refused with a SnapshotError, never a trap.
    @Test func resealedRandomMutationsNeverTrap() throws {
        let bytes = try Self.freshSnapshot().encoded()
        var generator = SplitMix64(seed: 0x6b69_6c6e)
        var refused = 0
        for _ in 0..<1000 {
            var body = Array(bytes.dropLast(8))
            for _ in 0..<Int(generator.next() % 4 + 1) {
                let position = Int(generator.next() % UInt64(body.count))
                body[position] = UInt8(truncatingIfNeeded: generator.next())
            }
            if generator.next() % 8 == 0 { body.removeLast(Int(generator.next() % UInt64(body.count))) }
            let file = body + withUnsafeBytes(of: CRC64.checksum(body).littleEndian) { Array($0) }
            do { _ = try MachineSnapshot.decode(file) } catch { refused += 1 }
        }
        #expect(refused > 0)
    }

    @Test func craftedSectionContentsAreRefused() throws {
        let snapshot = try Self.freshSnapshot()
        // Rebuild the container with one section replaced by hostile bytes.
        func replacing(_ name: String, with bytes: [UInt8]) throws -> [UInt8] {
            let original = try SnapshotContainer.decode(try snapshot.encoded())
            var container = SnapshotContainer()
            for (section, content) in original.sections { try container.add(section, section == name ? bytes : content) }
            return try container.encoded()
        }
        var vcpu = try SnapshotContainer.decode(try snapshot.encoded()).requiredSection("kvm.vcpu.0")
        let hostile: [(String, [UInt8])] = [
            ("kiln.memory", [0, 0xff, 0xff, 0xff, 0xff]),                       // range count 2^32-1
            ("kiln.memory", [0, 1, 0, 0, 0] + [UInt8](repeating: 0, count: 24)), // empty range
            ("kiln.memory", [7, 0, 0, 0, 0]),                                    // unknown kind
            ("kvm.vcpu.0", Array(vcpu.prefix(4)) + [0xff, 0xff, 0xff, 0x7f]),    // CPUID count way over
            ("kvm.vcpu.0", vcpu + [0]),                                          // trailing byte
            ("kvm.vcpu.0", Array(vcpu.dropLast())),                              // short
            ("kvm.vm", [0x10, 0, 0, 0] + [UInt8](repeating: 0, count: 16)),      // wrong structure size
        ]
        for (name, bytes) in hostile {
            #expect(throws: SnapshotError.self, "hostile \(name) accepted") { try MachineSnapshot.decode(try replacing(name, with: bytes)) }
        }
        vcpu[0] = 5   // vCPU section 0 claiming id 5
        #expect(throws: SnapshotError.malformed("kvm.vcpu.0 holds vCPU 5")) { try MachineSnapshot.decode(try replacing("kvm.vcpu.0", with: vcpu)) }
    }

    /// Counts that would make the reader allocate far more than the file holds are refused
    /// from the bytes left, before any allocation: a 1 TiB range's 2^22-word dirty bitmap
    /// claimed by a section of four bytes.
    @Test func countsLargerThanTheirDataAreRefusedBeforeAllocating() throws {
        let fresh = try SnapshotContainer.decode(try Self.freshSnapshot().encoded())
        var layout = ByteWriter()
        layout.u8(1)   // diff
        layout.u32(1)
        layout.u64(0)
        layout.u64(1 << 40)
        layout.u64(0)
        var dirty = ByteWriter()
        dirty.u32(1 << 22)
        var container = SnapshotContainer()
        try container.add("kiln.memory", layout.bytes)
        try container.add("kiln.dirty", dirty.bytes)
        for (name, bytes) in fresh.sections where name.hasPrefix("kvm.") { try container.add(name, bytes) }
        #expect {
            try MachineSnapshot.decode(try container.encoded())
        } throws: { error in
            guard case .truncated = error as? SnapshotError else { return false }
            return true
        }
    }

    @Test func cpuVendorAndFeaturePolicy() throws {
        let host = try Kvm().guestVisibleCPUID()
        let snapshot = try Self.freshSnapshot()
        try CPUCompatibilityPolicy.strict.check(saved: snapshot.guestCPUID, host: host)

        var otherVendor = snapshot.guestCPUID
        let leaf0 = try #require(otherVendor.firstIndex { $0.function == 0 })
        let isAMD = otherVendor[leaf0].ebx == 0x6874_7541
        // "GenuineIntel" <-> "AuthenticAMD"
        (otherVendor[leaf0].ebx, otherVendor[leaf0].edx, otherVendor[leaf0].ecx) =
            isAMD ? (0x756e_6547, 0x4965_6e69, 0x6c65_746e) : (0x6874_7541, 0x6974_6e65, 0x444d_4163)
        #expect {
            try CPUCompatibilityPolicy.strict.check(saved: otherVendor, host: host)
        } throws: { error in
            guard case .cpuVendorMismatch = error as? SnapshotError else { return false }
            return true
        }
        #expect(throws: Never.self) {
            try CPUCompatibilityPolicy(requireSameVendor: false, requireFeatureSubset: true).check(saved: otherVendor, host: host)
        }

        // A guest that saw a feature this host does not offer (leaf 7 EBX bit 31 is clear on
        // KVM's list unless the host has AVX512VL).
        var moreFeatures = snapshot.guestCPUID
        let hostLeaf7 = host.first { $0.function == 7 && $0.index == 0 }
        let leaf7 = try #require(moreFeatures.firstIndex { $0.function == 7 && $0.index == 0 })
        let offered = hostLeaf7?.ebx ?? 0
        let bit = try #require((0..<32).map { UInt32(1) << $0 }.first { offered & $0 == 0 })
        moreFeatures[leaf7].ebx |= bit
        #expect(throws: SnapshotError.cpuidMismatch(function: 7, index: 0, register: "ebx", missingBits: bit)) {
            try CPUCompatibilityPolicy.strict.check(saved: moreFeatures, host: host)
        }
    }

    @Test func stateFileOnDiskAndItsLimits() throws {
        let scratch = try ScratchDirectory()
        let snapshot = try Self.freshSnapshot()
        try StateFile.write(snapshot, toPath: scratch.file("state"))
        #expect(try StateFile.read(path: scratch.file("state")).encoded() == snapshot.encoded())
        #expect(throws: SnapshotError.file(operation: "open", path: scratch.file("missing"), errno: ENOENT)) {
            try StateFile.read(path: scratch.file("missing"))
        }
        // A sparse file larger than any state file is refused from its size, not read.
        let big = scratch.file("big")
        _ = FileManager.default.createFile(atPath: big, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
        try handle.truncate(atOffset: SnapshotContainer.maxFileSize + 1)
        try handle.close()
        #expect(throws: SnapshotError.tooLarge(what: "state file \(big)", size: SnapshotContainer.maxFileSize + 1,
                                               limit: SnapshotContainer.maxFileSize)) {
            try StateFile.read(path: big)
        }
    }

    @Test func reservedAndInvalidSectionNames() throws {
        var snapshot = try Self.freshSnapshot()
        snapshot.opaqueSections.append(("kvm.extra", []))
        #expect(throws: SnapshotError.malformed("section name kvm.extra is reserved")) { try snapshot.encoded() }
        var container = SnapshotContainer()
        #expect(throws: SnapshotError.self) { try container.add("has space", []) }
        #expect(throws: SnapshotError.self) { try container.add(String(repeating: "a", count: 41), []) }
        #expect(throws: SnapshotError.self) { try container.add("", []) }
        try container.add("ok", [])
        #expect(throws: SnapshotError.malformed("duplicate section ok")) { try container.add("ok", []) }
    }
}

/// Deterministic generator for the mutation test.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
