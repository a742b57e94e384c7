// The sandbox orchestration and its C helpers moved out of this target (SandboxHost, CHost);
// Exec.swift and Cp.swift still see them through these module-wide imports, so they did not
// have to change with the move.
@_exported import CHost
@_exported import SandboxHost
