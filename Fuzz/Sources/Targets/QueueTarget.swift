import Devices
import GuestMemory

/// Guest RAM with a hole, reused (zeroed) by every input.
private let queueMemory = try! GuestMemory(layout: [(start: GuestAddress(0), size: 0x4000),
                                                  (start: GuestAddress(0x5000), size: 0x2000)])

/// The split queue and descriptor-chain walker on their own. The input is a header (queue
/// size, ring addresses, negotiated features, the device's moves) and then the guest memory
/// image itself, laid from address 0: the rings sit where the fuzzer writes, so descriptor
/// tables, indirect tables, loops and index jumps come straight from the bytes.
///
/// Checked beyond "no crash": every yielded buffer lies inside guest RAM, and no walk yields
/// more descriptors than the queue size (the loop budget).
let queueTarget = FuzzTarget(name: "queue", guestFacing: true, run: { bytes in
    var input = FuzzInput(bytes)
    let memory = queueMemory
    for region in memory.regions { try! memory.zero(at: region.start, count: Int(region.size)) }
    var queue = SplitQueue(maxSize: 256)
    queue.size = UInt16(truncatingIfNeeded: 1 << (input.byte() % 10))
    let layout = input.byte()
    if layout < 240 {
        // The usual layout, for the size chosen: table at 0, rings after it.
        let count = UInt64(queue.size)
        queue.descriptorTable = GuestAddress(0)
        queue.availableRing = GuestAddress(16 * count)
        queue.usedRing = GuestAddress((16 * count + 6 + 2 * count + 3) & ~3)
    } else {
        queue.descriptorTable = GuestAddress(input.integer(UInt64.self))
        queue.availableRing = GuestAddress(input.integer(UInt64.self))
        queue.usedRing = GuestAddress(input.integer(UInt64.self))
    }
    let flags = input.byte()
    let moves = input.take(32)
    let image = input.rest()
    try! memory.write(Array(image.prefix(0x4000)), to: GuestAddress(0))
    if image.count > 0x4000 { try! memory.write(Array(image.dropFirst(0x4000).prefix(0x2000)), to: GuestAddress(0x5000)) }
    guard queue.isValid(in: memory) else { return }
    queue.activate(eventIndex: flags & 1 != 0, indirectDescriptors: flags & 2 != 0)
    queue.isReady = true

    for value in moves {
        do throws(QueueError) {
            switch value % 4 {
            case 0, 1:
                guard var chain = try queue.popChain(memory: memory) else { continue }
                var walked = 0
                var written: UInt64 = 0
                while true {
                    let descriptor: Descriptor?
                    do throws(DescriptorChainError) { descriptor = try chain.next() } catch { break }
                    guard let descriptor else { break }
                    walked += 1
                    precondition(walked <= Int(queue.size), "chain walk exceeded the queue size")
                    precondition(memory.contains(descriptor.address, length: UInt64(descriptor.length)),
                                 "descriptor outside guest RAM")
                    if descriptor.isDeviceWritable { written += UInt64(descriptor.length) }
                }
                if value & 4 != 0 { queue.undoPop() } else {
                    try queue.addUsed(head: chain.head, length: UInt32(truncatingIfNeeded: written), memory: memory)
                }
            case 2:
                try queue.addUsed(head: UInt16(value >> 2), length: UInt32(value), memory: memory)
            default:
                if value & 4 != 0 { try queue.disableNotification(memory: memory) } else {
                    _ = try queue.enableNotification(memory: memory)
                }
                _ = try queue.needsNotification(memory: memory)
            }
        } catch {
            // Ring corruption: the transport would mark the device as needing reset.
            break
        }
    }
}, seeds: {
    // Queue of 16: one readable+writable chain at heads 0 and 2, avail idx 2.
    var header: [UInt8] = [4, 0, 3]
    header += [UInt8](repeating: 0, count: 32)
    var image = [UInt8](repeating: 0, count: 0x400)
    func descriptor(_ index: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        var entry: [UInt8] = []
        entry.append(le: address); entry.append(le: length); entry.append(le: flags); entry.append(le: next)
        image.replaceSubrange((16 * index)..<(16 * index + 16), with: entry)
    }
    descriptor(0, address: 0x1000, length: 64, flags: 1, next: 1)
    descriptor(1, address: 0x2000, length: 128, flags: 2, next: 0)
    descriptor(2, address: 0x3000, length: 32, flags: 4, next: 0)  // indirect
    image[0x100 + 2] = 2; image[0x100 + 4] = 0; image[0x100 + 6] = 2
    let loop = { () -> [UInt8] in
        var looped = image
        looped[16 * 1 + 12] = 3  // NEXT|WRITE back to 0
        return header + looped
    }()
    return [header + image, loop, [0, 255] + [UInt8](repeating: 0xFF, count: 64)]
})
