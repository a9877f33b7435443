/// Variants of bytes for differential tests of byte readers.
public enum ByteMutations {
    /// Every one-byte change of `original`: each byte replaced by each of `replacements` that
    /// differs from it, each byte deleted, and — when `inserting` is given — that byte inserted
    /// before each position.
    public static func oneByteChanges(of original: [UInt8], replacing replacements: [UInt8], inserting: UInt8? = nil) -> [[UInt8]] {
        var variants: [[UInt8]] = []
        for position in original.indices {
            for byte in replacements where original[position] != byte {
                var changed = original
                changed[position] = byte
                variants.append(changed)
            }
            var removed = original
            removed.remove(at: position)
            variants.append(removed)
            if let inserting {
                var inserted = original
                inserted.insert(inserting, at: position)
                variants.append(inserted)
            }
        }
        return variants
    }
}
