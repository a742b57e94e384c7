import Glibc

/// `kill ID SIGNAL` as runc reads it: a number, or a name with or without SIG (any case).
public enum SignalName {
    static let names: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "ILL": SIGILL, "TRAP": SIGTRAP, "ABRT": SIGABRT,
        "IOT": SIGABRT, "BUS": SIGBUS, "FPE": SIGFPE, "KILL": SIGKILL, "USR1": SIGUSR1, "SEGV": SIGSEGV,
        "USR2": SIGUSR2, "PIPE": SIGPIPE, "ALRM": SIGALRM, "TERM": SIGTERM, "STKFLT": SIGSTKFLT,
        "CHLD": SIGCHLD, "CONT": SIGCONT, "STOP": SIGSTOP, "TSTP": SIGTSTP, "TTIN": SIGTTIN, "TTOU": SIGTTOU,
        "URG": SIGURG, "XCPU": SIGXCPU, "XFSZ": SIGXFSZ, "VTALRM": SIGVTALRM, "PROF": SIGPROF,
        "WINCH": SIGWINCH, "IO": SIGIO, "POLL": SIGIO, "PWR": SIGPWR, "SYS": SIGSYS,
    ]

    /// The signal number (1-64), or nil.
    public static func parse(_ text: String) -> Int32? {
        if let number = Int32(text) { return (1...64).contains(number) ? number : nil }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if let number = names[name] { return number }
        // SIGRTMIN+n / RTMAX-n, as Go's signal tables spell them.
        if name.hasPrefix("RTMIN") {
            let rest = name.dropFirst(5)
            guard rest.isEmpty || rest.hasPrefix("+"), let n = rest.isEmpty ? 0 : Int32(rest.dropFirst()) else { return nil }
            return (0...30).contains(n) ? 34 + n : nil
        }
        if name.hasPrefix("RTMAX") {
            let rest = name.dropFirst(5)
            guard rest.isEmpty || rest.hasPrefix("-"), let n = rest.isEmpty ? 0 : Int32(rest.dropFirst()) else { return nil }
            return (0...30).contains(n) ? 64 - n : nil
        }
        return nil
    }
}
