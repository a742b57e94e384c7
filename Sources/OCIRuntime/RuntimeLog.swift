import Glibc

/// runc's `--log FILE --log-format text|json`: conmon and containerd's shim read the last error
/// from that file, so the lines are logrus's: `time="..." level=error msg="..."` or
/// `{"level":"error","msg":"...","time":"..."}`.
public struct RuntimeLog: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public let path: String?
    public let format: Format

    public init(path: String?, format: Format) {
        self.path = path
        self.format = format
    }

    /// One record, without the newline.
    public static func line(level: String, message: String, time: String, format: Format) -> String {
        switch format {
        case .json:
            JSONOutput.object([("level", .string(level)), ("msg", .string(message)), ("time", .string(time))]).serialized()
        case .text:
            "time=\(quoted(time)) level=\(level) msg=\(quoted(message))"
        }
    }

    /// logrus quotes a value with Go's %q: backslash escapes for quotes, backslashes and
    /// control characters.
    static func quoted(_ text: String) -> String {
        var out = ""
        QuotedText.append(text, to: &out) { hex in "\\x" + (hex.count < 2 ? "0" : "") + hex }
        return out
    }

    /// Appends a record to the log file (O_APPEND: several runtime processes share it). A log
    /// that cannot be written is not an error of the operation itself.
    public func write(level: String, _ message: String) {
        guard let path else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var text = Self.line(level: level, message: message, time: Self.now(), format: format) + "\n"
        text.withUTF8 { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    /// RFC 3339 UTC with nanoseconds, as Go's time.RFC3339Nano prints it.
    public static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return rfc3339(seconds: spec.tv_sec, nanoseconds: Int(spec.tv_nsec))
    }

    public static func rfc3339(seconds: Int, nanoseconds: Int = 0) -> String {
        var time = seconds
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
        if nanoseconds > 0 {
            var fraction = String(nanoseconds)
            fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text + "Z"
    }
}
