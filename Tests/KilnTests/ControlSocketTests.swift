import Foundation
import Testing

/// `kiln boot --control-sock` (what `kiln create` gives a sandbox's VMM, for `kiln snapshot`)
/// and the API of a restored VMM, on this machine's /dev/kvm with the counter guest: pause,
/// snapshot, resume; InstanceStart and snapshot/load refused on a running VM; a clone of that
/// snapshot serves the API too and can be snapshotted again, and that snapshot restores.
@Suite(.serialized) struct ControlSocketTests {
    let directory = NSTemporaryDirectory() + "kiln-control-\(UUID().uuidString)"

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    private func waitForSocket(_ path: String) {
        var waited = 0
        while !FileManager.default.fileExists(atPath: path) && waited < 500 { usleep(10_000); waited += 1 }
    }

    @Test func bootServesTheAPIOfItsRunningVM() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let guest = try KilnProcess.guest("counter.elf")
        let socket = directory + "/api.sock"
        let kiln = try BackgroundKiln(["boot", "--kernel", guest, "--memory", "64", "--no-stdin", "--control-sock", socket],
                                      directory: directory, name: "boot")
        defer { kiln.kill() }
        waitForSocket(socket)
        #expect(kiln.waitForOutput { $0.counterLines.count > 5 }, "\(kiln.errors)")
        let start = try APISocketClient.send(socket, "PUT", "/actions", #"{"action_type": "InstanceStart"}"#)
        #expect(start.status == 400 && start.body.contains("already running"))
        let load = try APISocketClient.send(socket, "PUT", "/snapshot/load", #"{"snapshot_path": "/s", "mem_file_path": "/m"}"#)
        #expect(load.status == 400 && load.body.contains("already running"))
        #expect(try APISocketClient.send(socket, "PATCH", "/vm", #"{"state": "Paused"}"#).status == 204)
        let state = directory + "/a.state", memory = directory + "/a.mem"
        let created = try APISocketClient.send(socket, "PUT", "/snapshot/create", #"{"snapshot_path": "\#(state)", "mem_file_path": "\#(memory)"}"#)
        #expect(created.status == 204, "\(created.body) \(kiln.errors)")
        #expect(try APISocketClient.send(socket, "PATCH", "/vm", #"{"state": "Resumed"}"#).status == 204)
        let counted = kiln.output.counterLines.count
        #expect(kiln.waitForOutput { $0.counterLines.count > counted + 3 }, "the VM did not run on after its snapshot")
        kiln.kill()

        // A clone with an API socket, snapshotted again; that snapshot restores and counts on.
        let cloneSocket = directory + "/clone.sock"
        let clone = try BackgroundKiln(["--restore", state, "--restore-memory", memory, "--resume", "--api-sock", cloneSocket],
                                       directory: directory, name: "clone")
        defer { clone.kill() }
        waitForSocket(cloneSocket)
        #expect(clone.waitForOutput { $0.counterLines.count > 3 }, "\(clone.errors)")
        #expect(try APISocketClient.send(cloneSocket, "PATCH", "/vm", #"{"state": "Paused"}"#).status == 204)
        let again = try APISocketClient.send(cloneSocket, "PUT", "/snapshot/create",
                                             #"{"snapshot_path": "\#(directory)/b.state", "mem_file_path": "\#(directory)/b.mem"}"#)
        #expect(again.status == 204, "\(again.body) \(clone.errors)")
        let last = clone.output.counterLines.last?.count ?? 0
        clone.kill()
        let second = try BackgroundKiln(["--restore", directory + "/b.state", "--restore-memory", directory + "/b.mem", "--resume"],
                                        directory: directory, name: "second")
        defer { second.kill() }
        #expect(second.waitForOutput { $0.counterLines.count > 3 }, "\(second.errors)")
        #expect((second.output.counterLines.first?.count ?? 0) >= last, "\(second.output.prefix(200))")
    }
}
