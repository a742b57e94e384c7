import ArgumentParser
import Glibc
import Sandbox

/// `kiln cp SRC NAME:DST` / `kiln cp NAME:SRC DST`: one file between the host and a sandbox.
struct Cp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cp",
        abstract: "Copy a file into or out of a sandbox.",
        discussion: """
            Exactly one side is NAME:PATH with an absolute guest path. A host path with a colon in \
            its first component is written ./a:b. A file copied out is written beside the \
            destination under a temporary name and renamed over it when complete, so a failed copy \
            leaves the destination as it was; it gets the guest file's permission bits without \
            setuid, setgid or sticky. A destination that is a directory receives the file under its \
            guest name. The copy fails (exit 124) after --timeout seconds, or when the guest sends \
            or accepts nothing for 60 s.
            """)

    @Argument(help: ArgumentHelp("Host path or NAME:guest-path.", valueName: "src"))
    var source: String

    @Argument(help: ArgumentHelp("Host path or NAME:guest-path.", valueName: "dst"))
    var destination: String

    /// (name, guest path) when `text` is NAME:PATH: the part before the first colon is a valid
    /// sandbox name (so it has no '/').
    static func guestSide(_ text: String) -> (name: String, path: String)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = String(text[..<colon])
        guard SandboxStore.nameProblem(name) == nil else { return nil }
        return (name, String(text[text.index(after: colon)...]))
    }

    @Option(help: ArgumentHelp("Give up after this many seconds (exit 124).", valueName: "s"))
    var timeout: Double = 600

    func run() throws {
        guard timeout > 0 else { fail("--timeout must be more than 0 seconds") }
        ignoreOutputSignals()
        let limits = SessionLimits.within(timeout)
        let store = SandboxStore.current()
        switch (Self.guestSide(source), Self.guestSide(destination)) {
        case (nil, let guest?):
            guard !source.isEmpty else { fail("cp: empty host path") }
            guard access(source, R_OK) == 0 else { fail("cp: \(source): \(String(cString: strerror(errno)))") }
            let record = ready(store, guest)
            try report { () throws(SandboxError) in
                let fd = try record.endpoint.connect(deadline: limits.deadline)
                defer { close(fd) }
                try AgentClient(fd: fd, limits: limits).copyIn(source: source, destination: guest.path)
            }
        case (let guest?, nil):
            guard !destination.isEmpty else { fail("cp: empty host path") }
            let record = ready(store, guest)
            try report { () throws(SandboxError) in
                let fd = try record.endpoint.connect(deadline: limits.deadline)
                defer { close(fd) }
                _ = try AgentClient(fd: fd, limits: limits).copyOut(source: guest.path, destination: destination)
            }
        case (_?, _?): fail("cp: both \(source) and \(destination) name a sandbox; one side must be a host path")
        case (nil, nil): fail("cp: neither \(source) nor \(destination) is NAME:PATH")
        }
    }

    private func report(_ copy: () throws(SandboxError) -> Void) throws {
        do {
            try copy()
        } catch {
            printError("kiln: error: cp: \(error)")
            throw ExitCode(error.isTimeout ? 124 : 125)
        }
    }

    private func ready(_ store: SandboxStore, _ guest: (name: String, path: String)) -> SandboxRecord {
        guard guest.path.hasPrefix("/") else { fail("cp: \(guest.name):\(guest.path): the guest path must be absolute") }
        let record = store.lookup(guest.name)
        guard record.state == .alive else { fail("sandbox \(guest.name) is \(record.state), not running") }
        return record
    }
}
