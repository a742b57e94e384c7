import CSeccomp

/// The BPF program `Seccomp.install` loads for each role, compiled ahead of time from the role's
/// rules by libseccomp (`CompiledPrograms+Generated.swift`, written by `seccomp-probe generate`).
enum CompiledPrograms {
    static func instructions(_ role: ThreadRole) -> [sock_filter] {
        switch role {
        case .control: control
        case .devices: devices
        case .vcpu: vcpu
        case .api: api
        }
    }
}
