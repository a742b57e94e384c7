#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum SystemErrno {
    static var current: Int32 { errno }

    static func message(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}
