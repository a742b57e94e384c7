import CKiln
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Which capabilities each thread of a jailed VMM holds. kiln-jailer starts a VMM that serves
/// shared directories (`--keep-dac-read-search`) with CAP_DAC_READ_SEARCH alone, so its file
/// servers can read what root in the guest may read there (a container's /etc/shadow, /root);
/// every other VMM starts with none. Linux keeps capabilities per thread and a new thread copies
/// its creator's, so the order matters:
/// 1. `enterProcess`, on the only thread there is: the ambient and inheritable sets emptied (kiln
///    never execs, and nothing it could exec may inherit the capability), the effective set
///    emptied, the permitted set reduced to CAP_DAC_READ_SEARCH if shares need it, else emptied;
/// 2. every thread but the device thread empties all its sets as the first thing it does
///    (`enterThread(.none)`, in NativeThread and the API server's thread), before any input;
/// 3. the device thread, which runs the virtio-fs servers, makes CAP_DAC_READ_SEARCH effective
///    (`enterThread(.fileServer)`) and installs the devices seccomp role, which allows neither
///    open_by_handle_at nor name_to_handle_at nor linkat (SeccompTests check it);
/// 4. the main thread empties its sets when the machine starts (`dropFromCallingThread`), once
///    the device thread exists and before the guest runs; the threads it starts from then on
///    (the console reader) start with none.
/// Not for a VMM running as root (not jailed: `kiln boot` by hand, `--no-jail`): its
/// capabilities are the caller's choice, and nothing here changes them.
public enum ThreadCapabilities {
    /// CAP_DAC_READ_SEARCH (2): read any file and search any directory; never write.
    public static let dacReadSearch: UInt64 = 1 << 2

    public enum Kind: Sendable {
        /// No capabilities at all.
        case none
        /// The device thread: CAP_DAC_READ_SEARCH effective when the process kept it.
        case fileServer
    }

    /// What the file-server thread may make effective; `unmanaged` for a VMM running as root.
    private static let kept = Atomic<UInt64>(unmanaged)
    private static let unmanaged = UInt64.max

    /// Step 1 (see above), before any thread exists. `sharesDirectories`: the VM has virtio-fs
    /// shares, the only reason to keep anything; `seccomp`: the threads will be filtered. Without
    /// filters (--no-seccomp, debugging) nothing is kept: the devices role is what keeps
    /// open_by_handle_at, which with this capability opens any inode of a filesystem the jail
    /// reaches ("shocker"), out of the file server's thread.
    public static func enterProcess(sharesDirectories: Bool, seccomp: Bool) throws(VMMError) {
        guard geteuid() != 0 else { return }
        guard kiln_caps_clear_ambient() == 0 else { throw .thread(operation: "capabilities: clear the ambient set", errno: errno) }
        var permitted: UInt64 = 0, effective: UInt64 = 0, inheritable: UInt64 = 0
        guard kiln_caps_get_thread(&permitted, &effective, &inheritable) == 0 else {
            throw .thread(operation: "capabilities: capget", errno: errno)
        }
        let keep = sharesDirectories && seccomp ? permitted & dacReadSearch : 0
        guard kiln_caps_set_thread(keep, 0, 0) == 0 else { throw .thread(operation: "capabilities: capset", errno: errno) }
        kept.store(keep, ordering: .sequentiallyConsistent)
    }

    /// Steps 2 and 3: the calling (new) thread's sets. A thread that cannot drop what it holds
    /// must not run: the process ends.
    public static func enterThread(_ kind: Kind) {
        let keep = kept.load(ordering: .sequentiallyConsistent)
        guard keep != unmanaged else { return }
        let mask = kind == .fileServer ? keep : 0
        if kiln_caps_set_thread(mask, mask, 0) != 0 { abortUnconfined(errno) }
    }

    /// Step 4: the calling thread (the main thread, once the device thread exists) holds
    /// nothing from now on.
    public static func dropFromCallingThread() {
        guard kept.load(ordering: .sequentiallyConsistent) != unmanaged else { return }
        if kiln_caps_set_thread(0, 0, 0) != 0 { abortUnconfined(errno) }
    }

    private static func abortUnconfined(_ err: Int32) -> Never {
        var line = "kiln: capset to drop a thread's capabilities failed (errno \(err)); stopping\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        _exit(1)
    }
}
