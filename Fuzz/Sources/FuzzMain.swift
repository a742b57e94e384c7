#if canImport(Glibc)
import Glibc
#endif

/// `kiln-fuzz list` | `kiln-fuzz seeds TARGET DIR` | `kiln-fuzz TARGET ARGS...`.
///
/// Built with -DKILN_FUZZ (and -sanitize=fuzzer), `TARGET ARGS` hands ARGS to libFuzzer
/// (LLVMFuzzerRunDriver: corpus directories, -max_total_time=, a crash file to reproduce...).
/// Built without it, `TARGET FILE...` runs each file through the target once (a replay).
@main
enum FuzzMain {
    nonisolated(unsafe) static var selected: FuzzTarget?

    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else { usage() }
        switch arguments[1] {
        case "list":
            for target in FuzzTarget.all { print(target.name, target.guestFacing ? "guest-facing" : "other") }
        case "seeds":
            guard arguments.count == 4, let target = FuzzTarget.named(arguments[2]) else { usage() }
            writeSeeds(target, to: arguments[3])
        default:
            guard let target = FuzzTarget.named(arguments[1]) else { usage() }
            selected = target
            run(target, arguments: arguments)
        }
    }

    static func usage() -> Never {
        let names = FuzzTarget.all.map(\.name).joined(separator: " ")
        printError("usage: kiln-fuzz list | seeds TARGET DIR | TARGET [libFuzzer options / input files]\ntargets: \(names)\n")
        exit(2)
    }

    static func writeSeeds(_ target: FuzzTarget, to directory: String) {
        mkdir(directory, 0o755)
        for (index, seed) in target.seeds().enumerated() {
            let path = "\(directory)/seed-\(index)"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { fatal("cannot create \(path) (errno \(errno))") }
            let written = seed.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard written == seed.count else { fatal("cannot write \(path) (errno \(errno))") }
        }
    }

    static func fatal(_ message: String) -> Never {
        printError("kiln-fuzz: \(message)\n")
        exit(1)
    }

#if KILN_FUZZ
    static func run(_ target: FuzzTarget, arguments: [String]) {
        // libFuzzer sees argv[0] and the arguments after the target name.
        var cArguments: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) }
        cArguments.append(nil)
        var count = CInt(cArguments.count - 1)
        let status = cArguments.withUnsafeMutableBufferPointer { buffer in
            var argv = buffer.baseAddress!
            return LLVMFuzzerRunDriver(&count, &argv) { data, size in
                DescriptorLeakCheck.around { FuzzMain.selected!.run(UnsafeRawBufferPointer(start: data, count: size)) }
                return 0
            }
        }
        exit(status)
    }
#else
    static func run(_ target: FuzzTarget, arguments: [String]) {
        for path in arguments.dropFirst(2) {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { fatal("cannot open \(path) (errno \(errno))") }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                bytes += chunk[..<count]
            }
            close(fd)
            DescriptorLeakCheck.around { bytes.withUnsafeBytes { target.run($0) } }
            print("\(path): ok")
        }
    }
#endif
}

#if KILN_FUZZ
/// libFuzzer's entry point for a program with its own main (FuzzerDriver.cpp). SwiftPM defines
/// `main` for an executable target, so libFuzzer's own main is never linked in.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif

/// Every input must leave the process with the file descriptors it had: a device, backend or
/// archive reader that leaks one per request would run a long-lived VMM out of them. The
/// lowest free descriptor, probed before and after the input, rises with any leak. Measured
/// around the target alone (libFuzzer and the leak sanitizer open descriptors of their own
/// between inputs), and not on the first input, where targets open their long-lived sockets.
enum DescriptorLeakCheck {
    nonisolated(unsafe) static var first = true

    static func around(_ body: () -> Void) {
        let before = lowestFree()
        body()
        let after = lowestFree()
        if first { first = false; return }
        precondition(after == before, "a file descriptor leaked: the lowest free one went from \(before) to \(after)")
    }

    /// Duplicated to probe: F_DUPFD returns the lowest free descriptor without the path walk
    /// of an open (which cost 5 % of a device target's time).
    private static let original = open("/dev/null", O_RDONLY | O_CLOEXEC)

    private static func lowestFree() -> Int32 {
        let probe = fcntl(original, F_DUPFD_CLOEXEC, 0)
        close(probe)
        return probe
    }
}

/// KILN_FUZZ_VERBOSE=1: targets say why an input was refused (to check that seeds get through).
let verboseFuzzing = getenv("KILN_FUZZ_VERBOSE") != nil

/// Where targets put sockets, shared trees and layer files: KILN_FUZZ_TMP (run-ci.sh gives
/// one it removes afterwards) or /tmp; one name per process either way.
let fuzzScratch: String = {
    let base = getenv("KILN_FUZZ_TMP").map { String(cString: $0) } ?? "/tmp"
    return "\(base)/kiln-fuzz-\(getpid())"
}()

/// stderr is a C global Swift 6 will not touch from a nonisolated context; fd 2 is the same.
func printError(_ text: String) {
    _ = Array(text.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
