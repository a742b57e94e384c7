import Images
import Testing

/// Docker's rules for the command and the user, and what the config blob decodes to.
@Suite struct ImageConfigTests {
    @Test func decodesTheConfigObject() throws {
        let blob = #"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin","LANG=C.UTF-8"],"WorkingDir":"/app","User":"app:staff","Entrypoint":["/bin/tini","--"],"Cmd":null},"rootfs":{"type":"layers","diff_ids":[]}}"#
        let config = try ImageConfig.decode(configBlob: Array(blob.utf8), reference: "x")
        #expect(config == ImageConfig(env: ["PATH=/usr/bin", "LANG=C.UTF-8"], workingDir: "/app", user: "app:staff",
                                      entrypoint: ["/bin/tini", "--"], cmd: nil))
        // FROM scratch: no config object at all; Docker's empty strings are unset.
        #expect(try ImageConfig.decode(configBlob: Array(#"{"os":"linux","architecture":"amd64"}"#.utf8), reference: "x") == ImageConfig())
        #expect(try ImageConfig.decode(configBlob: Array(#"{"config":{"User":"","WorkingDir":""}}"#.utf8), reference: "x") == ImageConfig())
        #expect(throws: ImageError.badLayout(reference: "x", problem: "the image is for linux/arm64, not linux/amd64")) {
            try ImageConfig.decode(configBlob: Array(#"{"os":"linux","architecture":"arm64"}"#.utf8), reference: "x")
        }
    }

    @Test(arguments: [
        // entrypoint, cmd, --entrypoint, command, result
        (nil, ["python3"], nil, [], ["python3"]),
        (nil, ["python3"], nil, ["bash", "-c", "x"], ["bash", "-c", "x"]),
        (["/init", "--"], ["serve"], nil, [], ["/init", "--", "serve"]),
        (["/init", "--"], ["serve"], nil, ["sh"], ["/init", "--", "sh"]),
        (["/init"], ["serve"], ["/other"], [], ["/other"]),
        (["/init"], ["serve"], ["/other"], ["a"], ["/other", "a"]),
        (["/init"], ["serve"], [], ["a"], ["a"]),
        (["/init"], ["serve"], [], [], nil),
        (nil, nil, nil, [], nil),
        ([], [], nil, [], nil),
        (nil, nil, nil, ["true"], ["true"]),
    ] as [([String]?, [String]?, [String]?, [String], [String]?)])
    func resolvesTheCommand(entrypoint: [String]?, cmd: [String]?, override: [String]?, command: [String], expected: [String]?) {
        let config = ImageConfig(entrypoint: entrypoint, cmd: cmd)
        #expect(config.resolveCommand(entrypointOverride: override, command: command) == expected)
    }

    static let passwd = """
        root:x:0:0:root:/root:/bin/bash
        # a comment
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
        broken line
        app:x:1000:1001::/home/app:/bin/sh
        """
    static let group = """
        root:x:0:
        staff:x:50:app
        app:x:1001:
        """

    @Test(arguments: [
        ("", 0, 0), ("0", 0, 0), ("root", 0, 0), ("1000", 1000, 1001), ("app", 1000, 1001),
        ("4242", 4242, 0), ("4242:7", 4242, 7), ("app:staff", 1000, 50), ("app:0", 1000, 0),
        ("daemon:app", 1, 1001), ("2147483647", 2147483647, 0),
    ] as [(String, UInt32, UInt32)])
    func resolvesUsers(spec: String, uid: UInt32, gid: UInt32) throws {
        #expect(try ImageUser.parse(spec, passwd: Self.passwd, group: Self.group) == ImageUser(uid: uid, gid: gid))
    }

    @Test(arguments: [
        ("nobody", "user \"nobody\": no user \"nobody\" in the image's /etc/passwd"),
        ("app:wheel", "user \"app:wheel\": no group \"wheel\" in the image's /etc/group"),
        ("2147483648", "user \"2147483648\": 2147483648 is out of range (0 to 2147483647)"),
        (":5", "user \":5\": no user before the colon"),
        ("app:", "user \"app:\": no group after the colon"),
    ])
    func refusesUsers(spec: String, message: String) {
        do {
            _ = try ImageUser.parse(spec, passwd: Self.passwd, group: Self.group)
            Issue.record("\(spec) resolved")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func numericUsersNeedNoPasswd() throws {
        #expect(try ImageUser.parse("5:6", passwd: nil, group: nil) == ImageUser(uid: 5, gid: 6))
        let config = ImageConfig(user: "app")
        #expect(try config.parseUser(passwd: Self.passwd, group: Self.group) == ImageUser(uid: 1000, gid: 1001))
        #expect(try config.parseUser(override: "7", passwd: Self.passwd, group: Self.group) == ImageUser(uid: 7, gid: 0))
    }
}
