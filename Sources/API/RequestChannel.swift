import CKiln
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Hands API requests from the HTTP thread to the VMM thread and the response back, one at a
/// time, as Firecracker's API and VMM threads do: all VM state is touched by the VMM thread only.
/// Two eventfds carry the wake-ups, so each side can wait in poll/read without spinning.
public final class RequestChannel: Sendable {
    private let pending = Mutex<APIRequest?>(nil)
    private let answered = Mutex<APIResponse?>(nil)
    private let requestReady: Int32
    private let responseReady: Int32

    public init() throws(ConfigurationError) {
        requestReady = kiln_eventfd(0, KILN_EFD_CLOEXEC | KILN_EFD_NONBLOCK)
        responseReady = kiln_eventfd(0, KILN_EFD_CLOEXEC)
        guard requestReady >= 0, responseReady >= 0 else {
            throw ConfigurationError("eventfd for the API channel: \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        close(requestReady)
        close(responseReady)
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
        signal(responseReady)
    }

    private func signal(_ fd: Int32) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }
}
