import AgentProtocol
import Foundation
import Images
import Sandbox
import SandboxHost
import SandboxImages
import Testing

/// The job an image's config makes with the user's options on top, as Docker does.
@Suite struct ImageJobTests {
    static let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"
    static let group = "root:x:0:\nstaff:x:50:\napp:x:1001:\n"

    /// Image Env first, then --env: a name --env sets again takes its value and moves to the end.
    @Test func envIsTheImagesThenTheOptions() throws {
        let image = storedImage(ImageConfig(env: ["PATH=/opt/bin:/usr/bin", "LANG=C.UTF-8", "A=image"], cmd: ["env"]))
        let job = try ImageJob.apply(image, entrypoint: nil, to: JobOptions(env: ["A=option", "B=2"]))
        #expect(job.request.env == ["HOME=/root", "TERM=dumb", "PATH=/opt/bin:/usr/bin", "LANG=C.UTF-8", "A=option", "B=2"])
        // The option is checked as without an image.
        #expect(throws: SandboxImageError.job(.badOption("--env", "B", "expected NAME=VALUE"))) {
            try ImageJob.apply(image, entrypoint: nil, to: JobOptions(env: ["B"]))
        }
    }

    @Test func workingDirUnlessWorkdir() throws {
        let image = storedImage(ImageConfig(workingDir: "/app", cmd: ["pwd"]))
        #expect(try ImageJob.apply(image, entrypoint: nil, to: JobOptions()).request.cwd == "/app")
        #expect(try ImageJob.apply(image, entrypoint: nil, to: JobOptions(workdir: "/srv")).request.cwd == "/srv")
        #expect(try ImageJob.apply(storedImage(ImageConfig(cmd: ["pwd"])), entrypoint: nil, to: JobOptions()).request.cwd == "")
        // A relative WorkingDir is refused as --workdir would be.
        #expect(throws: SandboxImageError.job(.badOption("--workdir", "app", "must be an absolute guest path"))) {
            try ImageJob.apply(storedImage(ImageConfig(workingDir: "app", cmd: ["pwd"])), entrypoint: nil, to: JobOptions())
        }
    }

    @Test(arguments: [
        // Entrypoint, Cmd, --entrypoint, -- CMD, the command run
        (nil, ["python3"], nil, [], ["python3"]),
        (nil, ["python3"], nil, ["sh", "-c", "x"], ["sh", "-c", "x"]),
        (["/init", "--"], ["serve"], nil, [], ["/init", "--", "serve"]),
        (["/init", "--"], ["serve"], nil, ["sh"], ["/init", "--", "sh"]),
        (["/init"], ["serve"], "/bin/sh", [], ["/bin/sh"]),
        (["/init"], ["serve"], "/bin/sh", ["-c", "id"], ["/bin/sh", "-c", "id"]),
        (nil, nil, nil, ["true"], ["true"]),
    ] as [([String]?, [String]?, String?, [String], [String])])
    func entrypointAndCmd(entrypoint: [String]?, cmd: [String]?, override: String?, command: [String], expected: [String]) throws {
        let image = storedImage(ImageConfig(entrypoint: entrypoint, cmd: cmd))
        #expect(try ImageJob.apply(image, entrypoint: override, to: JobOptions(command: command)).request.argv == expected)
    }

    @Test func noCommandAtAllIsOneLine() {
        let named = storedImage(ImageConfig(env: ["A=1"]))
        #expect(throws: SandboxImageError.noCommand(image: "kiln.local/test:latest")) {
            try ImageJob.apply(named, entrypoint: nil, to: JobOptions())
        }
        #expect(SandboxImageError.noCommand(image: "kiln.local/test:latest").description
                == "image kiln.local/test:latest has no Entrypoint or Cmd: give the command after --")
        // An image with no name left is named by its id.
        let unnamed = storedImage(ImageConfig(entrypoint: [], cmd: []), name: nil, id: "c0ffee")
        #expect(throws: SandboxImageError.noCommand(image: "c0ffee")) { try ImageJob.apply(unnamed, entrypoint: nil, to: JobOptions()) }
        // An empty --entrypoint and no command leave an empty program: the plain "no command".
        let withEntrypoint = storedImage(ImageConfig(entrypoint: ["/init"]))
        #expect(throws: SandboxImageError.job(.noCommand)) { try ImageJob.apply(withEntrypoint, entrypoint: "", to: JobOptions()) }
    }

    /// Numbers need no account files (the root filesystem here does not even exist).
    @Test func userByNumber() throws {
        let image = storedImage(ImageConfig(user: "1000", cmd: ["id"]))
        var request = try ImageJob.apply(image, entrypoint: nil, to: JobOptions()).request
        #expect(request.uid == 1000 && request.gid == 0)
        request = try ImageJob.apply(image, entrypoint: nil, to: JobOptions(user: "7:8")).request
        #expect(request.uid == 7 && request.gid == 8)
        // No User and no --user: the agent's own (root).
        request = try ImageJob.apply(storedImage(ImageConfig(cmd: ["id"])), entrypoint: nil, to: JobOptions()).request
        #expect(request.uid == FrameLimits.keepID && request.gid == FrameLimits.keepID)
    }

    /// Names come from the copies of /etc/passwd and /etc/group saved beside the root
    /// filesystem at conversion (the root filesystem itself is never read here).
    @Test func userByNameFromTheSavedAccountFiles() throws {
        let scratch = ScratchDirectory()
        try Self.passwd.write(toFile: scratch.path + "/etc-passwd", atomically: true, encoding: .utf8)
        try Self.group.write(toFile: scratch.path + "/etc-group", atomically: true, encoding: .utf8)
        let rootfs = scratch.path + "/rootfs.ext4"
        let image = storedImage(ImageConfig(user: "app", cmd: ["id"]), rootfs: rootfs)
        var request = try ImageJob.apply(image, entrypoint: nil, to: JobOptions()).request
        #expect(request.uid == 1000 && request.gid == 1001)
        request = try ImageJob.apply(image, entrypoint: nil, to: JobOptions(user: "app:staff")).request
        #expect(request.uid == 1000 && request.gid == 50)
        request = try ImageJob.apply(image, entrypoint: nil, to: JobOptions(user: "root")).request
        #expect(request.uid == 0 && request.gid == 0)
        #expect(try ImageJob.resolveUser("1000:staff", image: image) == ImageUser(uid: 1000, gid: 50))

        let missing = SandboxImageError.user(spec: "bob", .badUser(spec: "bob", problem: "no user \"bob\" in the image's /etc/passwd"))
        #expect(throws: missing) { try ImageJob.apply(image, entrypoint: nil, to: JobOptions(user: "bob")) }
        #expect(missing.description == "user bob: user \"bob\": no user \"bob\" in the image's /etc/passwd")
        #expect(throws: SandboxImageError.self) { try ImageJob.apply(image, entrypoint: nil, to: JobOptions(user: "app:wheel")) }

        // The image had no /etc/passwd: saved empty, so a name is not found (and nothing else is read).
        try "".write(toFile: scratch.path + "/etc-passwd", atomically: true, encoding: .utf8)
        #expect(throws: SandboxImageError.self) { try ImageJob.apply(image, entrypoint: nil, to: JobOptions()) }
    }
}
