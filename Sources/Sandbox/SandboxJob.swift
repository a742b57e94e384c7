import AgentProtocol
import Glibc

/// What `kiln run` does once the VM's agent answers: copy files in, run the command with the
/// terminal's streams, copy files out. Each step is its own agent session (connection).
public struct SandboxJob: Sendable {
    public struct Copy: Sendable, Equatable {
        public let source: String
        public let destination: String
        public init(source: String, destination: String) {
            self.source = source
            self.destination = destination
        }
    }

    public var request: ExecRequest
    public var copyIn: [Copy] = []
    public var copyOut: [Copy] = []
    /// Told as each session starts and ends ("copy-in /etc/hosts", "exec"; `ended` false, then
    /// true): kiln-oci's relay logs them with --debug, to see where the time between `start`
    /// and the process's end goes.
    public var onSession: (@Sendable (_ session: String, _ ended: Bool) -> Void)?

    public init(request: ExecRequest) { self.request = request }

    /// Runs the job; `signals` is a descriptor whose bytes are signal numbers to forward.
    /// Returns the command's status. Copy-outs run only when the command ran. Every session
    /// (connect, hello, copies, the command) keeps to `limits`.
    /// `first`: a session already open (the one `openSession` found the agent with) for the
    /// first step, so the job needs one connection fewer; it is closed here.
    public func run(endpoint: AgentEndpoint, signals: Int32?, limits: SessionLimits = SessionLimits(),
                    first: consuming ReadySession? = nil) throws(SandboxError) -> ExitStatus {
        var first = first
        defer { if let unused = first.take() { close(unused.fd) } }
        for copy in copyIn {
            onSession?("copy-in \(copy.destination)", false)
            let session = try Self.session(reusing: &first, endpoint: endpoint, limits: limits)
            let fd = session.fd
            defer { close(fd) }
            try session.client.copyIn(source: copy.source, destination: copy.destination)
            onSession?("copy-in \(copy.destination)", true)
        }
        let status: ExitStatus
        do {
            onSession?("exec", false)
            let session = try Self.session(reusing: &first, endpoint: endpoint, limits: limits)
            let fd = session.fd
            defer { close(fd) }
            status = try session.client.run(request, stdin: request.stdin ? 0 : nil, stdout: 1, stderr: 2, signals: signals)
            onSession?("exec", true)
        }
        for copy in copyOut {
            let fd = try endpoint.connect(deadline: limits.deadline(within: limits.setupTimeout))
            defer { close(fd) }
            try AgentClient(fd: fd, limits: limits).copyOut(source: copy.source, destination: copy.destination)
        }
        return status
    }

    /// The open session `first` (taken, under `limits` from now on), else a new one.
    private static func session(reusing first: inout ReadySession?, endpoint: AgentEndpoint,
                                limits: SessionLimits) throws(SandboxError) -> ReadySession {
        if var session = first.take() {
            session.client.relimit(limits)
            return session
        }
        let fd = try endpoint.connect(deadline: limits.deadline(within: limits.setupTimeout))
        do throws(SandboxError) {
            return ReadySession(fd: fd, client: try AgentClient(fd: fd, limits: limits), found: .polled)
        } catch {
            close(fd)
            throw error
        }
    }

    /// Asks the agent to power the VM off. Every step of the session gives up after `timeout`
    /// seconds in all: a guest whose agent never answers (hung, or none at all) must not hang
    /// `kiln rm` or the end of `kiln run`; the caller then kills the VMM.
    public static func powerOff(endpoint: AgentEndpoint, timeout: Double = 5) throws(SandboxError) {
        let limits = SessionLimits.within(timeout)
        let fd = try endpoint.connect(deadline: limits.deadline)
        defer { close(fd) }
        try AgentClient(fd: fd, limits: limits).powerOff()
    }

    /// How `waitForAgent` found the agent.
    public enum AgentFound: String, Sendable {
        /// The agent announced itself (AgentReadySignal) and answered right after.
        case announced
        /// An attempt of the host's own answered.
        case polled
    }

