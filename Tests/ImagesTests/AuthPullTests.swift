import ChildProcessSupport
import Foundation
import Images
import Testing

/// `kiln pull` from a registry that wants a password and serves HTTPS with a self-signed
/// certificate: the credentials come from the auth files users already have (podman's
/// `$XDG_RUNTIME_DIR/containers/auth.json`, Docker's `~/.docker/config.json`), the certificate is
/// accepted only with `--tls-verify=false`.
@Suite struct AuthPullTests {
    let scratch = TestDirectory()

    /// The registry, with the test image pushed as `kiln/private:v1`.
    func privateRegistry() throws -> (registry: LocalRegistry, reference: String, config: String) {
        let dir = scratch.path + "/registry"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let password = try ChildProcess.run(try requiredTool("/usr/bin/htpasswd", package: "apache2-utils"),
                                            ["-nbB", "kiln", "s3cret"])
        #expect(password.status == 0, "\(password)")
        try password.stdout.write(toFile: dir + "/htpasswd", atomically: true, encoding: .utf8)
        let certificate = try ChildProcess.run(try requiredTool("/usr/bin/openssl", package: "openssl"), [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
        ])
        #expect(certificate.status == 0, "\(certificate)")
        let registry = try LocalRegistry(directory: dir, htpasswd: dir + "/htpasswd",
                                         tls: (dir + "/cert.pem", dir + "/key.pem"))
        let layout = scratch.path + "/layout"
        let digests = try TestLayout(path: layout, layerFiles: [["secret": "42"]]).write()
        let reference = "\(registry.address)/kiln/private:v1"
        let pushed = try ChildProcess.run("/usr/bin/skopeo", ["copy", "--dest-tls-verify=false", "--dest-creds", "kiln:s3cret",
                                                              "oci:\(layout):v1", "docker://" + reference], timeout: 60)
        #expect(pushed.status == 0, "\(pushed)")
        return (registry, reference, digests.config)
    }

    /// An auth file in the format podman and Docker share.
    func writeAuthFile(_ path: String, registry: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let auth = Data("kiln:s3cret".utf8).base64EncodedString()
        try #"{"auths":{"\#(registry)":{"auth":"\#(auth)"}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `kiln pull` as a user whose home and runtime directory are `case`'s own, holding only what
    /// the case put there; the variables that would point skopeo elsewhere are emptied.
    func pull(_ reference: String, case name: String, tlsVerify: Bool = false) throws -> (ChildProcessResult, store: String) {
        let home = "\(scratch.path)/\(name)"
        let store = home + "/store"
        for dir in ["/home", "/run", "/config"] {
            try FileManager.default.createDirectory(atPath: home + dir, withIntermediateDirectories: true)
        }
        let result = try KilnBinary.run(["pull", "--tls-verify=\(tlsVerify)", reference], environment: [
            "KILN_IMAGE_STORE": store, "HOME": home + "/home", "XDG_RUNTIME_DIR": home + "/run",
            "XDG_CONFIG_HOME": home + "/config", "REGISTRY_AUTH_FILE": "", "DOCKER_CONFIG": "",
        ], timeout: 120)
        return (result, store)
    }

    @Test func credentialsFromEitherAuthFileAndSelfSignedTLS() throws {
        let (registry, reference, config) = try privateRegistry()
        defer { registry.stop() }

        try writeAuthFile("\(scratch.path)/podman/run/containers/auth.json", registry: registry.address)
        let (podman, _) = try pull(reference, case: "podman")
        #expect(podman.status == 0 && podman.stdout == config + "\n", "\(podman)")

        try writeAuthFile("\(scratch.path)/docker/home/.docker/config.json", registry: registry.address)
        let (docker, _) = try pull(reference, case: "docker")
        #expect(docker.status == 0 && docker.stdout == config + "\n", "\(docker)")

        // No credentials: the registry's refusal in one line naming the reference; nothing stored.
        let (anonymous, anonymousStore) = try pull(reference, case: "anonymous")
        #expect(anonymous.status == 125 && anonymous.stdout.isEmpty, "\(anonymous)")
        #expect(anonymous.stderr.split(separator: "\n").count == 1, "\(anonymous.stderr)")
        #expect(anonymous.stderr.contains(reference) && anonymous.stderr.contains("authentication required"), "\(anonymous.stderr)")
        let left = StoreContents(anonymousStore)
        #expect(left.images.isEmpty && left.refs.isEmpty && left.tmp.isEmpty && left.blobs.isEmpty, "\(left)")

        // The right credentials, but the certificate checked: refused, one line, nothing stored.
        try writeAuthFile("\(scratch.path)/verified/run/containers/auth.json", registry: registry.address)
        let (verified, verifiedStore) = try pull(reference, case: "verified", tlsVerify: true)
        #expect(verified.status == 125 && verified.stdout.isEmpty, "\(verified)")
        #expect(verified.stderr.split(separator: "\n").count == 1, "\(verified.stderr)")
        #expect(verified.stderr.contains(reference) && verified.stderr.contains("certificate"), "\(verified.stderr)")
        let refused = StoreContents(verifiedStore)
        #expect(refused.images.isEmpty && refused.refs.isEmpty && refused.tmp.isEmpty && refused.blobs.isEmpty, "\(refused)")
    }
}
