import CKiln
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Hands API requests from the HTTP thread to the VMM thread and the response back, one at a
/// time, as Firecracker's API and VMM threads do: all VM state is touched by the VMM thread only.
/// Eventfds carry the wake-ups, so each side can wait in poll/read without spinning.
///
/// An answer the VMM thread has given is not yet on the client's socket: the HTTP thread still
/// has to write it. A request that ends the VM (SendCtrlAltDel to a guest that resets at once)
/// let kiln exit in between, and the client saw the connection close with no status (1 in
/// 1,000 sequential VMs under load); so the VMM waits for delivery before it exits.
public final class RequestChannel: Sendable {
    private let pending = Mutex<APIRequest?>(nil)
    private let answered = Mutex<APIResponse?>(nil)
    /// How long an exiting VMM waits for its last answers to reach their clients.
    public static let deliveryGraceMilliseconds: Int32 = 1000
    /// Answers given by `serve` that the HTTP thread has not reported `delivered` yet.
    private let undelivered = Mutex<Int>(0)
    private let requestReady: Int32
    private let responseReady: Int32
    private let responseDelivered: Int32

    public init() throws(ConfigurationError) {
        requestReady = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        responseReady = kiln_eventfd(0, KILN_EFD_CLOEXEC)
        responseDelivered = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        guard requestReady >= 0, responseReady >= 0, responseDelivered >= 0 else {
            let message = String(cString: strerror(errno))
            for fd in [requestReady, responseReady, responseDelivered] where fd >= 0 { close(fd) }
            throw ConfigurationError("eventfd for the API channel: \(message)")
        }
    }

    deinit {
        close(requestReady)
        close(responseReady)
        close(responseDelivered)
    }

    /// HTTP thread: blocks until the VMM thread has answered.
    public func call(_ request: APIRequest) -> APIResponse {
        pending.withLock { $0 = request }
        signal(requestReady)
        var value: UInt64 = 0
        while read(responseReady, &value, 8) < 0 && errno == EINTR {}
        return answered.withLock { response in
            defer { response = nil }
            return response ?? .badRequest("internal error: no response")
        }
    }

    /// VMM thread: waits up to `milliseconds` (-1: forever) for a request and answers it.
    public func serve(waitingUpTo milliseconds: Int32, _ handle: (APIRequest) -> APIResponse) {
        var descriptor = pollfd(fd: requestReady, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, milliseconds) > 0 else { return }
        var value: UInt64 = 0
        guard read(requestReady, &value, 8) == 8 else { return }
        guard let request = pending.withLock({ request -> APIRequest? in defer { request = nil }; return request }) else { return }
        let response = handle(request)
        answered.withLock { $0 = response }
        undelivered.withLock { $0 += 1 }
        signal(responseReady)
    }

    /// HTTP thread: the answer `call` returned has been written to the client's socket (or the
    /// client is gone).
    public func delivered() {
        let counted = undelivered.withLock { count -> Bool in
            guard count > 0 else { return false }
            count -= 1
            return true
        }
        if counted { signal(responseDelivered) }
    }

    /// VMM thread, before the process exits: waits up to `milliseconds` until every answer
    /// `serve` gave has been delivered. Uses only poll and read, which the VMM thread's seccomp
    /// filter allows (as `serve` does). Returns whether all were delivered.
    @discardableResult
    public func waitUntilDelivered(upTo milliseconds: Int32) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Int64(deadline.tv_sec) * 1000 + Int64(deadline.tv_nsec) / 1_000_000 + Int64(milliseconds)
        while undelivered.withLock({ $0 }) > 0 {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000)
            guard left > 0 else { return false }
            var descriptor = pollfd(fd: responseDelivered, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, Int32(left)) > 0 {
                var value: UInt64 = 0
                _ = read(responseDelivered, &value, 8)
            }
        }
        return true
    }

    private func signal(_ fd: Int32) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }
}
