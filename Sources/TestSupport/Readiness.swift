#if canImport(Glibc)
import Glibc
#endif

/// Whether `fd` becomes readable within `milliseconds` (0: is it readable now), by poll(2).
public func isReadable(_ fd: Int32, withinMilliseconds milliseconds: Int32 = 0) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&entry, 1, milliseconds) == 1 && entry.revents & Int16(POLLIN) != 0
}
