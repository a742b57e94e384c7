import CKiln
import Foundation
import KVM
import Snapshot
import Testing

/// Snapshot and restore of a running guest on this machine's /dev/kvm: counter.elf counts in
/// ring 3 with one copy of the count in xmm0; a clone restored into a new VM from the state
/// file and a MAP_PRIVATE memory file must print the next numbers, both copies agreeing.
@Suite(.serialized) struct RestoreTests {
    @Test func restoredCloneContinuesExactlyWhereTheOriginalStopped() throws {
        let scratch = try ScratchDirectory()
        let original = try GuestMachine.boot(guest: "counter.elf")
        try original.run(lines: 3 + 25)   // XSAVE, KVMCLOCK, CPL, then 25 counts
        #expect(Array(original.lines.prefix(3)) == ["XSAVE on", "KVMCLOCK 0x2ff001", "CPL 3"])
        let last = try lastCount(original.lines)
        #expect(last == 24)

        let saved = try original.capture()
        _ = try MemoryFile.writeFull(original.ranges, toPath: scratch.file("mem"))
        try StateFile.write(saved, toPath: scratch.file("state"))

        let loaded = try StateFile.read(path: scratch.file("state"))
        let clone = try GuestMachine.restore(loaded, memoryPath: scratch.file("mem"))
        #expect(clone.clockNotified == true, "the guest enabled kvmclock: KVM_KVMCLOCK_CTRL should reach it")
        try expectSameState(try clone.vcpu.captureState(msrCandidates: saved.vcpus[0].msrs.map(\.index), support: clone.support),
                            saved.vcpus[0])

        try clone.run(lines: 10)
        #expect(clone.lines == (last + 1...last + 10).map { "COUNT \($0) XMM \($0)" })
        // The original was not changed by the snapshot: it runs on the same way.
        try original.run(lines: 10)
        #expect(Array(original.lines.suffix(10)) == clone.lines)
    }

    @Test func stateReadBackFromAPausedGuestRoundTripsThroughTheFileFormat() throws {
        let machine = try GuestMachine.boot(guest: "counter.elf")
        try machine.run(lines: 5)
        let snapshot = try machine.capture()
        let state = snapshot.vcpus[0]
        // The guest enabled these; the capture must have them.
        #expect(state.xsave != nil, "XSAVE not captured (support: \(machine.support))")
        #expect(state.xcrs.map { $0.xcrs.0.value } == 3, "XCR0 should be x87|SSE")
        #expect(state.msrs.contains(MSREntry(index: 0x4b56_4d01, value: 0x2f_f001)), "kvmclock MSR missing")
        #expect(state.msrs.first?.index == SnapshotMSRs.tsc)
        #expect(state.sregs.cs.selector & 3 == 3, "captured outside ring 3?")

        let bytes = try snapshot.encoded()
        let decoded = try MachineSnapshot.decode(bytes)
        #expect(try decoded.encoded() == bytes)
        try expectSameState(decoded.vcpus[0], state, exact: true)
        #expect(rawEqual(decoded.vm.picMaster, snapshot.vm.picMaster))
        #expect(rawEqual(decoded.vm.picSlave, snapshot.vm.picSlave))
        #expect(rawEqual(decoded.vm.ioapic, snapshot.vm.ioapic))
        #expect(rawEqual(decoded.vm.pit, snapshot.vm.pit))
        #expect(rawEqual(decoded.vm.clock, snapshot.vm.clock))
        #expect(decoded.memory == snapshot.memory)
        #expect(decoded.opaqueSection("dev.serial") == Array("serial state".utf8))
    }

    @Test func kvmclockControlIsToleratedWithoutKvmclock() throws {
        // A fresh vCPU whose guest never enabled kvmclock: KVM answers EINVAL, reported as false.
        let vm = try Kvm().createVM()
        try vm.createIRQChip()
        let vcpu = try vm.createVcpu(id: 0)
        #expect(try vcpu.notifyClockStopped() == false)
    }

    // MARK: helpers

    private func lastCount(_ lines: [String]) throws -> Int {
        guard let line = lines.last, line.hasPrefix("COUNT "), let n = Int(line.split(separator: " ")[1]) else {
            throw TestFailure("no COUNT line at the end: \(lines.suffix(3))")
        }
        return n
    }
}

/// Raw bytes of two kernel structures are equal.
func rawEqual<T>(_ a: T, _ b: T) -> Bool {
    withUnsafeBytes(of: a) { x in withUnsafeBytes(of: b) { y in x.elementsEqual(y) } }
}

/// Compares a vCPU state read back from KVM with the one saved. Read back from a restored
/// vCPU (`exact` false), the TSC has moved on and the LAPIC timer's current count is live;
/// everything else must be identical.
func expectSameState(_ actual: VcpuState, _ expected: VcpuState, exact: Bool = false,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(actual.id == expected.id, sourceLocation: sourceLocation)
    #expect(actual.cpuid.count == expected.cpuid.count && zip(actual.cpuid, expected.cpuid).allSatisfy(rawEqual),
            "CPUID differs", sourceLocation: sourceLocation)
    #expect(actual.mpState == expected.mpState, sourceLocation: sourceLocation)
    #expect(rawEqual(actual.regs, expected.regs), "regs: rip 0x\(String(actual.regs.rip, radix: 16)) vs 0x\(String(expected.regs.rip, radix: 16))",
            sourceLocation: sourceLocation)
    #expect(rawEqual(actual.sregs, expected.sregs), "sregs differ", sourceLocation: sourceLocation)
    #expect(rawEqual(actual.fpu, expected.fpu), "FPU differs", sourceLocation: sourceLocation)
    #expect(actual.xsave == expected.xsave, "XSAVE area differs", sourceLocation: sourceLocation)
    #expect(actual.xcrs.map { withUnsafeBytes(of: $0) { Array($0) } } == expected.xcrs.map { withUnsafeBytes(of: $0) { Array($0) } },
            "XCRs differ", sourceLocation: sourceLocation)
    #expect(actual.debugRegisters.map { withUnsafeBytes(of: $0) { Array($0) } }
            == expected.debugRegisters.map { withUnsafeBytes(of: $0) { Array($0) } }, "debug registers differ", sourceLocation: sourceLocation)
    #expect(actual.events.map { withUnsafeBytes(of: $0) { Array($0) } } == expected.events.map { withUnsafeBytes(of: $0) { Array($0) } },
            "vCPU events differ", sourceLocation: sourceLocation)
    #expect(actual.tscKHz == expected.tscKHz, sourceLocation: sourceLocation)
    var actualLAPIC = actual.lapic, expectedLAPIC = expected.lapic
    if !exact {
        let timerCurrentCount: UInt32 = 0x390
        kiln_lapic_set(&actualLAPIC, timerCurrentCount, 0)
        kiln_lapic_set(&expectedLAPIC, timerCurrentCount, 0)
    }
    #expect(rawEqual(actualLAPIC, expectedLAPIC), "LAPIC differs", sourceLocation: sourceLocation)
    let moving: Set<UInt32> = exact ? [] : [SnapshotMSRs.tsc]
    let differing = zip(actual.msrs, expected.msrs).filter { $0 != $1 && !moving.contains($1.index) }
    #expect(actual.msrs.map(\.index) == expected.msrs.map(\.index), "MSR sets differ", sourceLocation: sourceLocation)
    #expect(differing.isEmpty, "MSRs differ: \(differing.map { "0x\(String($1.index, radix: 16)): 0x\(String($0.value, radix: 16)) vs 0x\(String($1.value, radix: 16))" })",
            sourceLocation: sourceLocation)
}
