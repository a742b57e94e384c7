import Glibc
@testable import OCIRuntime
import SandboxHost
import Testing

/// What `create` records before each step, so `delete --force` and `kiln gc` can remove what a
/// killed create left: the records read back, only well-formed ones believed, abandoned
/// directories told from creates still running, and a teardown from the journal alone.
@Suite struct CreationJournalTests {
    @Test func claimRecordsTheCreator() throws {
        let scratch = Scratch()
        let store = ContainerStore(root: scratch.path + "/root")
        _ = try store.claim("c1")
        let container = try store.load("c1")
        #expect(container.journal.creator == ProcessIdentity.of(getpid()))
        #expect(container.status == .creating && !container.isAbandoned)
        #expect(store.abandoned().isEmpty)
    }

    @Test func entriesRoundTripAndMalformedOnesAreAbsent() throws {
        let scratch = Scratch()
        let store = ContainerStore(root: scratch.path + "/root")
        let directory = try store.claim("c1")
        try CreationJournal.recordNetworkNamespace("/run/netns/c1", in: directory)
        try CreationJournal.recordEngineLink("eth0", in: directory)
        #expect(SpawnRecord.identity(at: directory.file(CreationJournal.vmmName)).body(getpid()) == 0)
        var journal = try store.load("c1").journal
        #expect(journal.netns == "/run/netns/c1" && journal.engineLink == "eth0")
        #expect(journal.vmm == ProcessIdentity.of(getpid()) && journal.relay == nil)
        #expect(try store.load("c1").netns == "/run/netns/c1")

        for bad in ["", "a/b", "a b", "a:b", ".", "..", "sixteen-bytes-xx", "tab\t"] {
            #expect(throws: OCIRuntimeError.self, "\(bad)") { try CreationJournal.recordEngineLink(bad, in: directory) }
        }
        // Written by hand: a relative namespace, two lines, no newline, a bad identity.
        #expect(FileText.write(directory.file("netns"), "run/netns/c1\n") == nil)
        #expect(FileText.write(directory.file("engine-link"), "eth0\neth1\n") == nil)
        #expect(FileText.write(directory.file(CreationJournal.vmmName), "12 34") == nil)
        #expect(FileText.write(directory.file(CreationJournal.relayName), "-1 5\n") == nil)
        journal = try store.load("c1").journal
        #expect(journal.netns == nil && journal.engineLink == nil && journal.vmm == nil && journal.relay == nil)
        #expect(journal.creator != nil)
    }

    @Test func abandonedOnlyOnceTheCreatorIsGone() throws {
        #expect(!CreationJournal.isAbandoned(recorded: true, creatorAlive: false, ageSeconds: 1000))
        #expect(!CreationJournal.isAbandoned(recorded: false, creatorAlive: true, ageSeconds: 1000))
        #expect(CreationJournal.isAbandoned(recorded: false, creatorAlive: false, ageSeconds: 0))
        // No creator record: only past the grace period (its create may be between mkdir and write).
        #expect(!CreationJournal.isAbandoned(recorded: false, creatorAlive: nil, ageSeconds: 59))
        #expect(CreationJournal.isAbandoned(recorded: false, creatorAlive: nil, ageSeconds: 60))

        let scratch = Scratch()
        let store = ContainerStore(root: scratch.path + "/root")
        let directory = try store.claim("c1")
        _ = try store.claim("c2")
        #expect(FileText.write(directory.file("creator"), ProcessIdentity(pid: 999_999, startTime: 1).text) == nil)
        #expect(store.abandoned().map(\.id) == ["c1"])
    }

    /// A create killed after it started its VMM and relay (both recorded, no container.json):
    /// the teardown ends both and removes the directory.
    @Test func teardownEndsWhatADeadCreateStarted() throws {
        let scratch = Scratch()
        let store = ContainerStore(root: scratch.path + "/root")
        let directory = try store.claim("c1")
        #expect(FileText.write(directory.file("creator"), ProcessIdentity(pid: 999_999, startTime: 1).text) == nil)
        let vmm = try sleeper(), relay = try sleeper()
        defer { reap(vmm); reap(relay) }
        #expect(SpawnRecord.identity(at: directory.file(CreationJournal.vmmName)).body(vmm) == 0)
        #expect(SpawnRecord.identity(at: directory.file(CreationJournal.relayName)).body(relay) == 0)
        let container = try store.load("c1")
        #expect(container.vmm?.pid == vmm && container.relay?.pid == relay && container.isAbandoned)
        try ContainerTeardown.remove(container)
        #expect(ProcessIdentity.of(vmm) == nil && ProcessIdentity.of(relay) == nil)   // zombies at most
        #expect(store.ids().isEmpty && access(directory.path, F_OK) != 0)
    }

    private func sleeper() throws -> pid_t {
        var pid: pid_t = 0
        let words: [String] = ["/bin/sleep", "600"]
        let argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let err = posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ)
        try #require(err == 0)
        return pid
    }

    private func reap(_ pid: pid_t) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
}
