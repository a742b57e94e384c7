import Glibc
@testable import SandboxHost
import Testing

/// `kiln run` at start and `kiln gc` remove what killed runs left, as root, in a directory
/// every user can write to: only kiln's own private directories of dead runs count.
@Suite struct LeftoversTests {
    @Test func runnerPidComesFromTheName() {
        #expect(Leftovers.runnerPid("kiln-run.123.AbC123") == 123)
        for name in ["kiln-run.123", "kiln-run.x.abc", "kiln-run.0.abc", "kiln-run.-1.abc", "kiln-run.1.a.b",
                     "kiln-run.1.", "other.1.abc"] {
            #expect(Leftovers.runnerPid(name) == nil, "\(name)")
        }
    }

    @Test func onlyOwnPrivateDirectoriesOfDeadRunsAreStale() throws {
        let scratch = TestDirectory()
        let dead = TestDirectory.deadPid()
        let stale = scratch.make("kiln-run.\(dead).mine")
        TestDirectory.write("\(stale)/vmm.log", "x")
        let live = scratch.make("kiln-run.\(getpid()).live")
        let open = scratch.make("kiln-run.\(dead).open", mode: 0o755)
        let foreign = scratch.make("kiln-run.\(dead).foreign", owner: otherUid)
        TestDirectory.write("\(foreign)/file", "theirs")
        let target = scratch.make("target")
        TestDirectory.write("\(target)/keep", "precious")
        #expect(symlink(target, "\(scratch.path)/kiln-run.\(dead).link") == 0)

        #expect(Leftovers.staleRuns(in: scratch.path).map(\.path) == [stale])
        #expect(Leftovers.removeStaleRuns(in: scratch.path).isEmpty)
        #expect(!TestDirectory.exists(stale))
        for kept in [live, open, "\(foreign)/file", "\(target)/keep", "\(scratch.path)/kiln-run.\(dead).link"] {
            #expect(TestDirectory.exists(kept), "\(kept)")
        }
    }

    @Test func deadSandboxesAreRemovedRelativeToDescriptors() throws {
        let scratch = TestDirectory()
        let outside = scratch.make("outside")
        TestDirectory.write("\(outside)/keep", "precious")
        let store = SandboxStore(root: scratch.make("store"))
        let directory = try store.claim("gone")
        TestDirectory.write(directory.file("vmm"), "\(TestDirectory.deadPid()) 1\n")
        #expect(symlink(outside, directory.file("link")) == 0)
        let removed = Leftovers.collect(store: store, runParent: scratch.path)
        #expect(removed.removed == [directory.path] && removed.failures.isEmpty)
        #expect(!TestDirectory.exists(directory.path))
        #expect(TestDirectory.exists("\(outside)/keep"))
    }

    @Test func storeRootOthersCanWriteIsNotTrusted() throws {
        let scratch = TestDirectory()
        let root = scratch.make("store", mode: 0o777)
        let store = SandboxStore(root: root)
        let dir = scratch.make("store/gone")
        TestDirectory.write("\(dir)/vmm", "\(TestDirectory.deadPid()) 1\n")
        #expect(Leftovers.collect(store: store, runParent: scratch.path).removed.isEmpty)
        #expect(throws: SandboxHostError.self) { try store.remove(try store.record(named: "gone")) }
        #expect(TestDirectory.exists("\(dir)/vmm"))
    }
}
