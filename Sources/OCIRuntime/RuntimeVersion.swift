/// kiln-oci's version (kiln's; VMM's KilnVersion is not imported: the runtime does not link the VMM).
public enum RuntimeVersion {
    public static let string = "0.1.0"
}
