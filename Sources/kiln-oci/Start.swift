import ArgumentParser
import Glibc
import OCIRuntime
import Sandbox

/// `start`: lets a created container's relay run its process (opens exec.fifo for reading).
struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the process of a created container.")

    @ParentCommand var global: KilnOCI
    @Argument(help: ArgumentHelp("The container id.", valueName: "id")) var id: String

    /// The relay opens the FIFO as soon as it runs; this bounds a relay that hangs before that.
    static let timeout: Double = 10

    func run() throws {
        let container = try global.store.load(id)
        switch container.status {
        case .created: break
        case .stopped: throw OCIRuntimeError.state("cannot start a container that has stopped")
        case .running, .paused: throw OCIRuntimeError.state("cannot start an already running container")
        case .creating: throw OCIRuntimeError.state("cannot start a container that is still being created")
        }
        let fifo = container.directory.file(ContainerStore.fifoName)
        // O_NONBLOCK: opening for reading never waits; the relay's blocked open for writing
        // then completes and it writes one byte.
        let fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw OCIRuntimeError.system(operation: "open", path: fifo, errno: errno) }
        defer { close(fd) }
        let deadline = monotonicNow() + Self.timeout
        var taken = false
        while !taken {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 100) > 0 {
                var byte: UInt8 = 0
                taken = read(fd, &byte, 1) == 1
                // POLLHUP without data (no writer yet, or one that left): wait a little.
                if !taken { usleep(10_000) }
            }
            if taken { break }
            guard container.record?.relay.isAlive == true else {
                throw OCIRuntimeError.state("the container's process ended before it started")
            }
            guard monotonicNow() < deadline else {
                throw OCIRuntimeError.failed("the relay of \(id) did not take the start within \(Int(Self.timeout)) s")
            }
        }
        unlink(fifo)
    }
}

/// `state ID`: the runtime-spec state JSON.
struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", abstract: "Print the container's state (OCI JSON).")

    @ParentCommand var global: KilnOCI
    @Argument(help: ArgumentHelp("The container id.", valueName: "id")) var id: String

    func run() throws {
        printOut(try global.store.load(id).stateJSON().serialized(indented: true))
    }
}

/// `features`: what this runtime implements (runtime-spec features.md).
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "features", abstract: "Print the runtime's features (JSON).")

    func run() throws {
        printOut(Features.document(version: RuntimeVersion.string).serialized(indented: true))
    }
}
