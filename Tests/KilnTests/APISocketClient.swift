import Foundation
import Glibc

/// One HTTP/1.1 request over kiln's API Unix socket, for tests that drive a VM through the API.
enum APISocketClient {
    /// The response's status code and body.
    static func send(_ socketPath: String, _ method: String, _ path: String, _ body: String = "") throws -> (status: Int, body: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw KilnTestError("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in socketPath.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        // The socket file appears at bind(), a moment before listen(): until then a connect is
        // refused (seen on a loaded machine), so that is retried for a while.
        var connected: Int32 = -1
        for _ in 0..<200 {
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if connected == 0 || errno != ECONNREFUSED { break }
            usleep(10_000)
        }
        guard connected == 0 else { throw KilnTestError("connect \(socketPath): errno \(errno)") }
        let request = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw KilnTestError("write to \(socketPath): errno \(errno)")
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        let fields = text.split(separator: " ", maxSplits: 2)
        guard fields.count >= 2, let status = Int(fields[1]) else { throw KilnTestError("no HTTP status in: \(text)") }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }
}

/// A kiln process running in the background, its stdout and stderr in files.
final class BackgroundKiln {
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    init(_ arguments: [String], directory: String, name: String, environment: [String: String] = [:],
         executable: String = KilnProcess.binary) throws {
        stdoutPath = "\(directory)/\(name).out"
        stderrPath = "\(directory)/\(name).err"
        FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }

    var output: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits until `predicate(output)` holds; false after `seconds`.
    func waitForOutput(seconds: Double = 20, _ predicate: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if predicate(output) { return true }
            if !process.isRunning { return predicate(output) }
            usleep(20_000)
        }
        return false
    }

    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { kill() }
}

extension String {
    /// The numbers of complete "COUNT n XMM m" lines of the counter guest, in order.
    var counterLines: [(count: Int, xmm: Int)] {
        split(separator: "\n", omittingEmptySubsequences: false).dropLast().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 4, fields[0] == "COUNT", fields[2] == "XMM",
                  let count = Int(fields[1]), let xmm = Int(fields[3]) else { return nil }
            return (count, xmm)
        }
    }

    /// The counts of complete "CPU id COUNT n" lines of smp.elf's `count` mode, per CPU, in order.
    var countsPerCPU: [Int: [Int]] {
        var counts: [Int: [Int]] = [:]
        for line in split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let fields = line.split(separator: " ")
            guard fields.count == 4, fields[0] == "CPU", fields[2] == "COUNT",
                  let cpu = Int(fields[1]), let count = Int(fields[3]) else { continue }
            counts[cpu, default: []].append(count)
        }
        return counts
    }
}
