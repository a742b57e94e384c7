import Seccomp
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Everything the probe shares between its threads lives here, set up before any filter.
enum Probe {
    static let forbiddenActions = [
        "socket", "socket-unix", "execve", "ptrace", "openat", "openat-create", "kvm-create-vm", "ioctl-tcgets",
        "clone", "mmap-exec", "mprotect-exec", "mmap-file", "tgkill-sigterm", "futex-requeue", "x32-write",
        "io_uring_setup", "io_uring_register",
    ]

    nonisolated(unsafe) static var role = ThreadRole.vcpu
    nonisolated(unsafe) static var action = "allowed"
    nonisolated(unsafe) static var descriptors = Descriptors()

    /// Hand-over between the filtered thread and the observer.
    enum Stage: Int { case starting, installed, checked, observerHolds, filteredHolds, contended, finished }
    static let stage = Atomic<Int>(Stage.starting.rawValue)
    static let filteredTID = Atomic<Int32>(0)
    static let kicks = Atomic<Int>(0)
    static let survived = Atomic<Bool>(false)
    static let lock = Mutex<Int>(0)

    struct Descriptors {
        var kvm: Int32 = -1, zero: Int32 = -1, event: Int32 = -1, epoll: Int32 = -1, spare: Int32 = -1
        var shareRoot: Int32 = -1
    }

    static func run(_ arguments: [String]) -> Never {
        if arguments.count == 2 && arguments[1] == "generate" { ProgramSource.generate() }
        guard arguments.count >= 3, let role = ThreadRole(rawValue: arguments[1]) else { usage() }
        let action = arguments[2]
        guard ["allowed", "time", "pfc"].contains(action) || forbiddenActions.contains(action) else { usage() }
        self.role = role
        self.action = action

        // A SIGSYS death is expected; a core dump for each would only slow the tests down.
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        setrlimit(Int32(RLIMIT_CORE.rawValue), &noCore)

        if action == "pfc" {
            do throws(SeccompError) { try Seccomp.writePseudoFilterCode(role, to: 1) } catch { say("\(error)"); exit(1) }
            exit(0)
        }
        if action == "time" {
            InstallTiming.run(role, threads: arguments.count > 3 ? Int(arguments[3]) ?? 100 : 100)
        }
        setUp()
        if role == .control {
            // As in kiln: the main thread confines itself after spawning the others, and ends the process.
            _ = spawn { observe() }
            filteredBody()
        } else {
            let filtered = spawn { filteredBody() }
            observe()
            pthread_join(filtered, nil) // the filtered thread's own exit path must pass too
        }
        say("lock count \(lock.withLock { $0 })")
        exit(survived.load(ordering: .relaxed) ? 3 : 0)
    }

    static func usage() -> Never {
        say("usage: seccomp-probe generate | seccomp-probe control|devices|vcpu|api allowed|pfc|time [N]|\(forbiddenActions.joined(separator: "|"))")
        exit(64)
    }

    /// What kiln does before its threads start: open descriptors, install the kick handler.
    static func setUp() {
        let kvmPath = access("/dev/kvm", R_OK | W_OK) == 0 ? "/dev/kvm" : "/dev/null"
        descriptors.kvm = open(kvmPath, O_RDWR | O_CLOEXEC)
        descriptors.zero = open("/dev/zero", O_RDWR | O_CLOEXEC)
        descriptors.spare = open("/dev/null", O_RDONLY | O_CLOEXEC) // the control role closes it
        descriptors.shareRoot = FileServerCalls.openRoot()
        // Glibc's module map exports neither eventfd nor epoll; their raw syscalls do.
        let efdCloexecNonblock = Int(O_CLOEXEC | O_NONBLOCK)
        descriptors.event = Int32(truncatingIfNeeded: rawSyscall(sys("eventfd2"), 0, efdCloexecNonblock, 0, 0, 0, 0))
        descriptors.epoll = Int32(truncatingIfNeeded: rawSyscall(sys("epoll_create1"), Int(O_CLOEXEC), 0, 0, 0, 0, 0))
        let d = descriptors
        guard d.kvm >= 0, d.zero >= 0, d.event >= 0, d.epoll >= 0, d.spare >= 0, d.shareRoot >= 0 else {
            say("set-up failed: errno \(errno)")
            exit(70)
        }
        // The test runner spawns us with SIGUSR1 blocked; threads inherit the mask (kiln unblocks
        // its kick signal the same way).
        var kick = sigset_t()
        sigemptyset(&kick)
        sigaddset(&kick, SIGUSR1)
        pthread_sigmask(SIG_UNBLOCK, &kick, nil)
        var handler = sigaction()
        handler.__sigaction_handler.sa_handler = { _ in Probe.kicks.add(1, ordering: .relaxed) }
        sigemptyset(&handler.sa_mask)
        sigaction(SIGUSR1, &handler, nil)
    }

