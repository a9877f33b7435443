#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Text checks on UTF-8 bytes, without building strings: the fast path of the text metrics.
///
/// Swift compares strings by extended grapheme clusters under canonical equivalence; on ASCII text
/// that is byte comparison, except that `\r\n` is one character. So each check here answers only
/// for ASCII input (and, where a match could split a `\r\n`, input without `\r`) and returns `nil`
/// otherwise: the caller then runs the `String` code, which stays the reference (a differential
/// test compares both).
enum ASCIIText {
    /// Whether every byte is ASCII (and, with `allowCR: false`, none is a carriage return).
    static func isASCII(_ text: String, allowCR: Bool = true) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { bytes in
            var ok = true
            for byte in bytes where byte >= 0x80 || (!allowCR && byte == 0x0D) {
                ok = false
                break
            }
            return ok
        } ?? false
    }

    /// ASCII lower case of one byte.
    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        byte &- 0x41 < 26 ? byte | 0x20 : byte
    }

    /// Whether `needle` occurs in `haystack` (both ASCII without `\r`; checked by the caller),
    /// optionally ignoring ASCII case; `nil` when a string is not contiguous UTF-8.
    static func contains(_ haystack: String, _ needle: String, ignoreCase: Bool) -> Bool? {
        haystack.utf8.withContiguousStorageIfAvailable { hay -> Bool? in
            needle.utf8.withContiguousStorageIfAvailable { pin -> Bool? in
                if pin.isEmpty { return nil }
                if pin.count > hay.count { return false }
                guard let h = hay.baseAddress, let p = pin.baseAddress else { return false }
                if !ignoreCase {
                    // memchr for the first byte, memcmp for the rest.
                    var start = 0
                    let last = hay.count - pin.count
                    while start <= last, let hit = memchr(h + start, Int32(p[0]), last - start + 1) {
                        let offset = UnsafeRawPointer(h).distance(to: UnsafeRawPointer(hit))
                        if memcmp(h + offset, p, pin.count) == 0 { return true }
                        start = offset + 1
                    }
                    return false
                }
                let first = lower(p[0])
                let last = hay.count - pin.count
                var start = 0
                outer: while start <= last {
                    if lower(h[start]) == first {
                        var offset = 1
                        while offset < pin.count {
                            if lower(h[start + offset]) != lower(p[offset]) {
                                start += 1
                                continue outer
                            }
                            offset += 1
                        }
                        return true
                    }
                    start += 1
                }
                return false
            } ?? nil
        } ?? nil
    }

    /// Whether the two texts are equal after the `equals` metric's normalisation (trim ASCII
    /// whitespace and newlines, optionally ignore case), for ASCII texts; `nil` otherwise.
    static func equalsNormalised(_ a: String, _ b: String, trim: Bool, ignoreCase: Bool) -> Bool? {
        a.utf8.withContiguousStorageIfAvailable { x -> Bool? in
            b.utf8.withContiguousStorageIfAvailable { y -> Bool? in
                guard let xr = trimmed(x, trim: trim), let yr = trimmed(y, trim: trim) else { return nil }
                guard xr.count == yr.count else { return false }
                var i = xr.lowerBound
                var j = yr.lowerBound
                while i < xr.upperBound {
                    let p = x[i]
                    let q = y[j]
                    if p != q, !ignoreCase || lower(p) != lower(q) { return false }
                    i += 1
                    j += 1
                }
                return true
            } ?? nil
        } ?? nil
    }

    /// The range left after trimming ASCII whitespace (`\t` `\n` `\v` `\f` `\r` and space) from both
    /// ends; `nil` when a byte is not ASCII.
    private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, trim: Bool) -> Range<Int>? {
        for byte in bytes where byte >= 0x80 { return nil }
        var start = 0
        var end = bytes.count
        guard trim else { return start..<end }
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return start..<end
    }

    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    /// Whether `reply` (leading ASCII whitespace dropped when `trim`) starts with `prefix`,
    /// optionally ignoring ASCII case: for an ASCII reply and an ASCII prefix without `\r`;
    /// `nil` otherwise.
    static func hasPrefix(_ reply: String, _ prefix: String, trim: Bool, ignoreCase: Bool) -> Bool? {
        reply.utf8.withContiguousStorageIfAvailable { r -> Bool? in
            prefix.utf8.withContiguousStorageIfAvailable { p -> Bool? in
                for byte in p where byte >= 0x80 || byte == 0x0D { return nil }
                for byte in r where byte >= 0x80 { return nil }
                var start = 0
                if trim { while start < r.count, isSpace(r[start]) { start += 1 } }
                guard r.count - start >= p.count else { return false }
                for offset in 0..<p.count {
                    let a = r[start + offset]
                    let b = p[offset]
                    if a != b, !ignoreCase || lower(a) != lower(b) { return false }
                }
                return true
            } ?? nil
        } ?? nil
    }

    /// The number of characters of an ASCII text without `\r` (its byte count); `nil` otherwise.
    static func characterCount(_ text: String) -> Int? {
        isASCII(text, allowCR: false) ? text.utf8.count : nil
    }
}
