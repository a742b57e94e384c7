import ChildProcessSupport
import Foundation
import Testing

/// Runs the `kiln` executable built next to this test bundle, and the test guests built from
/// Tests/Guests. Both are located relative to this file and the running test binary.
enum KilnProcess {
    typealias Result = ChildProcessResult

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["KILN_BIN"] { return path }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        // .build/<triple>/<config>/KilnPackageTests.xctest -> .build/<triple>/<config>/kiln
        return exe.deletingLastPathComponent().appendingPathComponent("kiln").path
    }

    /// Builds the test guests once (make is incremental) and returns the path of `name`.
    static func guest(_ name: String) throws -> String {
        try buildGuestsOnce()
        let path = packageRoot.appendingPathComponent("Tests/Guests/build/\(name)").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw KilnTestError("test guest \(path) missing after make")
        }
        return path
    }

    nonisolated(unsafe) private static var guestsBuilt = false
    private static let buildLock = NSLock()

    private static func buildGuestsOnce() throws {
        buildLock.lock()
        defer { buildLock.unlock() }
        if guestsBuilt { return }
        // Other test modules of this process build the same guests: make runs under a lock on the
        // Makefile, or two makes race on the same objects in a fresh clone.
        let guests = packageRoot.appendingPathComponent("Tests/Guests").path
        let make = try execute("/usr/bin/flock", [guests + "/Makefile", "/usr/bin/make", "-s", "-C", guests], timeout: 240)
        guard make.status == 0 else { throw KilnTestError("building test guests failed: \(make.stderr)") }
        guestsBuilt = true
    }

    static func run(_ arguments: [String], stdin: String? = nil, timeout: TimeInterval = 30,
                    environment: [String: String] = [:]) throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw KilnTestError("kiln binary not found at \(binary); build it with `swift build` first")
        }
        return try execute(binary, arguments, stdin: stdin, timeout: timeout, environment: environment)
    }

    static func execute(_ executable: String, _ arguments: [String], stdin: String? = nil,
                        timeout: TimeInterval, environment: [String: String] = [:]) throws -> Result {
        try ChildProcess.run(executable, arguments, stdin: stdin, timeout: timeout, environment: environment)
    }
}

struct KilnTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