    /// Tries to open a session until the agent answers the hello or `deadline` (monotonic
    /// seconds) passes, or `givesUp` says to stop (the VM exited). With a `ready` signal the
    /// host tries when the agent announces itself, and otherwise only every half second (an
    /// agent that cannot announce is still found); without one it polls every 10 ms. No
    /// attempt outlasts the deadline: a VMM that accepts the connection for a guest that never
    /// answers cannot hold it.
    /// `announcingRestore`: each attempt's session is the restore notice (docs/agent-protocol.md,
    /// restored) instead of an empty one, so a restored VM's agent sets its clock in the same
    /// session that shows it answers.
    @discardableResult
    public static func waitForAgent(endpoint: AgentEndpoint, deadline: Double, ready: AgentReadySignal? = nil,
                                    announcingRestore: Bool = false,
                                    givesUp: () -> Bool) throws(SandboxError) -> AgentFound {
        try untilAnswered(deadline: deadline, ready: ready, givesUp: givesUp) { announced, attempt throws(SandboxError) in
            let fd = try endpoint.connect(deadline: attempt)
            defer { close(fd) }
            // A hello and a clean close: the agent counts it as an empty session.
            let client = try AgentClient(fd: fd, limits: SessionLimits(deadline: attempt))
            if announcingRestore { try client.announceRestore() }
            return announced ? .announced : .polled
        }
    }

    /// As `waitForAgent`, but the session that answered stays open, its hellos exchanged, for
    /// `run` to carry the job's first request: `kiln run` opens one connection fewer between
    /// the guest's boot and the command. The caller owns the session's descriptor.
    public static func openSession(endpoint: AgentEndpoint, deadline: Double, ready: AgentReadySignal? = nil,
                                   givesUp: () -> Bool) throws(SandboxError) -> ReadySession {
        try untilAnswered(deadline: deadline, ready: ready, givesUp: givesUp) { announced, attempt throws(SandboxError) in
            let fd = try endpoint.connect(deadline: attempt)
            do throws(SandboxError) {
                let client = try AgentClient(fd: fd, limits: SessionLimits(deadline: attempt))
                return ReadySession(fd: fd, client: client, found: announced ? .announced : .polled)
            } catch {
                close(fd)
                throw error
            }
        }
    }

    /// Calls `attempt` (whether the agent announced itself, the attempt's deadline) when the
    /// agent announces itself or the fallback period passes, until it returns.
    private static func untilAnswered<Answer: ~Copyable>(
        deadline: Double, ready: AgentReadySignal?, givesUp: () -> Bool,
        attempt: (_ announced: Bool, _ deadline: Double) throws(SandboxError) -> Answer
    ) throws(SandboxError) -> Answer {
        var lastError: SandboxError = .protocolError(.timedOut("waiting for the agent to answer"))
        let limits = SessionLimits(deadline: deadline)
        let fallbackPeriod = 0.5
        var nextFallback = MonotonicClock.now() + fallbackPeriod
        while MonotonicClock.now() < deadline {
            if givesUp() { throw lastError }
            var announced = false
            if let ready {
                // Short slices, so `givesUp` is asked often.
                announced = ready.wait(until: min(deadline, nextFallback, MonotonicClock.now() + 0.05))
                if !announced && MonotonicClock.now() < nextFallback { continue }
                nextFallback = MonotonicClock.now() + fallbackPeriod
            }
            do {
                // Each attempt gets a few seconds, so a connection the guest never answers is
                // retried (the agent may not have been listening yet) rather than waited on.
                return try attempt(announced, limits.deadline(within: 5))
            } catch {
                lastError = error
            }
            // Also after an announcement that led nowhere: a guest connecting over and over
            // makes the host try at most every 10 ms.
            usleep(10_000)
        }
        throw .protocolError(.timedOut("waiting for the agent to answer (last attempt: \(lastError))"))
    }
}

/// An agent session whose hellos are exchanged and that has carried no request yet. Whoever
/// holds it closes `fd` once the session is over.
public struct ReadySession: ~Copyable {
    public let fd: Int32
    public var client: AgentClient
    /// How the agent was found (`SandboxJob.openSession`).
    public let found: SandboxJob.AgentFound

    public init(fd: Int32, client: consuming AgentClient, found: SandboxJob.AgentFound) {
        self.fd = fd
        self.client = client
        self.found = found
    }
}

public func monotonicNow() -> Double { MonotonicClock.now() }

extension SandboxJob.Copy {
    /// `SRC:DST` (the first colon splits; both sides non-empty).
    public static func parse(_ text: String) -> SandboxJob.Copy? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let source = String(text[..<colon])
        let destination = String(text[text.index(after: colon)...])
        guard !source.isEmpty, !destination.isEmpty else { return nil }
        return SandboxJob.Copy(source: source, destination: destination)
    }
}
