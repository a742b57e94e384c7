import Foundation
import Testing

/// `kiln run --net` and `kiln create --net` without CAP_NET_ADMIN: one line, exit 1, before any
/// directory, TAP or VM exists. As root the capability is dropped for the child with setpriv
/// (bounding and inheritable sets, so the exec'd kiln does not get it back).
@Suite struct NetCLITests {
    static let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }

    func runWithoutNetAdmin(_ arguments: [String], environment: [String: String]) throws -> KilnProcess.Result {
        if geteuid() != 0 { return try KilnProcess.run(arguments, environment: environment) }
        let setpriv = try #require(Self.setpriv, "setpriv (util-linux) is needed to drop CAP_NET_ADMIN as root")
        return try KilnProcess.execute(setpriv, ["--inh-caps=-net_admin", "--bounding-set=-net_admin", "--",
                                                 KilnProcess.binary] + arguments, timeout: 30, environment: environment)
    }

    @Test(arguments: [
        ["run", "--net", "--kernel", "/proc/self/exe", "--rootfs", "/proc/self/exe", "--", "true"],
        ["create", "--name", "kiln-net-cli-test", "--net", "--kernel", "/proc/self/exe", "--rootfs", "/proc/self/exe"],
    ])
    func refusedWithoutNetAdmin(arguments: [String]) throws {
        let sandboxes = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-net-cli-\(getpid())").path
        let result = try runWithoutNetAdmin(arguments, environment: ["KILN_SANDBOX_DIR": sandboxes])
        #expect(result.status == 125)   // a sandbox command's own failure
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "kiln: error: --net needs root (CAP_NET_ADMIN) to create a TAP device\n")
        #expect(!FileManager.default.fileExists(atPath: sandboxes), "create made its state directory")
    }

    /// A dead sandbox's `tap` record is released with it: a name kiln never makes (here `lo`) is
    /// left alone, a kilntap<k> that no longer exists is nothing to delete; both states go.
    @Test func gcReleasesOnlyKilnTapRecords() throws {
        let fm = FileManager.default
        let store = fm.temporaryDirectory.appendingPathComponent("kiln-net-gc-\(getpid())").path
        defer { try? fm.removeItem(atPath: store) }
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        for (name, tap) in [("foreign", "lo\n"), ("gone", "kilntap16383\n")] {
            try fm.createDirectory(atPath: "\(store)/\(name)", withIntermediateDirectories: true)
            try "\(finished.processIdentifier) 1\n".write(toFile: "\(store)/\(name)/vmm", atomically: true, encoding: .utf8)
            try tap.write(toFile: "\(store)/\(name)/tap", atomically: true, encoding: .utf8)
        }
        let result = try KilnProcess.run(["gc", "--oci-root", store + "/oci"],
                                         environment: ["KILN_SANDBOX_DIR": store, "KILN_IMAGE_STORE": store + "/images"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "\(result.stderr)")
        #expect(!fm.fileExists(atPath: "\(store)/foreign") && !fm.fileExists(atPath: "\(store)/gone"), "\(result.stdout)")
        #expect(if_nametoindex("lo") != 0)
    }
}
