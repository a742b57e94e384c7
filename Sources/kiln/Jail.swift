import ArgumentParser
import Glibc

/// Running as root, `kiln run` and `kiln create` start their VMM through kiln-jailer (found next
/// to kiln): chroot, mount and user namespaces' worth of isolation, an unprivileged uid, no
/// capabilities. The jail is built under the run's (or sandbox's) own directory, so removing
/// that directory removes the jail.
struct JailOptions: ParsableArguments {
    @Flag(help: "As root, start the VMM directly instead of through kiln-jailer.")
    var noJail = false

    @Option(help: ArgumentHelp("User the jailed VMM runs as.", valueName: "uid"))
    var jailUid: UInt32 = 65534

    @Option(help: ArgumentHelp("Group the jailed VMM runs as (default: the uid's number).", valueName: "gid"))
    var jailGid: UInt32?

    /// The jail to use, or nil when kiln is not root, --no-jail is given or there is no
    /// kiln-jailer next to kiln. A kiln that is not statically linked cannot run in a jail
    /// (it holds no shared libraries): a one-line error says so.
    func plan(id: String, base: String) -> JailPlan? {
        guard geteuid() == 0, !noJail else { return nil }
        let kiln = selfExecutable()
        let directory = kiln.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let jailer = directory + "/kiln-jailer"
        guard access(jailer, X_OK) == 0 else { return nil }
        guard jailUid != 0, (jailGid ?? jailUid) != 0 else { fail("--jail-uid/--jail-gid 0: the jailed VMM must not run as root") }
        guard isStaticELF(kiln) else {
            fail("\(kiln) is dynamically linked and cannot run in kiln-jailer's jail; build it with `swift build -c release --static-swift-stdlib -Xswiftc -static-executable` or pass --no-jail")
        }
        return JailPlan(jailer: jailer, execFile: kiln, id: id, uid: jailUid, gid: jailGid ?? jailUid, base: base)
    }
}

struct JailPlan {
    let jailer: String
    let execFile: String
    let id: String
    let uid: UInt32
    let gid: UInt32
    /// --chroot-base-dir: the jail root is `<base>/kiln/<id>/root`.
    let base: String

    var root: String { "\(base)/kiln/\(id)/root" }

    /// The jailer's command line around `kiln` ARGS: the files are copied into the jail root
    /// (--copy-in), so ARGS name them as `/<file name>`.
    func argv(copyIn: [String], kilnArguments: [String]) -> [String] {
        [jailer, "--id", id, "--exec-file", execFile, "--uid", "\(uid)", "--gid", "\(gid)", "--chroot-base-dir", base]
            + copyIn.flatMap { ["--copy-in", $0] } + ["--"] + kilnArguments
    }
}

func baseName(_ path: String) -> String { String(path.split(separator: "/").last ?? "") }

func selfExecutable() -> String {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { readlink("/proc/self/exe", $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count - 1) }
    guard n > 0 else { fail("cannot find kiln's own executable (/proc/self/exe)") }
    return String(decoding: buffer[0..<n], as: UTF8.self)
}

/// A 64-bit ELF without a PT_INTERP program header (no dynamic loader needed).
func isStaticELF(_ path: String) -> Bool {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var header = [UInt8](repeating: 0, count: 64)
    guard pread(fd, &header, 64, 0) == 64, header[0..<4] == [0x7f, 0x45, 0x4c, 0x46], header[4] == 2 else { return false }
    func little(_ bytes: ArraySlice<UInt8>) -> Int { bytes.reversed().reduce(0) { $0 << 8 | Int($1) } }
    let tableOffset = little(header[32..<40]), entrySize = little(header[54..<56]), count = little(header[56..<58])
    guard entrySize >= 4, count < 4096 else { return false }
    var entry = [UInt8](repeating: 0, count: 4)
    for index in 0..<count {
        guard pread(fd, &entry, 4, off_t(tableOffset + index * entrySize)) == 4 else { return false }
        if little(entry[0..<4]) == 3 { return false }   // PT_INTERP
    }
    return true
}
