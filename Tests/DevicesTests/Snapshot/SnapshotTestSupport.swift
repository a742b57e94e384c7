import Devices
import Testing

/// `state` encoded and decoded again, checked to round-trip unchanged.
func reencoded<State: StateCodable & Equatable>(_ state: State) throws -> State {
    let decoded = try State(decoding: state.encoded)
    #expect(decoded == state)
    #expect(decoded.encoded == state.encoded)  // deterministic
    return decoded
}

/// Every strict prefix of `state`'s encoding, and the encoding with a byte too many, is refused
/// with a typed error; every one-byte corruption either decodes or is refused: none traps.
func expectHostileEncodingsRefused<State: StateCodable & Equatable>(_ state: State, _ type: State.Type) {
    let bytes = state.encoded
    for length in 0..<bytes.count {
        #expect(throws: SnapshotStateError.self) { try State(decoding: Array(bytes[..<length])) }
    }
    #expect(throws: SnapshotStateError.trailingBytes(1)) { try State(decoding: bytes + [0]) }
    for index in bytes.indices {
        var corrupted = bytes
        corrupted[index] ^= 0xFF
        do { _ = try State(decoding: corrupted) } catch { _ = error as SnapshotStateError }
    }
}
