import Glibc
@testable import SandboxHost
import Testing

@Suite struct GuestAssetsTests {
    @Test func defaultDirectoryFollowsTheEnvironment() {
        #expect(GuestAssets.defaultDirectory(environment: ["KILN_DATA_DIR": "/srv/kiln", "HOME": "/h"], isRoot: true) == "/srv/kiln")
        #expect(GuestAssets.defaultDirectory(environment: ["HOME": "/h"], isRoot: true) == "/var/lib/kiln")
        #expect(GuestAssets.defaultDirectory(environment: ["XDG_DATA_HOME": "/x", "HOME": "/h"], isRoot: false) == "/x/kiln")
        // A relative XDG_DATA_HOME is invalid by the spec and ignored.
        #expect(GuestAssets.defaultDirectory(environment: ["XDG_DATA_HOME": "x", "HOME": "/h"], isRoot: false) == "/h/.local/share/kiln")
    }

    @Test func installCopiesWholeFilesAndReplacesAtomically() throws {
        let scratch = TestDirectory()
        let assets = GuestAssets(directory: scratch.path + "/data/kiln")
        let source = scratch.path + "/vmlinux.src"
        let bytes = (0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let fd = open(source, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
        close(fd)
        let installed = try assets.install(source, as: GuestAssets.kernelName)
        #expect(installed == assets.kernel)
        #expect(readAll(installed) == bytes)
        // Installing again replaces it; nothing temporary is left beside it.
        #expect(FileText.write(source, "second") == nil)
        try assets.install(source, as: GuestAssets.kernelName)
        #expect(readAll(assets.kernel) == Array("second".utf8))
        #expect(FileText.entries(assets.directory) == [GuestAssets.kernelName])
        var info = stat()
        #expect(stat(assets.kernel, &info) == 0 && info.st_mode & 0o777 == 0o644)
    }

    @Test func aMissingSourceLeavesTheInstalledFile() throws {
        let scratch = TestDirectory()
        let assets = GuestAssets(directory: scratch.path + "/kiln")
        let source = scratch.path + "/initrd"
        #expect(FileText.write(source, "agent") == nil)
        try assets.install(source, as: GuestAssets.agentInitrdName)
        #expect(throws: SandboxHostError.self) { try assets.install(scratch.path + "/missing", as: GuestAssets.agentInitrdName) }
        #expect(readAll(assets.agentInitrd) == Array("agent".utf8))
        #expect(GuestAssets.readable(assets.agentInitrd) == assets.agentInitrd)
        #expect(GuestAssets.readable(assets.kernel) == nil)
    }

    private func readAll(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { return result }
            result += buffer[0..<count]
        }
    }
}
