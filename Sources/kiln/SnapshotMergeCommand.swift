import ArgumentParser
import Snapshot

/// `kiln snapshot-merge`: turns a Diff snapshot into a Full one that `--restore` and
/// `PUT /snapshot/load` accept.
struct SnapshotMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot-merge",
        abstract: "Merge a Diff snapshot onto the memory file of the snapshot beneath it.",
        discussion: """
            Copies the pages the Diff snapshot recorded from its memory file onto BASE-MEMORY (changed \
            in place) and writes the Diff's state as a Full snapshot (to --output, else over the Diff's \
            state file). Load the result with that state file and BASE-MEMORY. Merge a chain of Diffs \
            in the order they were taken.
            """)

    @Option(help: ArgumentHelp("The Diff snapshot's state file.", valueName: "path"))
    var diff: String

    @Option(help: ArgumentHelp("The Diff snapshot's memory file.", valueName: "path"))
    var diffMemory: String

    @Option(help: ArgumentHelp("The memory file of the snapshot the Diff was taken on top of (changed in place).", valueName: "path"))
    var baseMemory: String

    @Option(help: ArgumentHelp("Where the merged (Full) state goes; default: over --diff.", valueName: "path"))
    var output: String?

    func run() {
        do {
            try SnapshotMerge.merge(diffStatePath: diff, diffMemoryPath: diffMemory, baseMemoryPath: baseMemory,
                                    outputStatePath: output ?? diff)
        } catch { fail("\(error)") }
    }
}
