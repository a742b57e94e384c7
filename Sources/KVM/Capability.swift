import CKiln

/// KVM capabilities Kiln relies on; missing any of them is fatal at start-up.
public enum Capability: Int32, CaseIterable, Sendable {
    case irqchip = 0          // KVM_CAP_IRQCHIP
    case hlt = 1              // KVM_CAP_HLT
    case userMemory = 3       // KVM_CAP_USER_MEMORY
    case setTSSAddress = 4    // KVM_CAP_SET_TSS_ADDR
    case extendedCPUID = 7    // KVM_CAP_EXT_CPUID
    case mpState = 14         // KVM_CAP_MP_STATE
    case irqRouting = 25      // KVM_CAP_IRQ_ROUTING
    case irqfd = 32           // KVM_CAP_IRQFD
    case pit2 = 33            // KVM_CAP_PIT2
    case ioeventfd = 36       // KVM_CAP_IOEVENTFD
    case setIdentityMapAddress = 37 // KVM_CAP_SET_IDENTITY_MAP_ADDR
    case immediateExit = 136  // KVM_CAP_IMMEDIATE_EXIT

    public var name: String {
        switch self {
        case .irqchip: "KVM_CAP_IRQCHIP"
        case .hlt: "KVM_CAP_HLT"
        case .userMemory: "KVM_CAP_USER_MEMORY"
        case .setTSSAddress: "KVM_CAP_SET_TSS_ADDR"
        case .extendedCPUID: "KVM_CAP_EXT_CPUID"
        case .mpState: "KVM_CAP_MP_STATE"
        case .irqRouting: "KVM_CAP_IRQ_ROUTING"
        case .irqfd: "KVM_CAP_IRQFD"
        case .pit2: "KVM_CAP_PIT2"
        case .ioeventfd: "KVM_CAP_IOEVENTFD"
        case .setIdentityMapAddress: "KVM_CAP_SET_IDENTITY_MAP_ADDR"
        case .immediateExit: "KVM_CAP_IMMEDIATE_EXIT"
        }
    }
}
