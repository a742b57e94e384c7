/// A segment register as the CPU caches it (base, limit, attributes), the shape KVM's
/// `kvm_segment` has; the KVM layer copies it field by field.
public struct Segment: Sendable, Equatable {
    public var base: UInt64
    /// Byte-granular limit (already scaled when `g` is set).
    public var limit: UInt32
    public var selector: UInt16
    /// Descriptor type field (bits 43:40): e.g. 0xb execute/read accessed code, 0x3 read/write
    /// accessed data, 0xb busy 64-bit TSS when `s` is false.
    public var type: UInt8
    public var present: Bool
    public var dpl: UInt8
    /// Default operand size (D/B).
    public var db: Bool
    /// Code/data (true) or system (false) descriptor.
    public var s: Bool
    /// 64-bit code segment.
    public var l: Bool
    /// 4 KiB limit granularity.
    public var g: Bool
    public var avl: Bool
    public var unusable: Bool

    public init(base: UInt64, limit: UInt32, selector: UInt16, type: UInt8, present: Bool, dpl: UInt8,
                db: Bool, s: Bool, l: Bool, g: Bool, avl: Bool, unusable: Bool) {
        self.base = base
        self.limit = limit
        self.selector = selector
        self.type = type
        self.present = present
        self.dpl = dpl
        self.db = db
        self.s = s
        self.l = l
        self.g = g
        self.avl = avl
        self.unusable = unusable
    }

    /// The hidden part the CPU would load from `descriptor` for `selector`.
    public init(descriptor: UInt64, selector: UInt16) {
        let bit = { (n: UInt64) in (descriptor >> n) & 1 == 1 }
        let base = ((descriptor >> 16) & 0xff_ffff) | ((descriptor >> 32) & 0xff00_0000)
        let rawLimit = UInt32((descriptor & 0xffff) | ((descriptor >> 32) & 0xf_0000))
        let granular = bit(55)
        self.init(base: base,
                  limit: granular ? (rawLimit << 12) | 0xfff : rawLimit,
                  selector: selector,
                  type: UInt8((descriptor >> 40) & 0xf),
                  present: bit(47),
                  dpl: UInt8((descriptor >> 45) & 0x3),
                  db: bit(54), s: bit(44), l: bit(53), g: granular, avl: bit(52),
                  unusable: !bit(47))
    }
}

/// Base and limit of the GDT or IDT, as LGDT/LIDT take them.
public struct DescriptorTable: Sendable, Equatable {
    public var base: UInt64
    public var limit: UInt16

    public init(base: UInt64, limit: UInt16) {
        self.base = base
        self.limit = limit
    }
}
