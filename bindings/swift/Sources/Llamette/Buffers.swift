import CLlamette

/// Runs a C call that fills an array of `T` of capacity `cap` and reports the count needed in
/// `*n_out` (`LLAMETTE_ERR_BUFFER_TOO_SMALL` when `cap` is short): first with `guess`, then,
/// if that was short, with the exact size. `extra` elements are allocated past the count (1
/// for a NUL terminator) and not returned.
func readArray<T>(
    guess: Int, extra: Int = 0,
    _ call: (UnsafeMutablePointer<T>?, Int, UnsafeMutablePointer<Int>) -> LlametteStatus
) throws -> [T] {
    var capacity = max(guess, 0) + extra
    while true {
        var needed = 0
        var status = LLAMETTE_OK
        let result = [T](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            status = call(capacity == 0 ? nil : buffer.baseAddress, capacity, &needed)
            initialized = status == LLAMETTE_OK ? min(needed, capacity) : 0
        }
        if status == LLAMETTE_OK { return result }
        if status == LLAMETTE_ERR_BUFFER_TOO_SMALL && needed + extra > capacity {
            capacity = needed + extra
            continue
        }
        throw LlametteError(status: status)
    }
}

/// As `readArray` for text written to a `char *` buffer with a NUL after it: the UTF-8 text.
func readString(
    guess: Int = 256,
    _ call: (UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<Int>) -> LlametteStatus
) throws -> String {
    let chars: [CChar] = try readArray(guess: guess, extra: 1, call)
    return chars.withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) }
}

/// Text handed out by llamette as a pointer and a length (complete UTF-8).
func makeString(_ text: UnsafePointer<CChar>?, _ count: Int) -> String {
    guard let text, count > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: UnsafeRawPointer(text), count: count), as: UTF8.self)
}

/// NUL-terminated copies of Swift strings with stable addresses, for C structs that point at
/// several strings at once (chat messages, stop strings). Freed when the arena goes away: keep
/// it alive across the C call with `withExtendedLifetime`.
final class CStringArena {
    private var blocks: [UnsafeMutablePointer<CChar>] = []

    /// Copies `string`'s UTF-8 bytes (embedded NULs included) and a NUL; returns the copy and
    /// its length in bytes without the NUL.
    func copy(_ string: String) -> (pointer: UnsafePointer<CChar>, count: Int) {
        var string = string
        return string.withUTF8 { (utf8: UnsafeBufferPointer<UInt8>) -> (pointer: UnsafePointer<CChar>, count: Int) in
            let block = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
            if let source = utf8.baseAddress {
                UnsafeMutableRawPointer(block).copyMemory(from: source, byteCount: utf8.count)
            }
            block[utf8.count] = 0
            blocks.append(block)
            return (UnsafePointer(block), utf8.count)
        }
    }

    deinit {
        for block in blocks { block.deallocate() }
    }
}
