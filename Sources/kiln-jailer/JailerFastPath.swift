import Jailer
import KilnCommandLine

/// kiln-jailer's command line written plainly (as kiln writes it), read without ArgumentParser,
/// whose parse was half of the jailer's own process (README, images), and the jailer starts every
/// jailed VMM. `JailerCommandLine.options` is the option list, which KilnTests check against
/// ArgumentParser's definition; JailerTests check that both parsers make the same request of
/// the same line. A line this declines (help, `--name=value`, a value that is not a number, a
/// missing option) goes to ArgumentParser, which parses it or names the error.
enum JailerFastPath {
    static func request(_ arguments: ArraySlice<String>) -> JailRequest? {
        let (options, execArguments) = QuickCommandLine.splitAtTerminator(arguments)
        guard let line = QuickCommandLine(options, options: JailerCommandLine.options),
              let id = line.value("--id"), let execFile = line.value("--exec-file"),
              let uid = line.value("--uid").flatMap(UInt32.init), let gid = line.value("--gid").flatMap(UInt32.init)
        else { return nil }
        var request = JailRequest(id: id, execFile: execFile, uid: uid, gid: gid)
        if let base = line.value("--chroot-base-dir") { request.chrootBaseDir = base }
        if let version = line.value("--cgroup-version") {
            guard let number = Int(version) else { return nil }
            request.cgroupVersion = number
        }
        request.netns = line.value("--netns")
        request.daemonize = line.flag("--daemonize")
        request.newPidNamespace = line.flag("--new-pid-ns")
        request.cgroups = line.values("--cgroup")
        request.parentCgroup = line.value("--parent-cgroup")
        request.resourceLimits = line.values("--resource-limit")
        request.copyIn = line.values("--copy-in")
        request.bindIn = line.values("--bind-in")
        request.bindInDirectories = line.values("--bind-in-dir")
        request.allowRoot = line.flag("--allow-root")
        request.keepDacReadSearch = line.flag("--keep-dac-read-search")
        request.execArguments = execArguments
        return request
    }
}
