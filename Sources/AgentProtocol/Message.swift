/// What a command asks for: docs/agent-protocol.md, message 0x02.
public struct ExecRequest: Equatable, Sendable {
    public var argv: [String]
    public var env: [String]
    /// Working directory; empty means the agent's own ("/").
    public var cwd: String
    public var uid: UInt32
    public var gid: UInt32
    /// Whether the host will send stdin frames; otherwise the command's stdin is /dev/null.
    public var stdin: Bool
    /// Supplementary groups set before the gid (empty: cleared, as a plain exec does).
    public var groups: [UInt32] = []
    /// Resource limits set before the command starts (setrlimit, as root, before setuid).
    public var limits: [ResourceLimit] = []
    /// Whether a missing working directory is made (mode 0755, owned by root, as runc does)
    /// rather than an error.
    public var makeCwd = false

    public init(argv: [String], env: [String] = [], cwd: String = "", uid: UInt32 = FrameLimits.keepID,
                gid: UInt32 = FrameLimits.keepID, stdin: Bool = false) {
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.uid = uid
        self.gid = gid
        self.stdin = stdin
    }

    /// Whether the request needs the extended form (message 0x12): an agent that predates it
    /// refuses it, so a plain request keeps the plain form.
    public var isExtended: Bool { !groups.isEmpty || !limits.isEmpty || makeCwd }
}

/// One setrlimit: Linux's resource number (RLIMIT_NOFILE is 7) and its soft and hard values
/// (UInt64.max is RLIM_INFINITY).
public struct ResourceLimit: Equatable, Sendable {
    public var resource: UInt32
    public var soft: UInt64
    public var hard: UInt64

    /// Linux's resources are numbered 0 (RLIMIT_CPU) to 15 (RLIMIT_RTTIME).
    public static let resourceCount: UInt32 = 16

    public init(resource: UInt32, soft: UInt64, hard: UInt64) {
        self.resource = resource
        self.soft = soft
        self.hard = hard
    }
}

/// How a command ended.
public enum ExitStatus: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    /// What a shell reports: the code, or 128 + the signal number.
    public var shellCode: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }
}

/// One protocol message. Type bytes and layouts: docs/agent-protocol.md.
public enum Message: Equatable, Sendable {
    case hello(version: UInt32)
    case exec(ExecRequest)
    case stdinData([UInt8])
    case stdinClose
    case stdout([UInt8])
    case stderr([UInt8])
    case exit(ExitStatus)
    case signal(Int32)
    case copyIn(path: String, mode: UInt32, size: UInt64)
    case copyOut(path: String)
    case fileInfo(mode: UInt32, size: UInt64)
    case fileData([UInt8])
    case fileEnd
    case powerOff
    case ok
    case error(code: UInt32, message: String)
    /// The VM was restored from a snapshot: the host's wall clock (CLOCK_REALTIME) when it
    /// sent this, for the agent to set the guest's.
    case restored(seconds: UInt64, nanoseconds: UInt32)

    /// The wire type byte.
    public var typeByte: UInt8 {
        switch self {
        case .hello: 0x01
        case .exec(let request): request.isExtended ? 0x12 : 0x02
        case .stdinData: 0x03
        case .stdinClose: 0x04
        case .stdout: 0x05
        case .stderr: 0x06
        case .exit: 0x07
        case .signal: 0x08
        case .copyIn: 0x09
        case .copyOut: 0x0A
        case .fileInfo: 0x0B
        case .fileData: 0x0C
        case .fileEnd: 0x0D
        case .powerOff: 0x0E
        case .ok: 0x0F
        case .error: 0x10
        case .restored: 0x11
        }
    }

    /// A short name for error messages ("unexpected stdout").
    public var name: String {
        switch self {
        case .hello: "hello"
        case .exec: "exec"
        case .stdinData: "stdin-data"
        case .stdinClose: "stdin-close"
        case .stdout: "stdout"
        case .stderr: "stderr"
        case .exit: "exit"
        case .signal: "signal"
        case .copyIn: "copy-in"
        case .copyOut: "copy-out"
        case .fileInfo: "file-info"
        case .fileData: "file-data"
        case .fileEnd: "file-end"
        case .powerOff: "power-off"
        case .ok: "ok"
        case .error: "error"
        case .restored: "restored"
        }
    }
}
