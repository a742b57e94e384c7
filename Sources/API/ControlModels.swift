/// Bodies of the control endpoints: `PUT /actions`, `PATCH /vm`, `PUT /logger`, `PUT /metrics`.

/// `PUT /actions`.
struct InstanceActionInfo: Decodable {
    enum Action: String { case instanceStart = "InstanceStart", sendCtrlAltDel = "SendCtrlAltDel", flushMetrics = "FlushMetrics" }
    let action: Action

    enum CodingKeys: String, CodingKey, CaseIterable { case actionType = "action_type" }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "action")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .actionType)
        guard let action = Action(rawValue: name) else {
            throw ConfigurationError("action_type '\(name)' is not one of InstanceStart, SendCtrlAltDel, FlushMetrics")
        }
        self.action = action
    }
}

/// `PATCH /vm`.
struct VmStateRequest: Decodable {
    let pause: Bool

    enum CodingKeys: String, CodingKey, CaseIterable { case state }

    init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "vm")
        let state = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .state)
        switch state {
        case "Paused": pause = true
        case "Resumed": pause = false
        default: throw ConfigurationError("vm state '\(state)' is not Paused or Resumed")
        }
    }
}

/// `PUT /logger`.
public struct LoggerConfig: Decodable, Equatable, Sendable {
    public var logPath: String?
    public var level: LogLevel
    public var showLevel: Bool
    public var showLogOrigin: Bool
    public var module: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case logPath = "log_path", level, showLevel = "show_level", showLogOrigin = "show_log_origin", module
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "logger")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        logPath = try c.decodeIfPresent(String.self, forKey: .logPath)
        let name = try c.decodeIfPresent(String.self, forKey: .level) ?? "Info"
        guard let level = LogLevel(name: name) else {
            throw ConfigurationError("logger: level '\(name)' is not one of Error, Warning, Info, Debug, Trace, Off")
        }
        self.level = level
        showLevel = try c.decodeIfPresent(Bool.self, forKey: .showLevel) ?? false
        showLogOrigin = try c.decodeIfPresent(Bool.self, forKey: .showLogOrigin) ?? false
        module = try c.decodeIfPresent(String.self, forKey: .module)
        if let logPath, logPath.isEmpty || logPath.utf8.contains(0) {
            throw ConfigurationError("logger: log_path must be a non-empty path")
        }
    }

    var json: JSONValue {
        var members: [(String, JSONValue)] = []
        if let logPath { members.append(("log_path", .string(logPath))) }
        members += [("level", .string(level.name)), ("show_level", .bool(showLevel)),
                    ("show_log_origin", .bool(showLogOrigin))]
        if let module { members.append(("module", .string(module))) }
        return .object(members)
    }
}

/// Firecracker's log levels (case-insensitive in requests).
public enum LogLevel: Int, Comparable, Sendable {
    case off = 0, error, warning, info, debug, trace

    init?(name: String) {
        switch name.lowercased() {
        case "off": self = .off
        case "error": self = .error
        case "warning", "warn": self = .warning
        case "info": self = .info
        case "debug": self = .debug
        case "trace": self = .trace
        default: return nil
        }
    }

    var name: String {
        switch self {
        case .off: "Off"
        case .error: "Error"
        case .warning: "Warning"
        case .info: "Info"
        case .debug: "Debug"
        case .trace: "Trace"
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// `PUT /metrics`.
public struct MetricsConfig: Decodable, Equatable, Sendable {
    public var metricsPath: String

    enum CodingKeys: String, CodingKey, CaseIterable { case metricsPath = "metrics_path", emitID = "emit_id", properties }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(CodingKeys.allCases.map(\.rawValue)), in: "metrics")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metricsPath = try c.decode(String.self, forKey: .metricsPath)
        guard !metricsPath.isEmpty, !metricsPath.utf8.contains(0) else {
            throw ConfigurationError("metrics: metrics_path must be a non-empty path")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .emitID) == true {
            throw ConfigurationError("metrics: emit_id is not supported yet")
        }
        if c.contains(.properties) { throw ConfigurationError("metrics: properties are not supported yet") }
    }

    var json: JSONValue { .object([("metrics_path", .string(metricsPath))]) }
}
