import Images
import Testing

/// The reference forms users type for podman and skopeo, their normal form, and refusals.
@Suite struct ImageReferenceTests {
    @Test(arguments: [
        // text, canonical name, NAME column, tag, skopeo source
        ("python:3.12-slim", "docker.io/library/python:3.12-slim", "docker.io/library/python", "3.12-slim",
         "docker://docker.io/library/python:3.12-slim"),
        ("python", "docker.io/library/python:latest", "docker.io/library/python", "latest", "docker://docker.io/library/python:latest"),
        ("docker.io/python", "docker.io/library/python:latest", "docker.io/library/python", "latest", "docker://docker.io/library/python:latest"),
        ("index.docker.io/library/python:3", "docker.io/library/python:3", "docker.io/library/python", "3", "docker://docker.io/library/python:3"),
        ("docker://alpine:3.20", "docker.io/library/alpine:3.20", "docker.io/library/alpine", "3.20", "docker://docker.io/library/alpine:3.20"),
        ("bitnami/redis", "docker.io/bitnami/redis:latest", "docker.io/bitnami/redis", "latest", "docker://docker.io/bitnami/redis:latest"),
        ("ghcr.io/owner/name:tag", "ghcr.io/owner/name:tag", "ghcr.io/owner/name", "tag", "docker://ghcr.io/owner/name:tag"),
        ("localhost/app", "localhost/app:latest", "localhost/app", "latest", "docker://localhost/app:latest"),
        ("127.0.0.1:5000/a/b-c__d.e:v1.0_x", "127.0.0.1:5000/a/b-c__d.e:v1.0_x", "127.0.0.1:5000/a/b-c__d.e", "v1.0_x",
         "docker://127.0.0.1:5000/a/b-c__d.e:v1.0_x"),
        ("registry.example.com:443/x--y", "registry.example.com:443/x--y:latest", "registry.example.com:443/x--y", "latest",
         "docker://registry.example.com:443/x--y:latest"),
    ])
    func registryForms(text: String, canonical: String, name: String, tag: String, source: String) throws {
        let reference = try ImageReference(parsing: text)
        #expect(reference.canonicalName == canonical)
        #expect(reference.name == name)
        #expect(reference.tag == tag)
        #expect(reference.skopeoSource == source)
        #expect(reference.isRegistry)
        // The canonical name parses back to the same reference.
        #expect(try ImageReference(parsing: canonical) == reference)
    }

    @Test func digestsPinTheImage() throws {
        let hex = String(repeating: "ab", count: 32)
        let pinned = try ImageReference(parsing: "host:5000/name@sha256:\(hex)")
        #expect(pinned == .registry(registry: "host:5000", repository: "name", tag: nil, digest: Digest(hex: hex)))
        #expect(pinned.canonicalName == "host:5000/name@sha256:\(hex)")
        #expect(pinned.tag == nil)
        #expect(pinned.skopeoSource == "docker://host:5000/name@sha256:\(hex)")
        let both = try ImageReference(parsing: "name:tag@sha256:\(hex)")
        #expect(both.canonicalName == "docker.io/library/name:tag@sha256:\(hex)")
        // containers/image refuses tag + digest: the digest is what is fetched.
        #expect(both.skopeoSource == "docker://docker.io/library/name@sha256:\(hex)")
    }

    @Test func localSources() throws {
        #expect(try ImageReference(parsing: "oci:/srv/layout:v1") == .oci(path: "/srv/layout", tag: "v1"))
        #expect(try ImageReference(parsing: "oci:/srv/layout") == .oci(path: "/srv/layout", tag: nil))
        #expect(try ImageReference(parsing: "oci:layout:v1", currentDirectory: "/home/u") == .oci(path: "/home/u/layout", tag: "v1"))
        #expect(try ImageReference(parsing: "oci:./a/b", currentDirectory: "/w/") == .oci(path: "/w/a/b", tag: nil))
        #expect(try ImageReference(parsing: "oci:/a:b/c") == .oci(path: "/a:b/c", tag: nil))
        #expect(try ImageReference(parsing: "oci-archive:/x/img.tar:latest") == .ociArchive(path: "/x/img.tar", tag: "latest"))
        #expect(try ImageReference(parsing: "docker-archive:/x/save.tar") == .dockerArchive(path: "/x/save.tar"))
        let oci = try ImageReference(parsing: "oci:/srv/layout:v1")
        #expect(oci.canonicalName == "oci:/srv/layout:v1")
        #expect(oci.name == "oci:/srv/layout")
        #expect(oci.skopeoSource == "oci:/srv/layout:v1")
        #expect(!oci.isRegistry)
        #expect(try ImageReference(parsing: "docker-archive:/x/save.tar").skopeoSource == "docker-archive:/x/save.tar")
    }

