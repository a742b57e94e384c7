import CLibcrypto
import Glibc

/// Streaming SHA-256 over files with OpenSSL's libcrypto (SHA-NI where the CPU has it: a layer of
/// hundreds of MiB hashes in well under a second, where the coreutils or a Swift implementation
/// take several times longer).
enum SHA256 {
    /// The digest and byte count of the file at `path`, read in 1 MiB chunks.
    static func digest(ofFile path: String) throws(ImageError) -> (digest: Digest, size: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw .system("open", path) }
        defer { close(fd) }
        guard let context = EVP_MD_CTX_new() else { throw .system(operation: "EVP_MD_CTX_new", path: path, errno: ENOMEM) }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            throw .system(operation: "EVP_DigestInit_ex", path: path, errno: EINVAL)
        }
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let count = read(fd, buffer, chunk)
            if count < 0 {
                if errno == EINTR { continue }
                throw .system("read", path)
            }
            if count == 0 { break }
            _ = EVP_DigestUpdate(context, buffer, count)
            total += Int64(count)
        }
        return (finish(context), total)
    }

    /// The digest of bytes in memory (tests, names).
    static func digest(of bytes: [UInt8]) -> Digest {
        let context = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(context) }
        _ = EVP_DigestInit_ex(context, EVP_sha256(), nil)
        bytes.withUnsafeBytes { _ = EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        return finish(context)
    }

    private static func finish(_ context: OpaquePointer?) -> Digest {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = EVP_DigestFinal_ex(context, &out, &length)
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for byte in out {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0xf)])
        }
        // 64 lowercase hex digits by construction.
        return Digest(hex: String(decoding: hex, as: UTF8.self))!
    }
}
