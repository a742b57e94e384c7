/// Protocol constants shared by the agent and the host (docs/agent-protocol.md).
public enum FrameLimits {
    /// "KILN" in ASCII, first field of every hello.
    public static let helloMagic: UInt32 = 0x4B49_4C4E
    /// The protocol version this code speaks. A peer with another version is refused.
    public static let version: UInt32 = 1
    /// Largest value of a frame's length prefix (type byte + body).
    public static let maxFrameLength: UInt32 = 1 << 20
    /// Largest data payload a sender puts in one stdout/stderr/stdin/file chunk.
    public static let maxChunk = 64 * 1024
    /// Most argv or env entries an exec request may carry.
    public static let maxListCount = 4096
    /// The vsock port the agent listens on.
    public static let agentPort: UInt32 = 1024
    /// The host vsock port the agent connects to, once, when it listens: the host learns the
    /// agent is up without connecting again and again while the guest boots (each refused
    /// attempt costs the booting guest an interrupt and a reply).
    public static let agentReadyPort: UInt32 = 1025
    /// Most supplementary groups an extended exec may carry (Linux's NGROUPS_MAX).
    public static let maxGroups = 65536
    /// "Keep the agent's own" for uid and gid in an exec request.
    public static let keepID: UInt32 = .max
}
