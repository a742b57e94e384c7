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
