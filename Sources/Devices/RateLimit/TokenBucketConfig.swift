/// One token bucket of a Firecracker `RateLimiter` (API definition `TokenBucket`): `size`
/// tokens refilled evenly over `refillTimeMilliseconds`, plus `oneTimeBurst` tokens available
/// once, at the start, spent before the refilled ones and never refilled.
///
/// A bucket with `size` or `refillTimeMilliseconds` zero limits nothing, as in Firecracker.
public struct TokenBucketConfig: Sendable, Equatable {
    public var size: UInt64
    public var oneTimeBurst: UInt64
    public var refillTimeMilliseconds: UInt64

    public init(size: UInt64, oneTimeBurst: UInt64 = 0, refillTimeMilliseconds: UInt64) {
        self.size = size
        self.oneTimeBurst = oneTimeBurst
        self.refillTimeMilliseconds = refillTimeMilliseconds
    }

    public var isUnlimited: Bool { size == 0 || refillTimeMilliseconds == 0 }
}

/// A Firecracker `RateLimiter`: a bucket of bytes and a bucket of operations (requests for
/// virtio-blk, frames for virtio-net); a request waits until every configured bucket allows it.
public struct RateLimiterConfig: Sendable, Equatable {
    /// Tokens are bytes of data (a virtio-blk request's data, a frame without its virtio header).
    public var bandwidth: TokenBucketConfig?
    /// Tokens are requests or frames.
    public var ops: TokenBucketConfig?

    public init(bandwidth: TokenBucketConfig? = nil, ops: TokenBucketConfig? = nil) {
        self.bandwidth = bandwidth
        self.ops = ops
    }

    public static let unlimited = RateLimiterConfig()

    public var isUnlimited: Bool { (bandwidth?.isUnlimited ?? true) && (ops?.isUnlimited ?? true) }
}
