import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where swift-log's messages go: standard error until `PUT /logger` names a file or FIFO,
/// with Firecracker's level filter and optional level/origin prefixes.
public final class LogSink: Sendable {
    public static let shared = LogSink()

    private struct Settings {
        var fd: Int32 = 2
        var level: LogLevel = .warning
        var showLevel = false
        var showOrigin = false
        var module: String?
    }

    private let settings = Mutex(Settings())

    /// Installs the sink as swift-log's backend; call once, at process start.
    public static func bootstrap() {
        LoggingSystem.bootstrap { label in SinkHandler(label: label, sink: .shared) }
    }

    func configure(_ config: LoggerConfig) throws(ConfigurationError) {
        var fd: Int32 = 2
        if let path = config.logPath {
            fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ConfigurationError("logger: cannot open \(path): \(String(cString: strerror(errno)))") }
        }
        let old = settings.withLock { current -> Int32 in
            let old = current.fd
            current = Settings(fd: fd, level: config.level, showLevel: config.showLevel,
                               showOrigin: config.showLogOrigin, module: config.module)
            return old
        }
        if old > 2 { close(old) }
    }

    func isEnabled(_ level: LogLevel, label: String) -> Bool {
        settings.withLock { $0.level != .off && level <= $0.level && ($0.module.map { label.hasPrefix($0) } ?? true) }
    }

    func write(level: LogLevel, label: String, message: String, file: String, line: UInt) {
        let (fd, prefix) = settings.withLock { s -> (Int32, String) in
            var prefix = ""
            if s.showLevel { prefix += ":\(level.name.uppercased())" }
            if s.showOrigin { prefix += ":\(file.split(separator: "/").last ?? ""):\(line)" }
            return (s.fd, prefix)
        }
        var timestamp = timespec()
        clock_gettime(CLOCK_REALTIME, &timestamp)
        let micros = String(timestamp.tv_nsec / 1000)
        var text = "\(timestamp.tv_sec).\(String(repeating: "0", count: 6 - micros.count) + micros) [\(label)\(prefix)] \(message)\n"
        text.withUTF8 { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
    }
}

struct SinkHandler: LogHandler {
    let label: String
    let sink: LogSink
    var metadata: Logger.Metadata = [:]
    // The sink filters; swift-log's own level stays at the lowest.
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level: LogLevel = switch event.level {
        case .trace: .trace
        case .debug: .debug
        case .info, .notice: .info
        case .warning: .warning
        case .error, .critical: .error
        }
        guard sink.isEnabled(level, label: label) else { return }
        sink.write(level: level, label: label, message: "\(event.message)", file: event.file, line: event.line)
    }
}
