import Devices

/// Firecracker's `RateLimiter` body (`rate_limiter`, `rx_rate_limiter`, `tx_rate_limiter`):
/// `{"bandwidth": TokenBucket, "ops": TokenBucket}`, both optional; `{}` or an explicit `null`
/// means no limit. Decoded strictly; the result is the device layer's `RateLimiterConfig`.
enum RateLimiterBody {
    enum Keys: String, CodingKey, CaseIterable { case bandwidth, ops }
    enum BucketKeys: String, CodingKey, CaseIterable {
        case size, oneTimeBurst = "one_time_burst", refillTime = "refill_time"
    }

    /// `key` of `container`, absent or null = nil. `owner` names the object in errors.
    static func decode<K: CodingKey>(_ container: KeyedDecodingContainer<K>, forKey key: K,
                                     owner: String) throws -> RateLimiterConfig? {
        guard container.contains(key), (try? container.decodeNil(forKey: key)) != true else { return nil }
        let what = "\(owner): \(key.stringValue)"
        let decoder = try container.superDecoder(forKey: key)
        try decoder.rejectUnknownKeys(Set(Keys.allCases.map(\.rawValue)), in: what)
        let c = try decoder.container(keyedBy: Keys.self)
        return RateLimiterConfig(bandwidth: try bucket(c, .bandwidth, what: what),
                                 ops: try bucket(c, .ops, what: what))
    }

    private static func bucket(_ c: KeyedDecodingContainer<Keys>, _ key: Keys,
                               what: String) throws -> TokenBucketConfig? {
        guard c.contains(key), (try? c.decodeNil(forKey: key)) != true else { return nil }
        let what = "\(what).\(key.rawValue)"
        let decoder = try c.superDecoder(forKey: key)
        try decoder.rejectUnknownKeys(Set(BucketKeys.allCases.map(\.rawValue)), in: what)
        let b = try decoder.container(keyedBy: BucketKeys.self)
        func count(_ field: BucketKeys, required: Bool) throws -> UInt64 {
            guard let value = required ? try b.decode(Int64.self, forKey: field)
                                       : try b.decodeIfPresent(Int64.self, forKey: field) else { return 0 }
            guard value >= 0 else { throw ConfigurationError("\(what): \(field.rawValue) must be >= 0 (got \(value))") }
            return UInt64(value)
        }
        return TokenBucketConfig(size: try count(.size, required: true),
                                 oneTimeBurst: try count(.oneTimeBurst, required: false),
                                 refillTimeMilliseconds: try count(.refillTime, required: true))
    }
}

extension RateLimiterConfig {
    /// As `GET /vm/config` shows it (Firecracker's field names).
    var json: JSONValue {
        var members: [(String, JSONValue)] = []
        if let bandwidth { members.append(("bandwidth", bandwidth.json)) }
        if let ops { members.append(("ops", ops.json)) }
        return .object(members)
    }
}

extension TokenBucketConfig {
    var json: JSONValue {
        .object([("size", .uint(size)), ("one_time_burst", .uint(oneTimeBurst)),
                 ("refill_time", .uint(refillTimeMilliseconds))])
    }
}