    /// Polls every 100 µs. Sleeping, not spinning: on a busy 2-core host a spinning waiter can
    /// starve the very thread it waits for.
    static func wait(for wanted: Stage) {
        while stage.load(ordering: .acquiring) < wanted.rawValue { nap(microseconds: 100) }
    }
    static func advance(to next: Stage) { stage.store(next.rawValue, ordering: .releasing) }

    // MARK: the filtered thread

    static func filteredBody() {
        filteredTID.store(currentTID(), ordering: .relaxed)
        do throws(SeccompError) {
            try Seccomp.install(role)
        } catch {
            say("\(error)")
            exit(70)
        }
        say("installed \(role) filter (\(Seccomp.allowedSyscallCount(role)) syscalls)")
        advance(to: .installed)
        wait(for: .checked)
        // Swift's Mutex spins a little and then sleeps in the kernel: holding it for milliseconds
        // makes the other thread reach FUTEX_LOCK_PI, and the release FUTEX_UNLOCK_PI.
        wait(for: .observerHolds)
        lock.withLock { $0 += 1 } // blocks until the observer lets go
        lock.withLock { count in
            advance(to: .filteredHolds)
            nap(microseconds: 20_000)
            count += 1
        }
        wait(for: .contended)
        exerciseAllowed()
        say("allowed calls passed")
        if action != "allowed" {
            say("calling \(action)")
            forbiddenCall()
            say("survived \(action)")
            survived.store(true, ordering: .relaxed)
        }
        advance(to: .finished)
    }

