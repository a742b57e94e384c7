/// What `PUT /snapshot/create` asks of a paused machine.
public struct SnapshotCreateRequest: Sendable, Equatable {
    public enum Kind: String, Sendable { case full = "Full", diff = "Diff" }

    public var snapshotPath: String
    public var memoryFilePath: String
    public var kind: Kind

    public init(snapshotPath: String, memoryFilePath: String, kind: Kind = .full) {
        self.snapshotPath = snapshotPath
        self.memoryFilePath = memoryFilePath
        self.kind = kind
    }
}

/// What `PUT /snapshot/load` (or `kiln boot --restore`) asks of a fresh kiln.
public struct SnapshotLoadRequest: Sendable, Equatable {
    public var snapshotPath: String
    /// Guest memory, mapped MAP_PRIVATE: pages load on first touch and stay shared with other
    /// clones of the same file until the guest writes them.
    public var memoryFilePath: String
    /// Keep KVM's dirty log so a later Diff snapshot saves only pages written since this one.
    public var trackDirtyPages: Bool
    public var resume: Bool
    /// Interface id → the TAP the restored interface uses instead of the recorded one.
    public var networkOverrides: [String: String]
    /// The vsock device's Unix socket path instead of the recorded one.
    public var vsockPathOverride: String?
    /// Advance kvmclock by the wall-clock time since the snapshot (KVM_CLOCK_REALTIME).
    public var clockRealtime: Bool

    public init(snapshotPath: String, memoryFilePath: String, trackDirtyPages: Bool = false, resume: Bool = false,
                networkOverrides: [String: String] = [:], vsockPathOverride: String? = nil, clockRealtime: Bool = false) {
        self.snapshotPath = snapshotPath
        self.memoryFilePath = memoryFilePath
        self.trackDirtyPages = trackDirtyPages
        self.resume = resume
        self.networkOverrides = networkOverrides
        self.vsockPathOverride = vsockPathOverride
        self.clockRealtime = clockRealtime
    }
}
