import API
import ArgumentParser
import VMM

@main
struct Kiln: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "A microVM monitor and sandbox for Linux/KVM.",
        discussion: """
            `kiln --config-file PATH --no-api` starts the VM a Firecracker configuration file \
            describes (boot-source, machine-config, drives, entropy). `kiln boot` takes the same \
            settings as flags.
            """,
        version: KilnVersion.string,
        subcommands: [Boot.self, Run.self, AgentExec.self])

    @Option(help: ArgumentHelp("Start the VM described by this Firecracker-format JSON file.", valueName: "path"))
    var configFile: String?

    @Flag(help: "Run without the API server (required with --config-file until the API exists).")
    var noAPI = false

    func run() throws {
        guard let configFile else { throw CleanExit.helpRequest(self) }
        guard noAPI else { fail("the API server is not implemented yet: pass --no-api with --config-file") }
        let config: VMConfig
        do {
            config = try ConfigFile.load(path: configFile).vmConfig()
        } catch {
            fail("\(configFile): \(error)")
        }
        try runVM(config)
    }
}
