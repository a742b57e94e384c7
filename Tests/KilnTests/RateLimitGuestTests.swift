import Foundation
import Testing

/// A drive's rate limiter on a real VM (Firecracker config file): virtio_blk.elf's requests all
/// complete with the same results, and no faster than the ops bucket allows. Only a lower bound
/// is asserted: a slow machine makes the run longer, never shorter.
@Suite struct RateLimitGuestTests {
    func configFile(drive: String, rateLimiter: String) throws -> String {
        let guest = try KilnProcess.guest("virtio_blk.elf")
        let path = NSTemporaryDirectory() + "kiln-ratelimit-\(getpid())-\(UUID().uuidString).json"
        try """
            {"boot-source": {"kernel_image_path": "\(guest)", "boot_args": "console=ttyS0"},
             "drives": [{"drive_id": "data", "path_on_host": "\(drive)", "is_root_device": false,
                         "rate_limiter": \(rateLimiter)}]}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func opsLimitedDriveServesEveryRequestAtTheBucketsPace() throws {
        let disk = try VirtioGuestTests.DiskImage("ratelimit", size: 1 << 20, seed: 5)
        // One request per 300 ms once the single token is spent. virtio_blk.elf sends 8 requests
        // (GET_ID, READ0, WRITE1, FLUSH, READ1, READPAST, BADADDR, AFTERBAD); each waits well
        // inside its 5 s poll limit.
        let config = try configFile(drive: disk.path, rateLimiter: #"{"ops": {"size": 1, "refill_time": 300}}"#)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let start = ContinuousClock.now
        let result = try KilnProcess.run(["--config-file", config, "--no-api"])
        let elapsed = ContinuousClock.now - start
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let expected = VirtioGuestTests.expectedBlockOutput(
            base: "0xd0001000", capacity: 2048, readOnly: false, serial: "kiln-drive0",
            sector0: disk.sector(0), sector1: VirtioGuestTests.sectorOnePattern[...])
        #expect(lines == expected + [""], "guest output:\n\(result.stdout)\nstderr: \(result.stderr)")
        // The bucket starts with 1 token and a request may go while the balance is not negative,
        // so the last of n charged requests waits for n - 2 refills: >= 5 even if the malformed
        // BADADDR chain is not charged (n = 7).
        #expect(elapsed >= .milliseconds(1500), "8 requests at 1 per 300 ms took only \(elapsed)")
    }

    @Test func bandwidthLimitedDriveStillReturnsTheRightData() throws {
        let disk = try VirtioGuestTests.DiskImage("ratelimit-bw", size: 1 << 20, seed: 9)
        // 512 bytes per 200 ms: every sector-sized request after the first waits for a refill.
        let config = try configFile(drive: disk.path,
                                    rateLimiter: #"{"bandwidth": {"size": 512, "refill_time": 200}}"#)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let start = ContinuousClock.now
        let result = try KilnProcess.run(["--config-file", config, "--no-api"])
        let elapsed = ContinuousClock.now - start
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("READ1 STATUS 0") && result.stdout.hasSuffix("DONE\n"), "\(result.stdout)")
        // READ0, WRITE1, READ1 and AFTERBAD move 512 bytes each: the last may start only once
        // 3 x 512 - 512 = 1024 bytes (400 ms) have been refilled; 350 ms leaves room for rounding.
        #expect(elapsed >= .milliseconds(350), "4 sector transfers at 512 B per 200 ms took only \(elapsed)")
    }
}
