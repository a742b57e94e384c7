@testable import Seccomp
import Testing

/// What `Seccomp.install` loads is exactly what libseccomp compiles from the rule lists now:
/// editing a rule without regenerating the programs fails here, not in production.
@Suite struct CompiledProgramTests {
    static let regenerate = "regenerate it: swift build --product seccomp-probe && "
        + ".build/debug/seccomp-probe generate > Sources/Seccomp/CompiledPrograms+Generated.swift"

    @Test(arguments: ThreadRole.allCases)
    func compiledProgramIsLibseccompsCompilationOfTheRules(role: ThreadRole) throws {
        let libseccomp = try Seccomp.compileWithLibseccomp(role)
        let compiled = Seccomp.compiledProgram(role)
        #expect(!libseccomp.isEmpty)
        #expect(compiled.count == libseccomp.count, "\(role): \(compiled.count) vs \(libseccomp.count) instructions; \(Self.regenerate)")
        for (index, pair) in zip(compiled, libseccomp).enumerated() where pair.0 != pair.1 {
            Issue.record("\(role) instruction \(index): \(pair.0), libseccomp \(pair.1); \(Self.regenerate)")
            break
        }
    }

    /// Read without libseccomp: every program first checks the ABI (seccomp_data.arch is
    /// AUDIT_ARCH_X86_64, else KILL_PROCESS) and returns nothing but ALLOW and KILL_PROCESS.
    @Test(arguments: ThreadRole.allCases)
    func programChecksTheArchitectureAndOnlyAllowsOrKills(role: ThreadRole) {
        let program = Seccomp.compiledProgram(role)
        let loadWord: UInt16 = 0x20, jumpIfEqual: UInt16 = 0x15, returnConstant: UInt16 = 0x06
        let archOffset: UInt32 = 4, auditArchX86_64: UInt32 = 0xC000_003E
        let allow: UInt32 = 0x7FFF_0000, killProcess: UInt32 = 0x8000_0000
        #expect(program.count > 2)
        guard program.count > 2 else { return }
        #expect(program[0].code == loadWord && program[0].operand == archOffset, "\(program[0])")
        #expect(program[1].code == jumpIfEqual && program[1].operand == auditArchX86_64, "\(program[1])")
        let mismatch = program[2 + Int(program[1].jumpIfFalse)]
        #expect(mismatch.code == returnConstant && mismatch.operand == killProcess, "\(mismatch)")
        let returns = Set(program.filter { $0.code == returnConstant }.map(\.operand))
        #expect(returns == [allow, killProcess], "\(role) returns \(returns)")
        #expect(program.last?.code == returnConstant && program.last?.operand == killProcess)
    }
}
