@testable import VMM
import Testing

@Suite struct VMConfigTests {
    let kernel = "/proc/self/exe" // any readable regular file

    func config(cpus: Int = 1, memory: Int = 128, initrd: String? = nil, cmdline: String = "x") -> VMConfig {
        VMConfig(kernelPath: kernel, initrdPath: initrd, commandLine: cmdline, vcpuCount: cpus, memoryMiB: memory)
    }

    func message(_ body: () throws(VMMError) -> Void) -> String? {
        do { try body() } catch { return error.description }
        return nil
    }

    @Test func validConfigurationPasses() throws {
        try config().validate(maxVcpus: 8, hostMemoryMiB: 1024)
    }

    @Test func vcpuBounds() {
        #expect(message { () throws(VMMError) in try config(cpus: 0).validate(maxVcpus: 8, hostMemoryMiB: 1024) }?
            .contains("at least 1") == true)
        #expect(message { () throws(VMMError) in try config(cpus: 9).validate(maxVcpus: 8, hostMemoryMiB: 1024) }?
            .contains("maximum of 8") == true)
    }

    @Test func memoryBounds() {
        #expect(message { () throws(VMMError) in try config(memory: 15).validate(maxVcpus: 8, hostMemoryMiB: 1024) }?
            .contains("below the minimum") == true)
        #expect(message { () throws(VMMError) in try config(memory: 2048).validate(maxVcpus: 8, hostMemoryMiB: 1024) }?
            .contains("exceeds the host") == true)
    }

    @Test func missingInitrdIsNamed() {
        let text = message { () throws(VMMError) in
            try config(initrd: "/nonexistent/initrd").validate(maxVcpus: 8, hostMemoryMiB: 1024)
        }
        #expect(text?.contains("/nonexistent/initrd") == true)
        #expect(text?.contains("No such file") == true)
    }

    @Test func nulInCommandLineIsRejected() {
        #expect(message { () throws(VMMError) in
            try config(cmdline: "a\u{0}b").validate(maxVcpus: 8, hostMemoryMiB: 1024)
        } != nil)
    }

    @Test func hostMemoryIsPositive() {
        #expect(VMConfig.hostMemoryMiB() > 0)
    }
}

@Suite struct VMOutcomeTests {
    @Test func exitCodes() {
        #expect(VMOutcome.reset(reason: "i8042").exitCode == 0)
        #expect(VMOutcome.poweredOff(reason: "acpi").exitCode == 0)
        #expect(VMOutcome.stopped.exitCode == 0)
        #expect(VMOutcome.guestCrashed(reason: "pvpanic").exitCode == 2)
        #expect(VMOutcome.failed("KVM_EXIT_INTERNAL_ERROR").exitCode == 1)
    }
}

@Suite struct StopCoordinatorTests {
    @Test func firstStopReasonWins() {
        let stop = StopCoordinator()
        #expect(!stop.isStopping)
        stop.requestStop(.reset(reason: "first"))
        stop.requestStop(.failed("second"))
        #expect(stop.result == .reset(reason: "first"))
        #expect(stop.waitForStop(milliseconds: 0))
    }
}

@Suite struct HaltDetectorTests {
    @Test func allVcpusMustReportHaltedInTheSameRound() {
        let detector = HaltDetector(vcpuCount: 2)
        #expect(!detector.allHalted)
        detector.report(vcpu: 0, haltedWithInterruptsOff: true)
        #expect(!detector.allHalted)
        detector.report(vcpu: 1, haltedWithInterruptsOff: true)
        #expect(detector.allHalted)
        detector.beginRound()
        #expect(!detector.allHalted)
        detector.report(vcpu: 0, haltedWithInterruptsOff: true)
        detector.report(vcpu: 1, haltedWithInterruptsOff: false)
        #expect(!detector.allHalted)
        detector.report(vcpu: 7, haltedWithInterruptsOff: true) // out of range: ignored
    }
}
