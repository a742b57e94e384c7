import AgentProtocol
import Glibc
@testable import SandboxHost
import Testing

/// `--disk-size`: the size words, the bounds, the sparse ext4 file, and the command line that
/// tells the agent which disk is what.
@Suite struct ScratchDiskTests {
    @Test func parsesSizes() throws {
        #expect(try ScratchDisk.parseSize("512M") == 512 << 20)
        #expect(try ScratchDisk.parseSize("2G") == 2 << 30)
        #expect(try ScratchDisk.parseSize("2GiB") == 2 << 30)
        #expect(try ScratchDisk.parseSize("65536K") == 64 << 20)
        #expect(try ScratchDisk.parseSize("1T") == 1 << 40)
        #expect(try ScratchDisk.parseSize("67108864") == 64 << 20)
        for bad in ["", "G", "-1G", "1.5G", "12X", " 1G", "1G ", "0x10M", "+5M"] {
            #expect(throws: ScratchDiskError.badSize(bad)) { try ScratchDisk.parseSize(bad) }
        }
        #expect(throws: ScratchDiskError.tooLarge("99999999999T", available: 0)) { try ScratchDisk.parseSize("99999999999T") }
    }

    @Test func boundedByMinimumAndFreeSpace() throws {
        let dir = TestDirectory()
        #expect(throws: ScratchDiskError.tooSmall("63M")) { try ScratchDisk.checkedSize("63M", directory: dir.path) }
        #expect(try ScratchDisk.checkedSize("64M", directory: dir.path) == 64 << 20)
        let error = #expect(throws: ScratchDiskError.self) { try ScratchDisk.checkedSize("1000000T", directory: dir.path) }
        #expect(error?.description.hasPrefix("--disk-size 1000000T: more than the ") == true)
    }

    @Test func createsASparseExt4File() throws {
        let dir = TestDirectory()
        let path = try ScratchDisk.create(in: dir.path, bytes: 512 << 20)
        #expect(path == "\(dir.path)/scratch.ext4")
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_size == 512 << 20)
        #expect(info.st_mode & 0o777 == 0o600)
        // Sparse: a few MiB of metadata in a 512 MiB file.
        #expect(Int(info.st_blocks) * 512 < 64 << 20)
        var magic: UInt16 = 0
        let fd = open(path, O_RDONLY)
        #expect(pread(fd, &magic, 2, 1024 + 0x38) == 2)
        close(fd)
        #expect(magic == 0xEF53)
        // Never over an existing file.
        #expect(throws: ScratchDiskError.system(operation: "create", path: path, errno: EEXIST)) {
            try ScratchDisk.create(in: dir.path, bytes: 64 << 20)
        }
    }

    @Test func commandLineWords() {
        let legacy = VMMProcess.commandLine()
        #expect(legacy.hasSuffix(" root=/dev/vda ro rootfstype=ext4 kiln.overlay=tmpfs"))
        let initrd = VMMProcess.guestRoot(image: .disk(path: "/x/image.ext4"), agentInitrd: "/x/agent-initrd.cpio", scratchDisk: nil)
        let line = VMMProcess.commandLine(root: initrd)
        #expect(line.hasSuffix(" kiln.root=/dev/vda kiln.overlay=tmpfs"))
        #expect(!line.contains("root=/dev/vda ro"))
        let disk = VMMProcess.guestRoot(image: .disk(path: "/x/image.ext4"), agentInitrd: "/x/agent-initrd.cpio", scratchDisk: "/r/scratch.ext4")
        #expect(VMMProcess.commandLine(root: disk).hasSuffix(" kiln.root=/dev/vda kiln.overlay=disk:/dev/vdb"))
        #expect(GuestRoot.fromCommandLine(VMMProcess.commandLine(root: disk)) == disk)
        #expect(GuestRoot.fromCommandLine(legacy) == GuestRoot(imageDevice: nil, writeLayer: .tmpfs))
        // A directory image (kiln-oci's rootfs) is the agent's to mount, from kiln's own tag.
        let shared = VMMProcess.guestRoot(image: .directory(path: "/b/rootfs"), agentInitrd: "/x/agent-initrd.cpio", scratchDisk: nil)
        #expect(VMMProcess.commandLine(root: shared).hasSuffix(" kiln.root=virtiofs:\(VMMProcess.imageShareTag) kiln.overlay=tmpfs"))
        // config.json's hostname reaches the agent as one word; a name that could split the line never does.
        #expect(VMMProcess.commandLine(root: shared, hostname: "c0ffee").hasSuffix(" kiln.overlay=tmpfs kiln.hostname=c0ffee"))
        #expect(!VMMProcess.commandLine(root: shared, hostname: "a b").contains("kiln.hostname"))
        #expect(!VMMProcess.commandLine(root: shared, hostname: "").contains("kiln.hostname"))
    }
}
