import Glibc
@testable import SandboxHost
import Testing

/// The spawn gate: a child is recorded before it may exec, and a refused record leaves no child.
@Suite struct SpawnRecordTests {
    @Test func theChildIsRecordedBeforeItExecs() throws {
        let scratch = TestDirectory()
        let directory = try RunDirectory.create(in: scratch.path)
        let record = directory.file("child.pid")
        var executableAtRecord = ""
        let recorder = SpawnRecord { pid in
            // Still this test binary: the child has not exec'd yet.
            executableAtRecord = Self.executable(of: pid)
            return SpawnRecord.identity(at: record).body(pid)
        }
        let vmm = try VMMProcess.launch(["/bin/sleep", "600"], directory: directory, detached: true, record: recorder)
        defer { vmm.end() }
        #expect(executableAtRecord == Self.executable(of: getpid()))
        #expect(FileText.read(record).flatMap(ProcessIdentity.init(text:)) == ProcessIdentity.of(vmm.pid))
        for _ in 0..<500 where Self.executable(of: vmm.pid) != "/usr/bin/sleep" { usleep(10_000) }
        #expect(Self.executable(of: vmm.pid) == "/usr/bin/sleep")
    }

    @Test func aRefusedRecordLeavesNoChild() throws {
        let scratch = TestDirectory()
        let directory = try RunDirectory.create(in: scratch.path)
        var child: pid_t = 0
        let refusing = SpawnRecord { pid in
            child = pid
            return EPERM
        }
        #expect(throws: SandboxHostError.system(operation: "start the VMM", path: "/bin/sleep", errno: EPERM)) {
            _ = try VMMProcess.launch(["/bin/sleep", "600"], directory: directory, detached: true, record: refusing)
        }
        #expect(child > 0 && kill(child, 0) != 0 && errno == ESRCH)   // killed and reaped
    }

    static func executable(of pid: pid_t) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    }
}
