import Glibc

extension SandboxSnapshot {
    /// How long the VMM may take to write a snapshot (the nested test harness writes 256 MiB
    /// of guest memory in seconds; a hardware host in well under one).
    static let createTimeout: Double = 300

    /// `kiln snapshot NAME DIR`: pauses the sandbox, has its VMM write a Full snapshot into the
    /// directory it can write (its jail root, or the sandbox's state directory), copies the
    /// scratch disk while the VM is still paused, resumes it, then copies the VMM's files into
    /// `destination` (made here, mode 0700; it must not exist) and writes the record. On any
    /// failure the VM is resumed all the same and `destination` is removed.
    public static func take(of record: SandboxRecord, into destination: String) throws(SandboxHostError) -> SandboxSnapshot {
        guard record.state == .alive else { throw .snapshot("sandbox \(record.name) is \(record.state), not running") }
        let config = FileText.read(record.directory.file("config")) ?? ""
        let fields = SandboxConfigText.fields(config)
        if SandboxConfigText.hasKey(config, "volume") {
            throw .snapshot("sandbox \(record.name) has -v shares: a snapshot of shared host directories is not supported")
        }
        if SandboxConfigText.hasKey(config, "net") {
            throw .snapshot("sandbox \(record.name) has --net: its TAP and addresses cannot be cloned (not supported yet)")
        }
        guard let rootfs = fields["rootfs"], let cpus = fields["cpus"].flatMap({ Int($0) }),
              let memory = fields["memory"].flatMap({ Int($0) }) else {
            throw .snapshot("sandbox \(record.name): its config lacks rootfs, cpus or memory (made by an older kiln?)")
        }
        let jailRoot = record.directory.file("jail/kiln/\(record.name)/root")
        var jailInfo = stat()
        let jailed = lstat(jailRoot, &jailInfo) == 0 && (jailInfo.st_mode & S_IFMT) == S_IFDIR
        let scratch = fields["disk-size"] != nil
        if scratch && !jailed {
            throw .snapshot("sandbox \(record.name) has a scratch disk and no jail: its snapshot could not be restored "
                            + "(the disk's path is the sandbox's own); run it jailed (as root, kiln-jailer beside kiln)")
        }
        var rootInfo = stat()
        guard stat(rootfs, &rootInfo) == 0 else { throw .system(operation: "stat", path: rootfs, errno: errno) }
        let snapshot = SandboxSnapshot(rootfs: rootfs, rootfsSize: Int64(rootInfo.st_size),
                                       rootfsModified: Int64(rootInfo.st_mtim.tv_sec), imageID: fields["image-id"],
                                       imageName: fields["image"], cpus: cpus, memoryMiB: memory, scratchDisk: scratch,
                                       jailed: jailed)

        guard mkdir(destination, 0o700) == 0 else {
            if errno == EEXIST { throw .snapshot("\(destination) already exists: give a new directory") }
            throw .system(operation: "mkdir", path: destination, errno: errno)
        }
        do {
            try snapshot.write(of: record, jailRoot: jailed ? jailRoot : nil, into: destination)
        } catch {
            if let made = try? OwnedDirectory.open(destination, private: true) { made.removeContents() }
            rmdir(destination)
            throw error
        }
        return snapshot
    }

    private func write(of record: SandboxRecord, jailRoot: String?, into destination: String) throws(SandboxHostError) {
        // Where the VMM writes, as the host sees it, and as the VMM names it.
        let outputPath = jailRoot ?? record.path
        let output = try VMMOutputDirectory(path: outputPath)
        func vmmPath(_ name: String) -> String { jailRoot == nil ? "\(outputPath)/\(name)" : "/\(name)" }
        for name in [Self.stateName, Self.memoryName] { output.unlink(name) }
        defer { for name in [Self.stateName, Self.memoryName] { output.unlink(name) } }
        // The socket itself (in the jail root), not the state directory's link to it.
        let client = ControlClient(socketPath: "\(outputPath)/\(RunDirectory.apiSocketName)")
        try client.expect(204, "PATCH", "/vm", json: #"{"state": "Paused"}"#, timeout: 30)
        var resumed = false
        defer { if !resumed { _ = try? client.expect(204, "PATCH", "/vm", json: #"{"state": "Resumed"}"#, timeout: 30) } }
        try client.expect(204, "PUT", "/snapshot/create",
                          json: "{\"snapshot_type\": \"Full\", \"snapshot_path\": \(jsonString(vmmPath(Self.stateName))), "
                              + "\"mem_file_path\": \(jsonString(vmmPath(Self.memoryName)))}",
                          timeout: Self.createTimeout)
        if scratchDisk {
            // While paused: the disk then matches the guest's page cache in the memory file.
            try SparseFileCopy.copy(name: ScratchDisk.fileName, in: output.fd, directoryPath: outputPath,
                                    to: "\(destination)/\(ScratchDisk.fileName)", mode: 0o600, maxBytes: Int64.max)
        }
        resumed = true
        try client.expect(204, "PATCH", "/vm", json: #"{"state": "Resumed"}"#, timeout: 30)
        try SparseFileCopy.copy(name: Self.stateName, in: output.fd, directoryPath: outputPath,
                                to: "\(destination)/\(Self.stateName)", mode: 0o600, maxBytes: Self.maxStateBytes)
        // Readable by the jailed VMM of a restore, which maps it through a read-only bind
        // mount; the 0700 directory keeps everyone else out.
        try SparseFileCopy.copy(name: Self.memoryName, in: output.fd, directoryPath: outputPath,
                                to: "\(destination)/\(Self.memoryName)", mode: 0o644, maxBytes: Int64(memoryMiB) << 20)
        if let err = FileText.write("\(destination)/\(Self.recordName)", text) {
            throw .system(operation: "write", path: "\(destination)/\(Self.recordName)", errno: err)
        }
    }
}

/// The directory a VMM writes its snapshot files into, opened without following links.
private struct VMMOutputDirectory: ~Copyable {
    let fd: Int32

    init(path: String) throws(SandboxHostError) {
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
    }

    deinit { close(fd) }

    func unlink(_ name: String) { _ = unlinkat(fd, name, 0) }
}

extension ControlClient {
    /// Sends the request; throws unless the VMM answers `status`.
    func expect(_ status: Int, _ method: String, _ path: String, json: String, timeout: Double) throws(SandboxHostError) {
        let response = try send(method, path, json: json, timeout: timeout)
        guard response.status == status else {
            throw .control(path: socketPath, problem: "\(method) \(path): HTTP \(response.status) \(response.body.prefix(500))")
        }
    }
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
