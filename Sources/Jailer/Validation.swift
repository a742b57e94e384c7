#if canImport(Glibc)
import Glibc
#endif

/// The jailer's arguments as given on the command line, before validation.
public struct JailRequest: Sendable, Equatable {
    public var id: String
    public var execFile: String
    public var uid: UInt32
    public var gid: UInt32
    public var chrootBaseDir = JailConfig.defaultChrootBaseDir
    public var netns: String?
    public var daemonize = false
    public var newPidNamespace = false
    public var cgroupVersion = 1
    public var cgroups: [String] = []
    public var parentCgroup: String?
    public var resourceLimits: [String] = []
    public var copyIn: [String] = []
    public var bindIn: [String] = []
    public var bindInDirectories: [String] = []
    public var allowRoot = false
    public var keepDacReadSearch = false
    public var execArguments: [String] = []

    public init(id: String, execFile: String, uid: UInt32, gid: UInt32) {
        self.id = id
        self.execFile = execFile
        self.uid = uid
        self.gid = gid
    }
}

extension JailConfig {
    static let step = "validate"

    /// Checks every argument and path; nothing on the host is changed.
    public static func validate(_ request: JailRequest) throws(JailerError) -> JailConfig {
        try validateID(request.id)
        if (request.uid == 0 || request.gid == 0) && !request.allowRoot {
            throw JailerError(step: step, "refusing to run the VMM as uid \(request.uid) gid \(request.gid): "
                              + "a jailed VMM must not be root (pass --allow-root to insist)")
        }
        if request.keepDacReadSearch {
            guard !request.bindInDirectories.isEmpty else {
                throw JailerError(step: step, "--keep-dac-read-search is for the file servers of shared directories: it needs --bind-in-dir")
            }
            guard request.uid != 0 && request.gid != 0 else {
                throw JailerError(step: step, "--keep-dac-read-search with uid/gid 0: a VMM running as root does not confine its threads' capabilities")
            }
        }
        try requireFile(request.execFile, what: "--exec-file", executable: true)
        let execName = baseName(request.execFile)
        let base = try validateBaseDir(request.chrootBaseDir)
        if let netns = request.netns {
            var info = stat()
            guard stat(netns, &info) == 0 else { throw .system(step, "--netns \(netns)") }
        }
        guard let version = CgroupVersion(rawValue: request.cgroupVersion) else {
            throw JailerError(step: step, "--cgroup-version \(request.cgroupVersion): use 1 or 2")
        }
        let cgroups = try request.cgroups.map(parseCgroup)
        var seenFiles = Set<String>()
        for setting in cgroups where !seenFiles.insert(setting.file).inserted {
            throw JailerError(step: step, "--cgroup \(setting.file) given twice")
        }
        let parent = try validateParentCgroup(request.parentCgroup ?? execName)
        let limits = try request.resourceLimits.map(parseResourceLimit)
        var jailNames: Set<String> = [execName, "dev"]
        for file in request.copyIn {
            try requireFile(file, what: "--copy-in", executable: false)
            guard jailNames.insert(baseName(file)).inserted else {
                throw JailerError(step: step, "--copy-in \(file): the jail already has a file named '\(baseName(file))'")
            }
        }
        for file in request.bindIn {
            try requireBindable(file)
            guard jailNames.insert(baseName(file)).inserted else {
                throw JailerError(step: step, "--bind-in \(file): the jail already has a file named '\(baseName(file))'")
            }
        }
        for (index, directory) in request.bindInDirectories.enumerated() {
            var info = stat()
            guard stat(directory, &info) == 0 else { throw .system(step, "--bind-in-dir \(directory)") }
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw JailerError(step: step, "--bind-in-dir \(directory) is not a directory")
            }
            let name = String(JailConfig.sharedDirectoryPath(index).dropFirst())
            guard jailNames.insert(name).inserted else {
                throw JailerError(step: step, "--bind-in-dir \(directory): the jail already has a file named '\(name)'")
            }
        }
        var config = JailConfig(
            id: request.id, execFile: request.execFile, uid: request.uid, gid: request.gid,
            chrootBaseDir: base, netns: request.netns, daemonize: request.daemonize,
            newPidNamespace: request.newPidNamespace, cgroupVersion: version, cgroups: cgroups,
            parentCgroup: parent, resourceLimits: limits, copyIn: request.copyIn,
            execArguments: request.execArguments)
        config.bindIn = request.bindIn
        config.bindInDirectories = request.bindInDirectories
        config.keepDacReadSearch = request.keepDacReadSearch
        return config
    }

    /// Alphanumerics and '-', 1 to 64 characters (Firecracker's rule): the id names directories.
    static func validateID(_ id: String) throws(JailerError) {
        guard (1...64).contains(id.utf8.count) else {
            throw JailerError(step: step, "--id '\(id)' must be 1 to 64 characters long")
        }
        guard id.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") }) else {
            throw JailerError(step: step, "--id '\(id)' may only contain letters, digits and '-'")
        }
    }

    static func requireFile(_ path: String, what: String, executable: Bool) throws(JailerError) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .system(step, "\(what) \(path)") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw JailerError(step: step, "\(what) \(path) is not a regular file")
        }
        if executable {
            guard info.st_mode & 0o111 != 0 else { throw JailerError(step: step, "\(what) \(path) is not executable") }
            try requireStaticELF(path, what: what)
        }
    }

    /// A `--bind-in` source: a regular file (a disk image), or a Unix socket the VMM connects
    /// to (where kiln's agent announces itself). Never a device node, FIFO or directory.
    static func requireBindable(_ path: String) throws(JailerError) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .system(step, "--bind-in \(path)") }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFSOCK else {
            throw JailerError(step: step, "--bind-in \(path) is neither a regular file nor a Unix socket")
        }
    }

    /// The jail holds the executable and nothing else: no dynamic loader, no shared libraries.
    /// A dynamically linked file would only fail at exec, after the privileges are gone and
    /// the jail can no longer be undone, so it is refused here.
    static func requireStaticELF(_ path: String, what: String) throws(JailerError) {
        let fd = try check(step, "open \(what) \(path)") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 64)
        guard pread(fd, &header, 64, 0) == 64, header[0..<4] == [0x7f, 0x45, 0x4c, 0x46], header[4] == 2 else {
            throw JailerError(step: step, "\(what) \(path) is not a 64-bit ELF executable")
        }
        func little(_ bytes: ArraySlice<UInt8>) -> Int { bytes.reversed().reduce(0) { $0 << 8 | Int($1) } }
        let tableOffset = little(header[32..<40]), entrySize = little(header[54..<56]), count = little(header[56..<58])
        guard entrySize >= 4, count < 4096 else { throw JailerError(step: step, "\(what) \(path) has a malformed program header table") }
        var entry = [UInt8](repeating: 0, count: 4)
        for index in 0..<count {
            guard pread(fd, &entry, 4, off_t(tableOffset + index * entrySize)) == 4 else {
                throw JailerError(step: step, "\(what) \(path) has a truncated program header table")
            }
            if little(entry[0..<4]) == 3 { // PT_INTERP
                throw JailerError(step: step, "\(what) \(path) is dynamically linked; the jail holds no shared libraries (build kiln with `swift build -c release --static-swift-stdlib -Xswiftc -static-executable`)")
            }
        }
    }

    /// An absolute path without '.' or '..' components (it is created if missing), never '/'.
    static func validateBaseDir(_ path: String) throws(JailerError) -> String {
        let parts = path.split(separator: "/")
        guard path.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: { $0 == "." || $0 == ".." }) else {
            throw JailerError(step: step, "--chroot-base-dir '\(path)' must be an absolute path other than / without '.' or '..'")
        }
        return "/" + parts.joined(separator: "/")
    }

    /// A relative path of plain names inside the cgroup hierarchy.
    static func validateParentCgroup(_ path: String) throws(JailerError) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
              !path.contains("\n") else {
            throw JailerError(step: step, "--parent-cgroup '\(path)' must be a relative path of plain names")
        }
        return path
    }

    /// `FILE=VALUE` where FILE is `controller.setting` (e.g. `pids.max`).
    static func parseCgroup(_ text: String) throws(JailerError) -> CgroupSetting {
        guard let equals = text.firstIndex(of: "=") else {
            throw JailerError(step: step, "--cgroup '\(text)' must be FILE=VALUE (e.g. pids.max=64)")
        }
        let file = String(text[..<equals]), value = String(text[text.index(after: equals)...])
        let dot = file.firstIndex(of: ".")
        guard let dot, dot != file.startIndex, file.index(after: dot) != file.endIndex,
              file.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }) else {
            throw JailerError(step: step, "--cgroup '\(text)': '\(file)' is not a cgroup file name like pids.max")
        }
        guard !value.isEmpty, !value.contains("\n") else {
            throw JailerError(step: step, "--cgroup '\(text)': the value must be one non-empty line")
        }
        return CgroupSetting(file: file, value: value)
    }

    /// `fsize=N` or `no-file=N`.
    static func parseResourceLimit(_ text: String) throws(JailerError) -> ResourceLimit {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let resource = ResourceLimit.Resource(rawValue: String(parts[0])) else {
            throw JailerError(step: step, "--resource-limit '\(text)' must be fsize=N or no-file=N")
        }
        guard let value = UInt64(parts[1]) else {
            throw JailerError(step: step, "--resource-limit '\(text)': '\(parts[1])' is not a number")
        }
        return ResourceLimit(resource: resource, value: value)
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}

/// The last path component (`kiln` for `/usr/bin/kiln`).
func baseName(_ path: String) -> String {
    String(path.split(separator: "/").last ?? Substring(path))
}
