#if canImport(Glibc)
import Glibc
#endif

/// How guest RAM is mapped: every region sits between two inaccessible (PROT_NONE) guard
/// areas of `guardSize` bytes, so a host access that runs off either end of guest RAM (a
/// missed bounds check) faults at once instead of reading or corrupting whatever the host
/// mapped next. The guards reserve address space only, no memory.
extension GuestMemory {
    /// KVM maps guest memory with 2 MiB EPT/NPT entries only where the host page is a
    /// transparent huge page and host and guest addresses agree modulo 2 MiB; otherwise every
    /// 4 KiB the guest touches first costs an exit (an EPT violation) and a TLB entry. A plain
    /// mmap is only page-aligned, so guest RAM got 4 KiB mappings: in the nested harness a
    /// buffered read of a 64 MiB disk (16,384 fresh page-cache pages) took kiln twice QEMU's
    /// time, which aligns its RAM to 2 MiB and marks it MADV_HUGEPAGE (as Cloud Hypervisor
    /// does by default). The cost: the host backs guest RAM in 2 MiB steps where THP is on.
    static let hugePageSize = 2 << 20

    /// Inaccessible bytes on each side of a region: larger than any single access the VMM
    /// makes (a descriptor's buffer is at most what one bounds check admitted).
    public static let guardSize = 2 << 20

    /// An anonymous mapping of `size` bytes whose address is congruent to `guestStart` modulo
    /// 2 MiB, between guards: `size` + 4 MiB + the guards reserved PROT_NONE, the region made
    /// readable and writable, the reservation beyond the guards unmapped; marked MADV_HUGEPAGE
    /// above guest address 2 MiB (ignored where THP is off). Nil with errno set if mmap fails.
    static func mapRegion(size: Int, guestStart: GuestAddress) -> UnsafeMutableRawPointer? {
        let huge = hugePageSize, guardBytes = guardSize
        guard size <= Int.max - 2 * huge - 2 * guardBytes else { errno = ENOMEM; return nil }
        let reserved = size + 2 * huge + 2 * guardBytes
        guard let raw = mmap(nil, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              raw != MAP_FAILED
        else { return nil }
        let base = UInt(bitPattern: raw)
        let phase = UInt(guestStart.rawValue % UInt64(huge))
        // At least one guard below, and (as aligned < base + guard + 2 * huge) one above.
        let aligned = (base + UInt(guardBytes + huge) - 1) / UInt(huge) * UInt(huge) + phase
        let pointer = raw + Int(aligned - base)
        guard mprotect(pointer, size, PROT_READ | PROT_WRITE) == 0 else {
            let err = errno
            munmap(raw, reserved)
            errno = err
            return nil
        }
        let head = Int(aligned - base) - guardBytes
        let tailStart = Int(aligned - base) + size + guardBytes
        if head > 0 { munmap(raw, head) }
        if tailStart < reserved { munmap(raw + tailStart, reserved - tailStart) }
        // Not the first 2 MiB of guest RAM: the VMM writes the boot tables and a small kernel
        // there before the guest runs, and a huge page's first touch zeroes 2 MiB (~0.2 ms here)
        // or, with `defrag=madvise`, stalls in direct compaction (13-46 ms seen on this host):
        // on the start-up path, for a range the guest keeps nothing hot in.
        let lowSkip = guestStart.rawValue < UInt64(huge) ? min(size, huge - Int(guestStart.rawValue)) : 0
        if size > lowSkip { _ = madvise(pointer + lowSkip, size - lowSkip, MADV_HUGEPAGE) }
        return pointer
    }

    /// `size` bytes of `file` from `offset`, private (copy-on-write), between guards. Nil with
    /// errno set on failure.
    static func mapFileRegion(size: Int, file: Int32, offset: off_t) -> UnsafeMutableRawPointer? {
        let guardBytes = guardSize
        guard size <= Int.max - 2 * guardBytes else { errno = ENOMEM; return nil }
        let reserved = size + 2 * guardBytes
        guard let raw = mmap(nil, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              raw != MAP_FAILED
        else { return nil }
        guard let pointer = mmap(raw + guardBytes, size, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED, file, offset),
              pointer != MAP_FAILED
        else {
            let err = errno
            munmap(raw, reserved)
            errno = err
            return nil
        }
        return pointer
    }

    /// Unmaps a region made by `mapRegion` or `mapFileRegion`, its guards included.
    static func unmapRegion(_ region: GuestRegion) {
        munmap(region.host - guardSize, Int(region.size) + 2 * guardSize)
    }
}
