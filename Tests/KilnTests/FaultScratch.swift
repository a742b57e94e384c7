import Foundation
import Glibc

/// A private scratch directory for one fault test (its own TMPDIR and sandbox store for the kiln
/// processes it starts), and the means to count what those processes left behind.
final class FaultScratch {
    let path: String

    init(_ name: String) throws {
        // Short: kiln run puts Unix sockets under TMPDIR (108-byte limit).
        var template = Array("/tmp/kf-\(name).XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw KilnTestError("mkdtemp: errno \(errno)")
        }
        path = String(cString: made)
        for sub in ["tmp", "sandboxes", "files"] {
            try FileManager.default.createDirectory(atPath: "\(path)/\(sub)", withIntermediateDirectories: false)
        }
    }

    deinit {
        for pid in processes() { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: path)
    }

    var tmp: String { path + "/tmp" }
    var files: String { path + "/files" }

    /// The environment that keeps kiln's run directories and sandbox state in here.
    var environment: [String: String] { ["TMPDIR": tmp, "KILN_SANDBOX_DIR": path + "/sandboxes"] }

    /// Processes whose command line names this scratch directory (kiln run, its VMM).
    func processes() -> [pid_t] {
        let marker = Array(path.utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), pid != getpid(),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let bytes = [UInt8](cmdline)
            guard bytes.count >= marker.count else { return nil }
            for start in 0...(bytes.count - marker.count) where bytes[start..<start + marker.count].elementsEqual(marker) {
                return pid
            }
            return nil
        }
    }

    /// Waits up to `seconds` for every process naming this directory to be gone; those left.
    func processesAfterWaiting(seconds: Double = 5) -> [pid_t] {
        let deadline = Date().addingTimeInterval(seconds)
        var left = processes()
        while !left.isEmpty && Date() < deadline {
            usleep(20_000)
            left = processes()
        }
        return left
    }

    /// Everything under TMPDIR and the sandbox store: run directories, jails, sockets, temp files.
    func leftovers() -> [String] {
        ["tmp", "sandboxes"].flatMap { sub in
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(path)/\(sub)")) ?? []).map { "\(sub)/\($0)" }
        }
    }

    /// `kiln gc` with this directory's TMPDIR and sandbox store.
    func gc() throws -> KilnProcess.Result {
        try KilnProcess.run(["gc", "--oci-root", path + "/oci"],
                            environment: environment.merging(["KILN_IMAGE_STORE": path + "/images"]) { $1 })
    }
}
