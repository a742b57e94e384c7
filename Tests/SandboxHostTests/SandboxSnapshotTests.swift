import Glibc
@testable import SandboxHost
import Testing

/// The pieces of `kiln snapshot` and `--from` that need no VM: the snapshot record, copying a
/// VMM's files out (hostile: links, other file types, sizes) and the API client's parsing.
@Suite struct SandboxSnapshotTests {
    static let sample = SandboxSnapshot(rootfs: "/var/lib/kiln/images/abc/rootfs.ext4", rootfsSize: 1 << 28, rootfsModified: 1_796_000_000,
                                        imageID: "sha256:abc", imageName: "docker.io/library/python:3.12", cpus: 2,
                                        memoryMiB: 512, scratchDisk: true, jailed: true)

    @Test func recordRoundTrips() {
        let (parsed, problem) = SandboxSnapshot.parse(Self.sample.text)
        #expect(problem == nil)
        #expect(parsed == Self.sample)
        var plain = Self.sample
        plain.imageID = nil
        plain.imageName = nil
        plain.scratchDisk = false
        #expect(SandboxSnapshot.parse(plain.text).snapshot == plain)
    }

    @Test(arguments: [
        ("", "format"), ("format=2\n", "format 2"),
        ("format=1\nrootfs=rel/path\n", "rootfs"),
        ("format=1\nrootfs=/r\nrootfs-size=x\nrootfs-mtime=1\n", "rootfs-size"),
        ("format=1\nrootfs=/r\nrootfs-size=1\nrootfs-mtime=1\ncpus=0\nmemory=1\n", "cpus"),
        ("format=1\nrootfs=/r\nrootfs-size=1\nrootfs-mtime=1\ncpus=1\nmemory=99999999999\n", "memory"),
        ("format=1\nrootfs=/r\nrootfs-size=1\nrootfs-mtime=1\ncpus=1\nmemory=64\nscratch-disk=2\njailed=1\n", "scratch-disk"),
    ])
    func badRecordsNameTheField(_ testCase: (String, String)) {
        let (parsed, problem) = SandboxSnapshot.parse(testCase.0)
        #expect(parsed == nil)
        #expect(problem?.contains(testCase.1) == true, "\(problem ?? "nil")")
    }

