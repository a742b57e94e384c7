import ChildProcessSupport
import Foundation
import Testing

/// Runs the `kiln-jailer` built next to this test bundle around the static release `kiln`
/// (the jail holds nothing but the executable, so it must be fully static), with a chroot base
/// and a parent cgroup of its own that `cleanUp()` removes.
final class JailerHarness {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var jailerBinary: String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("kiln-jailer").path
    }

    /// `swift build -c release --static-swift-stdlib -Xswiftc -static-executable` (scripts/test.sh).
    static var staticKiln: String {
        ProcessInfo.processInfo.environment["KILN_STATIC_BIN"]
            ?? packageRoot.appendingPathComponent(".build/release/kiln").path
    }

    let base: String
    let parentCgroup: String
    let uid: UInt32 = 23456
    let gid: UInt32 = 23457

    init() throws {
        guard getuid() == 0 else { throw HarnessError("the jailer tests must run as root (uid \(getuid()))") }
        guard FileManager.default.isExecutableFile(atPath: Self.jailerBinary) else {
            throw HarnessError("kiln-jailer not found at \(Self.jailerBinary): swift build --build-tests")
        }
        try Self.requireStatic(Self.staticKiln)
        let tag = "kiln-jailer-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        base = "/tmp/" + tag
        parentCgroup = tag
    }

    /// A fully static ELF has no PT_INTERP program header.
    static func requireStatic(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), data.count > 64,
              data.prefix(4) == Data([0x7f, 0x45, 0x4c, 0x46]) else {
            throw HarnessError("static kiln missing at \(path): run `swift build -c release --static-swift-stdlib -Xswiftc -static-executable`")
        }
        func u64(_ at: Int) -> Int { data[at..<at + 8].reversed().reduce(0) { $0 << 8 | Int($1) } }
        func u16(_ at: Int) -> Int { Int(data[at]) | Int(data[at + 1]) << 8 }
        let phoff = u64(32), phentsize = u16(54), phnum = u16(56)
        for index in 0..<phnum where u16(phoff + index * phentsize) == 3 {
            throw HarnessError("\(path) is dynamically linked (PT_INTERP): build it with -Xswiftc -static-executable")
        }
    }

    static func guest(_ name: String) throws -> String {
        // Under the lock the other test modules take (KilnProcess, GuestMachine): concurrent makes
        // race on the same objects in a fresh clone.
        let guests = packageRoot.appendingPathComponent("Tests/Guests").path
        let make = try ChildProcess.run("/usr/bin/flock", [guests + "/Makefile", "/usr/bin/make", "-s", "-C", guests], timeout: 240)
        guard make.status == 0 else { throw HarnessError("building test guests failed: \(make.stderr)") }
        return packageRoot.appendingPathComponent("Tests/Guests/build/\(name)").path
    }

    func arguments(id: String, extra: [String], kiln: [String]) -> [String] {
        ["--id", id, "--exec-file", Self.staticKiln, "--uid", "\(uid)", "--gid", "\(gid)",
         "--chroot-base-dir", base, "--parent-cgroup", parentCgroup] + extra + ["--"] + kiln
    }

    func jailRoot(_ id: String) -> String { "\(base)/kiln/\(id)/root" }

    /// Runs the jailer to completion (for failures and `--new-pid-ns`, whose parent exits).
    func run(_ arguments: [String], timeout: TimeInterval = 30) throws -> (status: Int32, stdout: String, stderr: String) {
        let result = try ChildProcess.run(Self.jailerBinary, arguments, timeout: timeout)
        return (result.status, result.stdout, result.stderr)
    }

    /// Starts the jailer (which becomes kiln) and waits until the guest printed `ready`.
    func start(_ arguments: [String], ready: String, timeout: TimeInterval = 30) throws -> Jailed {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.jailerBinary)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let jailed = Jailed(process: process, stdout: out, stderr: err)
        if !ready.isEmpty { try jailed.waitForOutput(ready, timeout: timeout) }
        return jailed
    }

    /// Removes the chroot base and every cgroup under this harness's parent cgroup.
    func cleanUp() {
        try? FileManager.default.removeItem(atPath: base)
        for hierarchy in ["pids", "memory", "cpu", "cpuset", "unified"] {
            let parent = "/sys/fs/cgroup/\(hierarchy)/\(parentCgroup)"
            for child in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: parent + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue {
                    rmdir(parent + "/" + child)
                }
            }
            rmdir(parent)
        }
    }

    func cgroupExists(_ hierarchy: String, _ id: String) -> Bool {
        FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\(hierarchy)/\(parentCgroup)/\(id)")
    }
}

