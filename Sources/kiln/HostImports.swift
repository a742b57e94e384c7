// The sandbox orchestration and its C helpers moved out of this target (SandboxHost, CHost,
// SandboxImages); the files that used them here (Exec.swift, Cp.swift, the image commands'
// ImageConversion) still see them through these module-wide imports, so they did not have to
// change with the move.
@_exported import CHost
@_exported import SandboxHost
@_exported import SandboxImages
