import ArgumentParser
import Glibc
import SandboxHost

/// `kiln ls`: the recorded sandboxes.
struct Ls: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List sandboxes: name, VMM pid, state, age.")

    func run() throws {
        let rows = SandboxStore.current().all().map { record in
            [record.name, record.vmm.map { "\($0.pid)" } ?? "-", "\(record.state)", Self.age(Int(time(nil)) - record.created)]
        }
        let header = ["NAME", "PID", "STATE", "AGE"]
        let widths = (0..<4).map { column in (rows.map { $0[column].count } + [header[column].count]).max()! }
        for row in [header] + rows {
            print(zip(row, widths).map { $0.0 + String(repeating: " ", count: $0.1 - $0.0.count) }
                .joined(separator: "  ").trimmingSuffix())
        }
    }

    static func age(_ seconds: Int) -> String {
        let s = max(0, seconds)
        if s < 120 { return "\(s)s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }
}

private extension String {
    func trimmingSuffix() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
