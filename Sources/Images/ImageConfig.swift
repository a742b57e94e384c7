import FoundationEssentials

/// The part of an OCI/Docker image config (its `config` object) that says how to run the image.
public struct ImageConfig: Sendable, Equatable, Decodable {
    public var env: [String]
    public var workingDir: String?
    public var user: String?
    public var entrypoint: [String]?
    public var cmd: [String]?

    public init(env: [String] = [], workingDir: String? = nil, user: String? = nil,
                entrypoint: [String]? = nil, cmd: [String]? = nil) {
        self.env = env
        self.workingDir = workingDir
        self.user = user
        self.entrypoint = entrypoint
        self.cmd = cmd
    }

    enum CodingKeys: String, CodingKey {
        case env = "Env", workingDir = "WorkingDir", user = "User", entrypoint = "Entrypoint", cmd = "Cmd"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        env = try container.decodeIfPresent([String].self, forKey: .env) ?? []
        // Docker writes "" for unset strings; treat it as unset.
        workingDir = try container.decodeIfPresent(String.self, forKey: .workingDir).flatMap { $0.isEmpty ? nil : $0 }
        user = try container.decodeIfPresent(String.self, forKey: .user).flatMap { $0.isEmpty ? nil : $0 }
        entrypoint = try container.decodeIfPresent([String].self, forKey: .entrypoint)
        cmd = try container.decodeIfPresent([String].self, forKey: .cmd)
    }

    /// Decodes the config blob: its `config` object (absent in `FROM scratch` images: all unset),
    /// and the platform, which must be linux/amd64 when given.
    public static func decode(configBlob bytes: [UInt8], reference: String) throws(ImageError) -> ImageConfig {
        let blob: ConfigBlob
        do { blob = try JSONDecoder().decode(ConfigBlob.self, from: Data(bytes)) } catch {
            throw .badLayout(reference: reference, problem: "the image config is not valid: \(oneLine(error))")
        }
        if let os = blob.os, let architecture = blob.architecture, os != "linux" || architecture != "amd64" {
            throw .badLayout(reference: reference, problem: "the image is for \(os)/\(architecture), not linux/amd64")
        }
        return blob.config ?? ImageConfig()
    }

    /// The command to run, by Docker's rules: no command given → Entrypoint + Cmd; a command →
    /// Entrypoint + command; an entrypoint override replaces Entrypoint and, with no command,
    /// drops Cmd too (Docker does: the image's Cmd was written for its own Entrypoint). Nil when
    /// nothing is left to run.
    public func resolveCommand(entrypointOverride: [String]?, command: [String]) -> [String]? {
        let entry = entrypointOverride ?? entrypoint ?? []
        let arguments = !command.isEmpty ? command : (entrypointOverride != nil ? [] : cmd ?? [])
        let result = entry + arguments
        return result.isEmpty ? nil : result
    }
}

private struct ConfigBlob: Decodable {
    let config: ImageConfig?
    let os: String?
    let architecture: String?
}

extension ImageConfig {
    /// The user to run as: `override` (`--user`) or the image's `User`, resolved against the
    /// image's /etc/passwd and /etc/group texts (reading them from the image is the caller's part).
    public func parseUser(override: String? = nil, passwd: String?, group: String?) throws(ImageError) -> ImageUser {
        try ImageUser.parse(override ?? user ?? "", passwd: passwd, group: group)
    }
}
