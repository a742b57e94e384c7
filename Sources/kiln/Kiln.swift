import ArgumentParser
import VMM

@main
struct Kiln: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "A microVM monitor and sandbox for Linux/KVM.",
        version: KilnVersion.string,
        subcommands: [Boot.self])
}
