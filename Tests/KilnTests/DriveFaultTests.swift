import Foundation
import Glibc
import Testing

/// Faults under a guest's drive, on this machine's /dev/kvm: the filesystem holding a writable
/// drive fills up, and the drive's backing file is removed (while the VM runs, and between its
/// configuration and its start). The guest sees I/O error statuses or keeps reading its open
/// file; kiln neither crashes nor stops serving, and recovers once the fault is gone.
@Suite(.serialized) struct DriveFaultTests {
    /// A tmpfs of `size` mounted on a fresh directory (the tests run as root), lazily
    /// unmounted at the end.
    final class SmallFilesystem {
        let path: String

        init(at path: String, size: String) throws {
            self.path = path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            guard mount("tmpfs", path, "tmpfs", 0, "size=\(size),mode=0700") == 0 else {
                throw KilnTestError("mounting a \(size) tmpfs on \(path) (needs root): errno \(errno)")
            }
        }

        deinit { umount2(path, Int32(MNT_DETACH)) }

        /// Writes a file until the filesystem refuses with ENOSPC; false if it failed otherwise.
        func fill(_ name: String) -> Bool {
            let fd = open(path + "/" + name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            let chunk = [UInt8](repeating: 0x5A, count: 4096)
            var size = chunk.count
            while true {
                let written = chunk.withUnsafeBytes { write(fd, $0.baseAddress, size) }
                if written < 0 { return errno == ENOSPC }
                if written < size { size = 1 }  // the last partial page, byte by byte
            }
        }
    }

    /// A sparse file of `bytes`: its blocks are allocated only when the guest writes.
    static func sparseFile(_ path: String, bytes: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0, ftruncate(fd, off_t(bytes)) == 0 else { throw KilnTestError("creating \(path): errno \(errno)") }
        close(fd)
    }

    /// bench_blk.elf's "<PHASE> bytes .. ops .. cycles .. errors N qd .." line: (ops, errors).
    static func phase(_ name: String, in output: String) -> (ops: Int, errors: Int)? {
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 9, fields[0] == name, fields[3] == "ops", fields[7] == "errors",
                  let ops = Int(fields[4]), let errors = Int(fields[8]) else { continue }
            return (ops, errors)
        }
        return nil
    }

    /// The answer once kiln listens on `socket` (the file appears at bind, before listen).
    static func answerOnceListening(_ socket: String, _ method: String, _ path: String, _ body: String = "") throws
        -> (status: Int, body: String) {
        var waited = 0
        while !FileManager.default.fileExists(atPath: socket) && waited < 500 { usleep(10_000); waited += 1 }
        return try APISocketClient.send(socket, method, path, body)
    }

    @Test(arguments: ["sync", "async"])
    func aFullFilesystemUnderAWritableDriveIsAnIOErrorThenRecovers(engine: String) throws {
        let scratch = try FaultScratch("full")
        let filesystem = try SmallFilesystem(at: scratch.files + "/fs", size: "16m")
        let disk = filesystem.path + "/disk.img"
        try Self.sparseFile(disk, bytes: 8 << 20)
        #expect(filesystem.fill("filler"), "filling the tmpfs did not end in ENOSPC: errno \(errno)")
        let arguments = ["boot", "--kernel", try KilnProcess.guest("bench_blk.elf"), "--memory", "64", "--no-stdin",
                         "--cmdline", "phases=sw seq_mib=8 qd_seq=4", "--drive", "\(disk),io=\(engine)"]

        // Every write needs a new block and there is none: each 1 MiB request is an I/O error.
        let full = try KilnProcess.run(arguments, timeout: 120)
        #expect(full.status == 0 && full.stdout.contains("DONE"), "\(full)")
        let failed = try #require(Self.phase("SEQWRITE", in: full.stdout), "\(full.stdout)")
        #expect(failed.ops == 8 && failed.errors == failed.ops, "\(full.stdout)")

        // Space freed: the same drive takes every write.
        try FileManager.default.removeItem(atPath: filesystem.path + "/filler")
        let freed = try KilnProcess.run(arguments, timeout: 120)
        #expect(freed.status == 0 && freed.stdout.contains("DONE"), "\(freed)")
        let written = try #require(Self.phase("SEQWRITE", in: freed.stdout), "\(freed.stdout)")
        #expect(written.ops == 8 && written.errors == 0, "\(freed.stdout)")
        var info = stat()
        #expect(stat(disk, &info) == 0 && Int(info.st_blocks) * 512 >= 8 << 20, "the writes did not reach the file")
    }

