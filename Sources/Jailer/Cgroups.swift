#if canImport(Glibc)
import Glibc
#endif

/// A cgroup filesystem mounted on the host, from /proc/mounts.
public struct CgroupMount: Equatable, Sendable {
    public let path: String
    public let version: JailConfig.CgroupVersion
    /// v1: the controllers the hierarchy carries (from the mount options).
    public let controllers: [String]

    /// The cgroup and cgroup2 entries of a /proc/mounts text.
    public static func parse(mounts text: String) -> [CgroupMount] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 4 else { return nil }
            switch fields[2] {
            case "cgroup":
                return CgroupMount(path: unescape(fields[1]), version: .v1, controllers: fields[3].split(separator: ",").map(String.init))
            case "cgroup2":
                return CgroupMount(path: unescape(fields[1]), version: .v2, controllers: [])
            default:
                return nil
            }
        }
    }

    /// /proc/mounts writes space, tab, newline and backslash as octal escapes (`\040`).
    static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3, let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Creates the VM's cgroups, writes the requested limits and moves the jailer (and so the VMM it
/// becomes) in. v1: one group per hierarchy carrying a controller named in `--cgroup`;
/// v2: one group under the unified hierarchy, with the controllers turned on down to it.
enum Cgroups {
    static let step = "cgroup"

    static func join(_ config: JailConfig, mounts: [CgroupMount], rollback: Rollback) throws(JailerError) {
        guard !config.cgroups.isEmpty else { return }
        switch config.cgroupVersion {
        case .v1: try joinV1(config, mounts: mounts, rollback: rollback)
        case .v2: try joinV2(config, mounts: mounts, rollback: rollback)
        }
    }

    /// The v1 hierarchy for each setting, in the order the settings were given.
    static func hierarchiesV1(_ settings: [CgroupSetting], mounts: [CgroupMount]) throws(JailerError) -> [(CgroupMount, [CgroupSetting])] {
        var result: [(CgroupMount, [CgroupSetting])] = []
        for setting in settings {
            guard let mount = mounts.first(where: { $0.version == .v1 && $0.controllers.contains(String(setting.controller)) }) else {
                throw JailerError(step: step, "--cgroup \(setting.file): no cgroup v1 hierarchy carries the '\(setting.controller)' controller")
            }
            if let index = result.firstIndex(where: { $0.0 == mount }) {
                result[index].1.append(setting)
            } else {
                result.append((mount, [setting]))
            }
        }
        return result
    }

    static func joinV1(_ config: JailConfig, mounts: [CgroupMount], rollback: Rollback) throws(JailerError) {
        for (mount, settings) in try hierarchiesV1(config.cgroups, mounts: mounts) {
            let parent = mount.path + "/" + config.parentCgroup
            try JailDirectory.makeDirectories(parent, rollback: rollback, step: step)
            let group = try createGroup(parent: parent, id: config.id, rollback: rollback)
            if mount.controllers.contains("cpuset") {
                // A new cpuset group starts with no CPUs or memory nodes; no task can join it.
                try inheritCpuset(from: mount.path, down: config.parentCgroup + "/" + config.id)
            }
            try write(settings, in: group)
            try enter(group: group, parent: parent, rollback: rollback)
        }
    }

    static func joinV2(_ config: JailConfig, mounts: [CgroupMount], rollback: Rollback) throws(JailerError) {
        guard let mount = mounts.first(where: { $0.version == .v2 }) else {
            throw JailerError(step: step, "--cgroup-version 2: no cgroup2 filesystem is mounted")
        }
        let available = try read(mount.path + "/cgroup.controllers").split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        var controllers: [String] = []
        for setting in config.cgroups where setting.controller != "cgroup" && !controllers.contains(String(setting.controller)) {
            guard available.contains(String(setting.controller)) else {
                throw JailerError(step: step, "--cgroup \(setting.file): the '\(setting.controller)' controller is not enabled in the cgroup v2 hierarchy at \(mount.path) (it has: \(available.isEmpty ? "none" : available.joined(separator: " ")))")
            }
            controllers.append(String(setting.controller))
        }
        let parent = mount.path + "/" + config.parentCgroup
        try JailDirectory.makeDirectories(parent, rollback: rollback, step: step)
        // Each ancestor hands the controllers down through its cgroup.subtree_control.
        var ancestor = mount.path
        for part in [""] + config.parentCgroup.split(separator: "/").map(String.init) {
            if !part.isEmpty { ancestor += "/" + part }
            let enabled = try read(ancestor + "/cgroup.subtree_control").split(whereSeparator: { $0 == " " || $0 == "\n" })
            for controller in controllers where !enabled.contains(Substring(controller)) {
                let path = ancestor + "/cgroup.subtree_control"
                let fd = try rollback.keep(path, flags: O_WRONLY, step: step)
                guard writeAll(fd, "+\(controller)") else { throw .system(step, "write +\(controller) to \(path)") }
                rollback.record(.disableController(subtreeControl: fd, controller: controller))
            }
        }
        let group = try createGroup(parent: parent, id: config.id, rollback: rollback)
        try write(config.cgroups, in: group)
        try enter(group: group, parent: parent, rollback: rollback)
    }

    /// `<parent>/<id>`, which must not exist yet.
    static func createGroup(parent: String, id: String, rollback: Rollback) throws(JailerError) -> String {
        let group = parent + "/" + id
        guard mkdir(group, 0o755) == 0 else {
            if errno == EEXIST { throw JailerError(step: step, "\(group) already exists (ids are unique)", errno: EEXIST) }
            throw .system(step, "mkdir \(group)")
        }
        let parentFD = try rollback.keep(parent, step: step)
        rollback.record(.removeDirectory(parent: parentFD, name: id))
        return group
    }

    static func write(_ settings: [CgroupSetting], in group: String) throws(JailerError) {
        for setting in settings {
            try writeFile(group + "/" + setting.file, setting.value)
        }
    }

    /// Moves this process into `group`; the undo moves it back to `parent` so `group` can go.
    static func enter(group: String, parent: String, rollback: Rollback) throws(JailerError) {
        let parentProcs = try rollback.keep(parent + "/cgroup.procs", flags: O_WRONLY, step: step)
        try writeFile(group + "/cgroup.procs", String(getpid()))
        rollback.record(.leaveCgroup(parentProcs: parentProcs))
    }

    /// Copies cpuset.cpus and cpuset.mems into every group on `relative` that has none yet.
    static func inheritCpuset(from root: String, down relative: String) throws(JailerError) {
        var parent = root
        for part in relative.split(separator: "/") {
            let child = parent + "/" + part
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let current = try read(child + "/" + file)
                if current.allSatisfy(\.isWhitespace) {
                    try writeFile(child + "/" + file, try read(parent + "/" + file).trimmingTrailingNewlines)
                }
            }
            parent = child
        }
    }

    static func writeFile(_ path: String, _ value: String) throws(JailerError) {
        let fd = try check(step, "open \(path)") { open(path, O_WRONLY | O_CLOEXEC) }
        defer { close(fd) }
        guard writeAll(fd, value) else { throw .system(step, "write '\(value)' to \(path)") }
    }

    static func read(_ path: String) throws(JailerError) -> String {
        let fd = try check(step, "open \(path)") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(step, "read \(path)")
            }
            if count == 0 { break }
            bytes += buffer[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    var trimmingTrailingNewlines: String {
        var text = self
        while text.last == "\n" { text.removeLast() }
        return text
    }
}
