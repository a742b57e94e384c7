import CHost
import Glibc
@testable import SandboxHost
import Testing

/// The `tap` record of a run directory names a TAP that removal deletes: only a record kiln
/// wrote (a regular file owned by kiln's uid, in a directory of kiln's) is believed, so a
/// planted record cannot make root delete another sandbox's TAP.
@Suite(.serialized) struct TapRecordTests {
    static var canCreateTaps: Bool { HostTap.privilegeProblem(procStatus: FileText.read("/proc/self/status")) == nil }

    func exists(_ tap: HostTap) -> Bool { if_nametoindex(tap.name) != 0 }

    @Test func foreignDirectoryRecordIsNotRead() throws {
        let scratch = TestDirectory()
        let name = "kiln-run.\(TestDirectory.deadPid()).planted"
        let dir = scratch.make(name, owner: otherUid)
        TestDirectory.write("\(dir)/tap", "kilntap16383\n", owner: otherUid)
        #expect(throws: SandboxHostError.self) { try RunDirectory(parent: scratch.path, name: name, private: true).remove() }
        #expect(Leftovers.removeStaleRuns(in: scratch.path).isEmpty)
        // Not even renamed for release: the directory was never opened as ours.
        #expect(TestDirectory.exists("\(dir)/tap") && !TestDirectory.exists("\(dir)/tap.releasing"))
    }

    @Test(.enabled(if: canCreateTaps)) func recordsNotOwnedByKilnDeleteNothing() throws {
        let tap = try HostTap.create(owner: nil)
        defer { try? tap.delete() }
        let scratch = TestDirectory()
        // A record owned by another uid in a directory of ours, and a link to a record.
        let first = try RunDirectory.create(in: scratch.path)
        TestDirectory.write(first.file("tap"), tap.name + "\n", owner: otherUid)
        try first.remove()
        #expect(exists(tap))
        let second = try RunDirectory.create(in: scratch.path)
        TestDirectory.write("\(scratch.path)/record", tap.name + "\n")
        #expect(symlink("\(scratch.path)/record", second.file("tap")) == 0)
        try second.remove()
        #expect(exists(tap))
        // A foreign directory's record, through the leftover sweep.
        let planted = scratch.make("kiln-run.\(TestDirectory.deadPid()).planted", owner: otherUid)
        TestDirectory.write("\(planted)/tap", tap.name + "\n", owner: otherUid)
        Leftovers.removeStaleRuns(in: scratch.path)
        #expect(exists(tap))
    }

    @Test(.enabled(if: canCreateTaps)) func ownRecordDeletesTheTap() throws {
        let scratch = TestDirectory()
        let directory = try RunDirectory.create(in: scratch.path)
        let tap = try TapRecord.create(in: directory, jail: nil)
        defer { try? tap.delete() }
        #expect(exists(tap))
        try directory.remove()
        #expect(!exists(tap))
        #expect(!TestDirectory.exists(directory.path))
    }
}

/// The record names the TAP and its interface index, written while only kiln's descriptor
/// holds the new TAP: a kiln dying before the record leaves no TAP, and a record whose TAP is
/// gone never deletes an interface that took the name since.
extension TapRecordTests {
    @Test func recordsParse() {
        #expect(TapRecord.parse("kilntap3 17\n").map { [$0.tap.index, Int($0.index ?? 0)] } == [3, 17])
        #expect(TapRecord.parse("kilntap3\n").map { $0.index == nil && $0.tap.index == 3 } == true)
        for bad in ["kilntap3 0\n", "kilntap3 x\n", "kilntap3 17 9\n", "eth0 5\n", " kilntap3 5\n", "kilntap3  5\n", "kilntap3 -5\n", ""] {
            #expect(TapRecord.parse(bad) == nil, "\(bad)")
        }
        #expect(TapRecord.stillRecorded(index: 17, current: 17))
        #expect(!TapRecord.stillRecorded(index: 17, current: 18))
        #expect(!TapRecord.stillRecorded(index: 17, current: nil))
        #expect(TapRecord.stillRecorded(index: nil, current: 4))
        #expect(!TapRecord.stillRecorded(index: nil, current: nil))
    }

    @Test(.enabled(if: canCreateTaps)) func theRecordHoldsTheIndexAndANameTakenSinceIsKept() throws {
        let scratch = TestDirectory()
        let directory = try RunDirectory.create(in: scratch.path)
        let tap = try TapRecord.create(in: directory, jail: nil)
        defer { try? tap.delete() }
        let index = try #require(tap.interfaceIndex)
        #expect(FileText.read(directory.file("tap")) == "\(tap.name) \(index)\n")
        // The TAP goes and another interface takes its name: a new index.
        try tap.delete()
        var failed: UnsafePointer<CChar>?
        let fd = kiln_tap_claim(tap.name, &failed)
        try #require(fd >= 0)
        #expect(kiln_tap_keep(fd, .max, .max, &failed) == 0)
        #expect(tap.interfaceIndex != nil && tap.interfaceIndex != index)
        try directory.remove()
        #expect(tap.interfaceIndex != nil)   // not the recorded one: kept
        #expect(!TestDirectory.exists(directory.path))
    }

    @Test(.enabled(if: canCreateTaps)) func aTapNotRecordedDiesWithItsDescriptor() throws {
        var claimed: HostTap?
        #expect(throws: HostTapError.self) {
            _ = try HostTap.create(owner: nil) { tap, _ in
                claimed = tap
                #expect(tap.interfaceIndex != nil)   // it exists while the descriptor holds it
                return EIO
            }
        }
        let tap = try #require(claimed)
        #expect(tap.interfaceIndex == nil)
    }
}