    /// Removed while the guest reads it: the VMM keeps its descriptor, so every read still
    /// succeeds; a PATCH to the now missing path is refused (400) and changes nothing.
    @Test func aBackingFileRemovedWhileRunningKeepsServingReads() throws {
        let scratch = try FaultScratch("unlink")
        let disk = scratch.files + "/disk.img"
        FileManager.default.createFile(atPath: disk, contents: Data(repeating: 0xA5, count: 4 << 20))
        let socket = scratch.files + "/api.sock"
        let kiln = try BackgroundKiln(["--api-sock", socket], directory: scratch.files, name: "api")
        defer { kiln.kill() }
        let guest = try KilnProcess.guest("bench_blk.elf")
        let requests = [
            ("/boot-source", #"{"kernel_image_path": "\#(guest)", "boot_args": "phases=sr,rr seq_mib=2048 rand_ops=400000"}"#),
            ("/machine-config", #"{"vcpu_count": 1, "mem_size_mib": 64}"#),
            ("/drives/drive0", #"{"drive_id": "drive0", "path_on_host": "\#(disk)", "is_root_device": false, "is_read_only": false}"#),
            ("/actions", #"{"action_type": "InstanceStart"}"#),
        ]
        for (path, body) in requests {
            let answer = try Self.answerOnceListening(socket, "PUT", path, body)
            #expect(answer.status == 204, "PUT \(path): \(answer.body) \(kiln.errors)")
        }
        #expect(kiln.waitForOutput { $0.contains("BLK capacity") }, "\(kiln.output) \(kiln.errors)")
        try FileManager.default.removeItem(atPath: disk)
        let outputAtRemoval = kiln.output
        let patch = try APISocketClient.send(socket, "PATCH", "/drives/drive0", #"{"drive_id": "drive0", "path_on_host": "\#(disk)"}"#)
        #expect(patch.status == 400 && patch.body.contains("fault_message") && patch.body.contains(disk), "\(patch)")
        #expect(kiln.waitForOutput(seconds: 120) { $0.contains("DONE") }, "\(kiln.output) \(kiln.errors)")
        #expect(!outputAtRemoval.contains("RANDREAD"), "the guest finished before the file was removed: the test proves nothing")
        let sequential = try #require(Self.phase("SEQREAD", in: kiln.output), "\(kiln.output)")
        let random = try #require(Self.phase("RANDREAD", in: kiln.output), "\(kiln.output)")
        #expect(sequential.errors == 0 && random.errors == 0 && random.ops == 400000, "\(kiln.output)")
        kiln.process.waitUntilExit()
        #expect(kiln.process.terminationStatus == 0, "\(kiln.errors)")
    }

    /// Removed between PUT /drives and InstanceStart: the start is refused naming the file,
    /// nothing starts, and the same VMM starts once the drive is put again.
    @Test func aBackingFileRemovedBeforeTheStartIsRefusedAndRecoverable() throws {
        let scratch = try FaultScratch("start")
        let disk = scratch.files + "/disk.img"
        FileManager.default.createFile(atPath: disk, contents: Data(repeating: 0xA5, count: 1 << 20))
        let socket = scratch.files + "/api.sock"
        let kiln = try BackgroundKiln(["--api-sock", socket], directory: scratch.files, name: "api")
        defer { kiln.kill() }
        var waited = 0
        while !FileManager.default.fileExists(atPath: socket) && waited < 500 { usleep(10_000); waited += 1 }
        let guest = try KilnProcess.guest("virtio_blk.elf")
        let drive = #"{"drive_id": "drive0", "path_on_host": "\#(disk)", "is_root_device": false, "is_read_only": false}"#
        #expect(try APISocketClient.send(socket, "PUT", "/boot-source", #"{"kernel_image_path": "\#(guest)"}"#).status == 204)
        #expect(try APISocketClient.send(socket, "PUT", "/drives/drive0", drive).status == 204)
        try FileManager.default.removeItem(atPath: disk)
        let refused = try APISocketClient.send(socket, "PUT", "/actions", #"{"action_type": "InstanceStart"}"#)
        #expect(refused.status == 400 && refused.body.contains(disk), "\(refused) \(kiln.errors)")
        #expect(kiln.process.isRunning && !kiln.output.contains("BLK"), "\(kiln.output) \(kiln.errors)")
        #expect(try APISocketClient.send(socket, "GET", "/machine-config").status == 200)

        FileManager.default.createFile(atPath: disk, contents: Data(repeating: 0xA5, count: 1 << 20))
        #expect(try APISocketClient.send(socket, "PUT", "/drives/drive0", drive).status == 204)
        let started = try APISocketClient.send(socket, "PUT", "/actions", #"{"action_type": "InstanceStart"}"#)
        #expect(started.status == 204, "\(started) \(kiln.errors)")
        #expect(kiln.waitForOutput(seconds: 60) { $0.contains("DONE") }, "\(kiln.output) \(kiln.errors)")
        #expect(kiln.output.contains("WRITE1 STATUS 0") && kiln.output.contains("READ0 STATUS 0"), "\(kiln.output)")
    }
}