    @Test(arguments: [
        ("", "invalid image reference \"\": empty reference"),
        ("Python", "invalid image reference \"Python\": repository name must be lowercase"),
        ("ghcr.io/Owner/x", "invalid image reference \"ghcr.io/Owner/x\": repository name must be lowercase"),
        ("a b", "invalid image reference \"a b\": contains whitespace or control characters"),
        ("a\nb", "invalid image reference \"a\\u{a}b\": contains whitespace or control characters"),
        ("python:", "invalid image reference \"python:\": invalid tag \"\" (letters, digits, _ . -; at most 128, not starting with . or -)"),
        ("python:-x", "invalid image reference \"python:-x\": invalid tag \"-x\" (letters, digits, _ . -; at most 128, not starting with . or -)"),
        ("python:" + String(repeating: "a", count: 129),
         "invalid image reference \"python:\(String(repeating: "a", count: 129))\": invalid tag \"\(String(repeating: "a", count: 129))\" (letters, digits, _ . -; at most 128, not starting with . or -)"),
        ("python@sha256:abc", "invalid image reference \"python@sha256:abc\": invalid digest \"sha256:abc\" (sha256: and 64 lowercase hex digits)"),
        ("python@sha512:" + String(repeating: "0", count: 64),
         "invalid image reference \"python@sha512:\(String(repeating: "0", count: 64))\": invalid digest \"sha512:\(String(repeating: "0", count: 64))\" (sha256: and 64 lowercase hex digits)"),
        ("python@sha256:" + String(repeating: "A", count: 64),
         "invalid image reference \"python@sha256:\(String(repeating: "A", count: 64))\": invalid digest \"sha256:\(String(repeating: "A", count: 64))\" (sha256: and 64 lowercase hex digits)"),
        ("a//b", "invalid image reference \"a//b\": empty path component"),
        ("/a", "invalid image reference \"/a\": no repository name"),
        ("a/", "invalid image reference \"a/\": empty path component"),
        ("-a", "invalid image reference \"-a\": invalid repository path component \"-a\" (a-z 0-9 separated by . _ __ or -)"),
        ("a___b", "invalid image reference \"a___b\": invalid repository path component \"a___b\" (a-z 0-9 separated by . _ __ or -)"),
        ("a._b", "invalid image reference \"a._b\": invalid repository path component \"a._b\" (a-z 0-9 separated by . _ __ or -)"),
        ("bad_host.io:99999/x", "invalid image reference \"bad_host.io:99999/x\": invalid registry host \"bad_host.io:99999\""),
        ("host.io:/x", "invalid image reference \"host.io:/x\": invalid registry host \"host.io:\""),
        ("oci:", "invalid image reference \"oci:\": no path"),
        ("oci::tag", "invalid image reference \"oci::tag\": no path"),
        ("oci:/x:bad!tag", "invalid image reference \"oci:/x:bad!tag\": invalid tag \"bad!tag\" (letters, digits, _ . -; at most 128)"),
        ("docker-archive:", "invalid image reference \"docker-archive:\": no archive path"),
        ("dir:/tmp/x", "invalid image reference \"dir:/tmp/x\": unsupported transport \"dir\""),
        ("containers-storage:x", "invalid image reference \"containers-storage:x\": unsupported transport \"containers-storage\""),
    ])
    func badReferences(text: String, message: String) {
        #expect(throws: ImageError.self) { try ImageReference(parsing: text) }
        do {
            _ = try ImageReference(parsing: text)
        } catch {
            #expect(error.description == message)
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func overlongNames() {
        let long = String(repeating: "a", count: 250) + "/" + String(repeating: "b", count: 10)
        #expect(throws: ImageError.invalidReference(long, problem: "name longer than 255 characters")) {
            try ImageReference(parsing: long)
        }
    }
}