/// A running jailed kiln.
final class Jailed {
    let process: Process
    let stdout: Pipe
    let stderr: Pipe
    private var seen = Data()
    var pid: Int32 { process.processIdentifier }

    init(process: Process, stdout: Pipe, stderr: Pipe) {
        self.process = process
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Reads the guest's console (kiln's stdout) until it contains `text`.
    func waitForOutput(_ text: String, timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        let fd = stdout.fileHandleForReading.fileDescriptor
        while !String(decoding: seen, as: UTF8.self).contains(text) {
            guard Date() < deadline, process.isRunning else {
                let output = String(decoding: seen, as: UTF8.self)
                throw HarnessError("jailed kiln did not print \(text): stdout \(output); stderr \(errorText())")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) > 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = read(fd, &buffer, buffer.count)
                if count > 0 { seen.append(contentsOf: buffer[..<count]) }
            }
        }
    }

    func stop() {
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    func errorText() -> String {
        stop()
        return String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}

/// Reads what the host sees of a process: /proc/PID/...
enum ProcFS {
    static func text(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw HarnessError("cannot read \(path)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// `Key:\tvalue` lines of a status file.
    static func status(_ path: String) throws -> [String: String] {
        var fields: [String: String] = [:]
        for line in try text(path).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    static func threads(_ pid: Int32) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").sorted()
    }

    /// Every path under `root`, relative, without following symlinks.
    static func tree(_ root: String, prefix: String = "") throws -> Set<String> {
        var result = Set<String>()
        for name in try FileManager.default.contentsOfDirectory(atPath: root) {
            let relative = prefix + name
            result.insert(relative)
            var info = stat()
            if lstat(root + "/" + name, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                result.formUnion(try tree(root + "/" + name, prefix: relative + "/"))
            }
        }
        return result
    }

    /// kiln's main thread confines itself right after starting the vCPU and device threads;
    /// waits (at most `timeout`) until every thread of `pid` reports a seccomp filter.
    static func waitForSeccomp(_ pid: Int32, timeout: TimeInterval = 3) {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let all = (try? threads(pid))?.allSatisfy { (try? status("/proc/\(pid)/task/\($0)/status"))?["Seccomp"] == "2" }
            if all == true { return }
            usleep(5_000)
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP/1.1 request over a Unix socket (the API socket of a jailed kiln, seen from outside).
enum UnixHTTP {
    static func request(_ socketPath: String, _ method: String, _ path: String, body: String? = nil) throws -> (status: Int, body: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw HarnessError("socket path too long: \(socketPath)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw HarnessError("connect \(socketPath): errno \(errno)") }
        var text = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { text += "\r\n" }
        let out = Array(text.utf8)
        guard write(fd, out, out.count) == out.count else { throw HarnessError("write request: errno \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let response = String(decoding: received, as: UTF8.self)
            if let end = response.range(of: "\r\n\r\n") {
                let head = response[..<end.lowerBound].lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                let body = response[end.upperBound...]
                if body.utf8.count >= length {
                    let status = Int(response.split(separator: " ").dropFirst().first ?? "") ?? 0
                    return (status, String(body))
                }
            }
            let count = read(fd, &buffer, buffer.count)
            guard count > 0 else { throw HarnessError("\(method) \(path): connection ended after \(received.count) bytes: \(response)") }
            received += buffer[..<count]
        }
    }
}