    /// The calls the role makes in kiln, with harmless arguments. The filter must let all through.
    static func exerciseAllowed() {
        let d = descriptors
        let block = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 16) // mmap
        block.storeBytes(of: 1, as: UInt8.self)
        block.deallocate() // munmap
        var words: [Int] = []
        for i in 0..<10_000 { words.append(i) } // malloc growth
        var time = timespec()
        withUnsafeMutablePointer(to: &time) { _ = rawSyscall(sys("clock_gettime"), Int(CLOCK_MONOTONIC), Int(bitPattern: $0), 0, 0, 0, 0) }
        var one: UInt64 = 1
        _ = write(d.event, &one, 8)
        switch role {
        case .vcpu:
            // The filter checks the request number only; on /dev/kvm (not a vCPU descriptor) these
            // fail with ENOTTY or EINVAL, which proves they got past the filter.
            _ = ioctl(d.kvm, UInt(KVMRequest.run), CInt(0))
            var regs = [UInt8](repeating: 0, count: 144)
            _ = regs.withUnsafeMutableBytes { ioctl(d.kvm, UInt(KVMRequest.getRegisters), $0.baseAddress!) }
            var state: UInt32 = 0
            _ = ioctl(d.kvm, UInt(KVMRequest.getMPState), &state)
            pthread_kill(pthread_self(), SIGUSR1) // the kick a vCPU sends when it stops the VM
        case .devices:
            // struct epoll_event is packed on x86_64: u32 events, u64 data.
            var event = [UInt8](repeating: 0, count: 12)
            event[0] = 1 // EPOLLIN
            let epollCtlAdd = 1, epollCtlDel = 2
            event.withUnsafeMutableBytes { raw in
                let pointer = Int(bitPattern: raw.baseAddress)
                _ = rawSyscall(sys("epoll_ctl"), Int(d.epoll), epollCtlAdd, Int(d.event), pointer, 0, 0)
                _ = rawSyscall(sys("epoll_wait"), Int(d.epoll), pointer, 1, 0, 0, 0)
                _ = rawSyscall(sys("epoll_ctl"), Int(d.epoll), epollCtlDel, Int(d.event), 0, 0, 0)
            }
            _ = read(d.event, &one, 8)
            var sector = [UInt8](repeating: 0, count: 512) // virtio-blk on an image, virtio-rng
            sector.withUnsafeMutableBytes { sector in
                var vector = iovec(iov_base: sector.baseAddress, iov_len: 512)
                _ = preadv(d.zero, &vector, 1, 4096)
                _ = pwritev(d.zero, &vector, 1, 4096)
                // The async engine's only ring call (on no ring here: EBADF, past the filter).
                _ = rawSyscall(sys("io_uring_enter"), -1, 0, 0, 0, 0, 0)
                _ = rawSyscall(sys("getrandom"), Int(bitPattern: sector.baseAddress), 64, 0, 0, 0, 0)
            }
            _ = fdatasync(d.zero)
            FileServerCalls.exercise(root: d.shareRoot)
            usleep(1000) // kiln_console waiting for UART space
        case .control:
            usleep(1000) // the halt watch
            pthread_kill(pthread_self(), SIGUSR1)
            var request = pollfd(fd: d.event, events: Int16(POLLIN), revents: 0)
            _ = poll(&request, 1, 0) // API requests from the API thread
            // PATCH /drives: the new backing file, opened, checked and sized.
            let drive = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)
            var info = stat()
            _ = fstat(drive, &info)
            _ = lseek(drive, 0, SEEK_END)
            close(drive)
            close(d.spare) // teardown
        case .api:
            var event = [UInt8](repeating: 0, count: 12)
            event[0] = 1
            event.withUnsafeMutableBytes { raw in
                let pointer = Int(bitPattern: raw.baseAddress)
                _ = rawSyscall(sys("epoll_ctl"), Int(d.epoll), 1, Int(d.event), pointer, 0, 0)
                _ = rawSyscall(sys("epoll_wait"), Int(d.epoll), pointer, 1, 0, 0, 0)
                _ = rawSyscall(sys("epoll_ctl"), Int(d.epoll), 2, Int(d.event), 0, 0, 0)
            }
            _ = read(d.event, &one, 8)
            close(d.spare) // a client's connection ends
        }
    }

    static func forbiddenCall() {
        let d = descriptors
        switch action {
        case "socket": _ = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        case "socket-unix": _ = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        case "execve":
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
            _ = execve("/bin/true", argv, environ)
        case "ptrace": _ = rawSyscall(sys("ptrace"), 12 /* PTRACE_GETREGS */, 1, 0, 0, 0, 0)
        // Plain open of an existing file: no role may (the control role only with O_CLOEXEC).
        case "openat": _ = open("/proc/self/status", O_RDONLY)
        // Creating a file: no role may.
        case "openat-create": _ = open("/tmp/kiln-seccomp-probe-created", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        case "kvm-create-vm": _ = ioctl(d.kvm, UInt(KVMRequest.createVM), CInt(0))
        case "ioctl-tcgets":
            var attributes = termios()
            _ = ioctl(1, UInt(TCGETS), &attributes)
        case "clone":
            var thread = pthread_t()
            _ = pthread_create(&thread, nil, { _ in nil }, nil)
        case "mmap-exec": _ = mmap(nil, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        case "mprotect-exec":
            let page = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            _ = mprotect(page, 4096, PROT_READ | PROT_EXEC)
        case "mmap-file": _ = mmap(nil, 4096, PROT_READ, MAP_PRIVATE, d.zero, 0)
        // A ring is set up (and registered) before the filters: afterwards no role may.
        case "io_uring_setup":
            var params = [UInt8](repeating: 0, count: 120)
            params.withUnsafeMutableBytes { _ = rawSyscall(sys("io_uring_setup"), 4, Int(bitPattern: $0.baseAddress), 0, 0, 0, 0) }
        case "io_uring_register": _ = rawSyscall(sys("io_uring_register"), -1, 4 /* REGISTER_EVENTFD */, 0, 0, 0, 0)
        case "tgkill-sigterm": _ = rawSyscall(sys("tgkill"), Int(getpid()), Int(currentTID()), Int(SIGTERM), 0, 0, 0)
        case "futex-requeue":
            var word: UInt32 = 0, other: UInt32 = 0
            let futexCmpRequeuePrivate = 4 | 128
            withUnsafeMutablePointer(to: &word) { first in
                withUnsafeMutablePointer(to: &other) { second in
                    _ = rawSyscall(sys("futex"), Int(bitPattern: first), futexCmpRequeuePrivate, 0, 0,
                                   Int(bitPattern: second), 0)
                }
            }
        case "x32-write":
            // write(2) through the x32 ABI (syscall number | 0x40000000): another ABI's numbers
            // must not slip past a filter written for x86_64 ones.
            let x32SyscallBit = 0x4000_0000
            _ = rawSyscall(x32SyscallBit | sys("write"), 1, 0, 0, 0, 0, 0)
        default: break
        }
    }

    // MARK: the observer

    static func observe() {
        wait(for: .installed)
        let tid = filteredTID.load(ordering: .relaxed)
        say("filtered thread Seccomp: \(seccompMode(of: tid))")
        say("observer thread Seccomp: \(seccompMode(of: currentTID()))")
        // The filtered thread must survive a signal: its handler returns through rt_sigreturn.
        let before = kicks.load(ordering: .relaxed)
        _ = rawSyscall(sys("tgkill"), Int(getpid()), Int(tid), Int(SIGUSR1), 0, 0, 0)
        while kicks.load(ordering: .relaxed) == before { nap(microseconds: 100) }
        advance(to: .checked)
        lock.withLock { count in
            advance(to: .observerHolds)
            nap(microseconds: 20_000)
            count += 1
        }
        wait(for: .filteredHolds)
        lock.withLock { $0 += 1 } // blocks until the filtered thread lets go
        advance(to: .contended)
        wait(for: .finished)
    }

    /// Sleeps with a futex wait that times out: every role allows FUTEX_WAIT, not every role a
    /// sleep call (vCPU threads never sleep in kiln).
    static func nap(microseconds: Int) {
        var word: UInt32 = 0
        var timeout = timespec(tv_sec: microseconds / 1_000_000, tv_nsec: microseconds % 1_000_000 * 1000)
        let futexWaitPrivate = 0 | 128
        withUnsafeMutablePointer(to: &word) { word in
            withUnsafeMutablePointer(to: &timeout) { timeout in
                _ = rawSyscall(sys("futex"), Int(bitPattern: word), futexWaitPrivate, 0, Int(bitPattern: timeout), 0, 0)
            }
        }
    }

    static func seccompMode(of tid: Int32) -> String {
        let fd = open("/proc/self/task/\(tid)/status", O_RDONLY)
        guard fd >= 0 else { return "unreadable" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let text = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Seccomp:") }) else { return "absent" }
        return line.split(separator: "\t").last.map(String.init) ?? "?"
    }
}

/// Writes one line with a single write(2): stdio's first use would fstat, which no role allows.
func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(1, bytes.baseAddress, bytes.count) }
}

/// glibc's `syscall` is variadic, which Swift cannot call; on x86_64 it is plain assembly that
/// reads exactly the integer registers of a fixed-arity call, so this cast is sound there.
typealias RawSyscall = @convention(c) (Int, Int, Int, Int, Int, Int, Int) -> Int
let rawSyscall = unsafeBitCast(dlsym(nil, "syscall"), to: RawSyscall.self)

/// Glibc's module map has no SYS_* numbers; libseccomp knows them all (resolved before the filter).
func sys(_ name: String) -> Int { Int(Seccomp.syscallNumber(name)!) }

func currentTID() -> Int32 { Int32(truncatingIfNeeded: rawSyscall(sys("gettid"), 0, 0, 0, 0, 0, 0)) }

final class Box: @unchecked Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

func spawn(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    var thread = pthread_t()
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    let result = pthread_create(&thread, nil, { Unmanaged<Box>.fromOpaque($0!).takeRetainedValue().body(); return nil }, context)
    guard result == 0 else { say("pthread_create failed: \(result)"); exit(70) }
    return thread
}
