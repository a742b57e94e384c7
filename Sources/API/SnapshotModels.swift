import VMM

/// `PUT /snapshot/create` (Firecracker's SnapshotCreateParams).
struct SnapshotCreateParams: Decodable {
    let request: SnapshotCreateRequest

    enum CodingKeys: String, CodingKey, CaseIterable {
        case memFilePath = "mem_file_path", snapshotPath = "snapshot_path", snapshotType = "snapshot_type"
    }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "snapshot/create")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let snapshotPath = try SnapshotPath.check(c.decode(String.self, forKey: .snapshotPath), field: "snapshot_path")
        let memoryPath = try SnapshotPath.check(c.decode(String.self, forKey: .memFilePath), field: "mem_file_path")
        guard snapshotPath != memoryPath else {
            throw ConfigurationError("snapshot/create: snapshot_path and mem_file_path name the same file")
        }
        let name = try c.decodeIfPresent(String.self, forKey: .snapshotType) ?? "Full"
        guard let kind = SnapshotCreateRequest.Kind(rawValue: name) else {
            throw ConfigurationError("snapshot/create: snapshot_type '\(name)' is not Full or Diff")
        }
        request = SnapshotCreateRequest(snapshotPath: snapshotPath, memoryFilePath: memoryPath, kind: kind)
    }
}

/// `PUT /snapshot/load` (Firecracker's SnapshotLoadParams, with its deprecated spellings).
struct SnapshotLoadParams: Decodable {
    let request: SnapshotLoadRequest

    enum CodingKeys: String, CodingKey, CaseIterable {
        case snapshotPath = "snapshot_path", memFilePath = "mem_file_path", memBackend = "mem_backend"
        case trackDirtyPages = "track_dirty_pages", enableDiffSnapshots = "enable_diff_snapshots"
        case resumeVM = "resume_vm", networkOverrides = "network_overrides", vsockOverride = "vsock_override"
        case clockRealtime = "clock_realtime", hugePages = "huge_pages"
    }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "snapshot/load")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let snapshotPath = try SnapshotPath.check(c.decode(String.self, forKey: .snapshotPath), field: "snapshot_path")
        let memoryPath: String
        switch (try c.decodeIfPresent(String.self, forKey: .memFilePath), try c.decodeIfPresent(MemoryBackend.self, forKey: .memBackend)) {
        case (let path?, nil): memoryPath = try SnapshotPath.check(path, field: "mem_file_path")
        case (nil, let backend?): memoryPath = backend.path
        case (.some, .some): throw ConfigurationError("snapshot/load: give mem_backend or mem_file_path, not both")
        case (nil, nil): throw ConfigurationError("snapshot/load: mem_backend (or the older mem_file_path) is required")
        }
        let track = try c.decodeIfPresent(Bool.self, forKey: .trackDirtyPages)
        let older = try c.decodeIfPresent(Bool.self, forKey: .enableDiffSnapshots)
        if let track, let older, track != older {
            throw ConfigurationError("snapshot/load: track_dirty_pages and enable_diff_snapshots disagree")
        }
        var overrides: [String: String] = [:]
        for item in try c.decodeIfPresent([NetworkOverride].self, forKey: .networkOverrides) ?? [] {
            guard overrides.updateValue(item.hostDevName, forKey: item.ifaceID) == nil else {
                throw ConfigurationError("snapshot/load: network_overrides names iface_id '\(item.ifaceID)' twice")
            }
        }
        let vsock = try c.decodeIfPresent(VsockOverride.self, forKey: .vsockOverride)
        if let pages = try c.decodeIfPresent(String.self, forKey: .hugePages), pages != "None", pages != "Snapshot" {
            throw ConfigurationError("snapshot/load: huge_pages '\(pages)' is not supported (None or Snapshot)")
        }
        request = SnapshotLoadRequest(snapshotPath: snapshotPath, memoryFilePath: memoryPath,
                                      trackDirtyPages: track ?? older ?? false,
                                      resume: try c.decodeIfPresent(Bool.self, forKey: .resumeVM) ?? false,
                                      networkOverrides: overrides, vsockPathOverride: vsock?.udsPath,
                                      clockRealtime: try c.decodeIfPresent(Bool.self, forKey: .clockRealtime) ?? false)
    }

    struct MemoryBackend: Decodable {
        let path: String
        enum CodingKeys: String, CodingKey, CaseIterable { case backendType = "backend_type", backendPath = "backend_path" }
        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "mem_backend")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let type = try c.decode(String.self, forKey: .backendType)
            switch type {
            case "File": break
            case "Uffd": throw ConfigurationError("snapshot/load: mem_backend backend_type Uffd is not supported (File is)")
            default: throw ConfigurationError("snapshot/load: mem_backend backend_type '\(type)' is not File or Uffd")
            }
            path = try SnapshotPath.check(c.decode(String.self, forKey: .backendPath), field: "mem_backend.backend_path")
        }
    }

    struct NetworkOverride: Decodable {
        let ifaceID: String
        let hostDevName: String
        enum CodingKeys: String, CodingKey, CaseIterable { case ifaceID = "iface_id", hostDevName = "host_dev_name" }
        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "network_overrides")
            let c = try decoder.container(keyedBy: CodingKeys.self)
            ifaceID = try c.decode(String.self, forKey: .ifaceID)
            try Identifier.check(ifaceID, what: "iface_id")
            hostDevName = try c.decode(String.self, forKey: .hostDevName)
            // IFNAMSIZ is 16 with its NUL.
            guard (1...15).contains(hostDevName.utf8.count), !hostDevName.utf8.contains(where: { $0 == 0 || $0 == 0x2f || $0 == 0x20 }) else {
                throw ConfigurationError("snapshot/load: network_overrides host_dev_name '\(hostDevName)' is not a valid interface name")
            }
        }
    }

    struct VsockOverride: Decodable {
        let udsPath: String
        enum CodingKeys: String, CodingKey, CaseIterable { case udsPath = "uds_path" }
        init(from decoder: any Decoder) throws {
            try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "vsock_override")
            udsPath = try SnapshotPath.check(decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .udsPath),
                                             field: "vsock_override.uds_path")
        }
    }
}

enum SnapshotPath {
    static func check(_ path: String, field: String) throws(ConfigurationError) -> String {
        guard !path.isEmpty, !path.utf8.contains(0) else { throw ConfigurationError("snapshot: \(field) must be a non-empty path") }
        return path
    }
}
