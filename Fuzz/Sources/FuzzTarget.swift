/// One fuzz target: a function libFuzzer calls with each input, and the seed inputs a script
/// writes to start its corpus (`kiln-fuzz seeds TARGET DIR`).
struct FuzzTarget: Sendable {
    let name: String
    /// Guest-facing targets get the larger budget of an extended run (docs/hardening.md).
    let guestFacing: Bool
    let run: @Sendable (UnsafeRawBufferPointer) -> Void
    let seeds: @Sendable () -> [[UInt8]]
}

extension FuzzTarget {
    /// Every target, in the order the CI suite runs them.
    static let all: [FuzzTarget] = [
        queueTarget, mmioTarget, rngTarget, blockTarget, netTarget, vsockTarget, fsTarget,
        elfTarget, bzImageTarget, apiTarget, configTarget, agentTarget, imageReferenceTarget,
        layerTarget, snapshotTarget, restoreTarget, ociConfigTarget, httpTarget,
    ]

    static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}
