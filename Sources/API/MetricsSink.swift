import Synchronization
import Devices
import VMM
#if canImport(Glibc)
import Glibc
#endif

/// Firecracker-style metrics: one JSON object per line, written to a file or FIFO on
/// FlushMetrics and periodically. Counters are cumulative since the process started.
public final class MetricsSink: @unchecked Sendable {
    private var fd: Int32 = -1
    /// Requests per method (lowercased), in first-seen order. An array, not a Dictionary: the
    /// first Dictionary of a key type made the Swift runtime scan every protocol conformance of
    /// the binary (~0.26 M instructions) while answering kiln's first API request.
    private var requestCounts: [(method: String, count: UInt64)] = []
    private var clientErrors: UInt64 = 0
    private(set) var linesWritten: UInt64 = 0

    deinit { if fd >= 0 { close(fd) } }

    /// Opens `path` for appending (created if missing). Non-blocking, so a FIFO nobody reads
    /// never stalls the VMM thread: a line that does not fit is dropped and counted.
    func open(_ path: String) throws(ConfigurationError) {
        let opened = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0o600)
        guard opened >= 0 else {
            throw ConfigurationError("metrics: cannot open \(path): \(String(cString: strerror(errno)))")
        }
        fd = opened
    }

    func count(method: String, status: Int) {
        let name = method.lowercased()
        if let index = requestCounts.firstIndex(where: { $0.method == name }) {
            requestCounts[index].count &+= 1
        } else {
            requestCounts.append((name, 1))
        }
        if status >= 400 { clientErrors &+= 1 }
    }

    func line(vm: (any RunningVM)?) -> JSONValue {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let milliseconds = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
        var api: [(String, JSONValue)] = requestCounts.sorted { $0.method < $1.method }.map { ("\($0.method)_requests", .uint($0.count)) }
        api.append(("client_errors", .uint(clientErrors)))
        var members: [(String, JSONValue)] = [("utc_timestamp_ms", .int(milliseconds)), ("api_server", .object(api))]
        if let metrics = vm?.metrics {
            members.append(("vcpu", .object(metrics.vcpuExits.sorted { $0.key < $1.key }.map { ($0.key, .uint($0.value)) })))
            // Keyed by drive_id and iface_id: the machine's inventory knows each device by its id.
            members.append(("block", .object(metrics.block.map { ($0.id, Self.json($0.counters)) })))
            members.append(("virtio", .object(metrics.transports.map {
                ($0.device, .object([("queue_events", .uint($0.queueEvents)), ("interrupts", .uint($0.interrupts))]))
            })))
            if !metrics.net.isEmpty {
                members.append(("net", .object(metrics.net.map { ($0.id, Self.json(reflecting: $0.counters)) })))
            }
            if let vsock = metrics.vsock { members.append(("vsock", Self.json(reflecting: vsock))) }
            if !metrics.fs.isEmpty {
                members.append(("fs", .object(metrics.fs.map { ($0.tag, Self.json(reflecting: $0.counters)) })))
            }
            if let entropy = metrics.entropy {
                members.append(("entropy", .object([("requests", .uint(entropy.requests)),
                                                    ("bytes", .uint(entropy.bytes)), ("errors", .uint(entropy.errors))])))
            }
        }
        return .object(members)
    }

    /// Writes one line now.
    func flush(vm: (any RunningVM)?) throws(ConfigurationError) {
        guard fd >= 0 else { throw ConfigurationError("metrics are not configured") }
        let text = line(vm: vm).serialized + "\n"
        let written = text.utf8.withContiguousStorageIfAvailable { write(fd, $0.baseAddress, $0.count) }
            ?? Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == text.utf8.count else {
            throw ConfigurationError("metrics: write failed: \(written < 0 ? String(cString: strerror(errno)) : "short write")")
        }
        linesWritten &+= 1
    }

    /// A counters struct as a JSON object: every integer field, its name in snake_case.
    /// Reflection costs allocations, which is fine once per metrics line.
    static func json(reflecting counters: Any) -> JSONValue {
        .object(Mirror(reflecting: counters).children.compactMap { child in
            guard let label = child.label else { return nil }
            let key = label.reduce(into: "") { out, character in
                if character.isUppercase { out += "_" + character.lowercased() } else { out.append(character) }
            }
            switch child.value {
            case let value as UInt64: return (key, .uint(value))
            case let value as Int: return (key, .int(Int64(value)))
            case let value as UInt32: return (key, .uint(UInt64(value)))
            default: return nil
            }
        })
    }

    private static func json(_ c: BlockCounters) -> JSONValue {
        .object([("requests", .uint(c.requests)), ("read_count", .uint(c.readRequests)),
                 ("write_count", .uint(c.writeRequests)), ("flush_count", .uint(c.flushes)),
                 ("get_id_count", .uint(c.getIDs)), ("read_bytes", .uint(c.bytesRead)),
                 ("write_bytes", .uint(c.bytesWritten)), ("io_errors", .uint(c.ioErrors)),
                 ("unsupported", .uint(c.unsupported)), ("malformed_chains", .uint(c.malformedChains)),
                 ("rate_limiter_throttled_events", .uint(c.rateLimiterThrottledEvents))])
    }
}