    @Test func loadRefusesAChangedRootDisk() throws {
        let scratch = TestDirectory()
        let rootfs = scratch.path + "/rootfs.ext4"
        TestDirectory.write(rootfs, "image")
        var info = stat()
        #expect(stat(rootfs, &info) == 0)
        let snapshot = SandboxSnapshot(rootfs: rootfs, rootfsSize: Int64(info.st_size), rootfsModified: Int64(info.st_mtim.tv_sec),
                                       imageID: nil, imageName: nil, cpus: 1, memoryMiB: 64, scratchDisk: false, jailed: false)
        let dir = scratch.make("snap")
        for name in [SandboxSnapshot.stateName, SandboxSnapshot.memoryName] { TestDirectory.write("\(dir)/\(name)", "x") }
        TestDirectory.write("\(dir)/\(SandboxSnapshot.recordName)", snapshot.text)
        #expect(try SandboxSnapshot.load(dir) == snapshot)
        TestDirectory.write(rootfs, "image, changed")
        #expect(throws: SandboxHostError.self) { try SandboxSnapshot.load(dir) }
        do { _ = try SandboxSnapshot.load(dir) } catch { #expect(error.description.contains("changed since the snapshot")) }
        unlink("\(dir)/\(SandboxSnapshot.memoryName)")
        do { _ = try SandboxSnapshot.load(dir) } catch { #expect(error.description.contains("snapshot.mem is missing")) }
    }

    @Test func copyKeepsHolesAndData() throws {
        let scratch = TestDirectory()
        let source = scratch.path + "/source"
        let fd = open(source, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let block = [UInt8](repeating: 0xA5, count: 8192)
        let size = 64 << 20
        #expect(ftruncate(fd, off_t(size)) == 0)
        for offset in [0, 20 << 20, size - 8192] {
            #expect(block.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) } == block.count)
        }
        close(fd)
        let dir = open(scratch.path, O_RDONLY | O_DIRECTORY)
        defer { close(dir) }
        let destination = scratch.path + "/copy"
        try SparseFileCopy.copy(name: "source", in: dir, directoryPath: scratch.path, to: destination, mode: 0o644, maxBytes: Int64(size))
        var info = stat()
        #expect(stat(destination, &info) == 0)
        #expect(Int(info.st_size) == size)
        #expect(info.st_mode & 0o777 == 0o644)
        // Allocated: the three blocks, not 64 MiB (a file system without SEEK_HOLE would copy it all).
        #expect(Int(info.st_blocks) * 512 < 8 << 20)
        let copy = open(destination, O_RDONLY)
        defer { close(copy) }
        var read = [UInt8](repeating: 0, count: 8192)
        for offset in [0, 20 << 20, size - 8192] {
            #expect(read.withUnsafeMutableBytes { pread(copy, $0.baseAddress, $0.count, off_t(offset)) } == 8192)
            #expect(read == block)
        }
        #expect(read.withUnsafeMutableBytes { pread(copy, $0.baseAddress, $0.count, off_t(10 << 20)) } == 8192)
        #expect(read.allSatisfy { $0 == 0 })
    }

    @Test func copyRefusesLinksOtherTypesOversizeAndAnExistingDestination() throws {
        let scratch = TestDirectory()
        TestDirectory.write(scratch.path + "/secret", "host secret")
        #expect(symlink(scratch.path + "/secret", scratch.path + "/link") == 0)
        #expect(mkfifo(scratch.path + "/fifo", 0o600) == 0)
        TestDirectory.write(scratch.path + "/big", String(repeating: "x", count: 4097))
        TestDirectory.write(scratch.path + "/taken", "mine")
        let dir = open(scratch.path, O_RDONLY | O_DIRECTORY)
        defer { close(dir) }
        for (name, limit) in [("link", Int64(1 << 20)), ("fifo", 1 << 20), ("big", 4096)] {
            #expect(throws: SandboxHostError.self, "\(name)") {
                try SparseFileCopy.copy(name: name, in: dir, directoryPath: scratch.path, to: scratch.path + "/out-\(name)",
                                        mode: 0o600, maxBytes: limit)
            }
            #expect(!TestDirectory.exists(scratch.path + "/out-\(name)"), "\(name)")
        }
        #expect(throws: SandboxHostError.self) {
            try SparseFileCopy.copy(name: "secret", in: dir, directoryPath: scratch.path, to: scratch.path + "/taken",
                                    mode: 0o600, maxBytes: 1 << 20)
        }
    }

    @Test func responsesAreParsedAndBounded() {
        let ok = Array("HTTP/1.1 204 No Content\r\nServer: kiln\r\n\r\n".utf8)
        #expect(ControlClient.parse(ok) == ControlClient.Response(status: 204, body: ""))
        let fault = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 26\r\n\r\n{\"fault_message\": \"nope\"}".utf8)
        #expect(ControlClient.parse(fault) == nil)  // one byte of the body still to come
        #expect(ControlClient.parse(fault + Array("\n".utf8))?.status == 400)
        #expect(ControlClient.parse(Array("garbage\r\n\r\n".utf8)) == nil)
        #expect(ControlClient.parse(Array("HTTP/1.1 204\r\nContent-Length: 99999999\r\n\r\n".utf8)) == nil)
        #expect(ControlClient.parse(Array("HTTP/1.1 204 No".utf8)) == nil)
    }

    @Test func theClientNeverConnectsThroughALink() throws {
        let scratch = TestDirectory()
        let socketPath = scratch.path + "/real.sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in socketPath.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0 && listen(listener, 1) == 0)
        #expect(symlink(socketPath, scratch.path + "/api.sock") == 0)
        #expect(throws: SandboxHostError.notOwned(path: scratch.path + "/api.sock", reason: "not a socket (a link?)")) {
            try ControlClient(socketPath: scratch.path + "/api.sock").send("GET", "/", json: "", timeout: 1)
        }
        // The socket itself is reached (and says nothing: the deadline ends the wait).
        #expect(throws: SandboxHostError.control(path: socketPath, problem: "the VMM did not answer in time")) {
            try ControlClient(socketPath: socketPath).send("GET", "/", json: "", timeout: 0.2)
        }
    }
}
