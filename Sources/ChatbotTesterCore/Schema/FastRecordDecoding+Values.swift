import Foundation

extension JSONCoding {
    /// The `EvalRecord` that `JSONDecoder` (with `JSONCoding`'s settings) would decode from
    /// `value`, a `JSONByteParser` value, or `nil` when the value is not the plain shape records
    /// take (decode the bytes with the decoder then). For wrappers holding evaluations (journal
    /// entries) that are decoded on hot paths.
    public static func fastEvalRecord(_ value: JSONValue) -> EvalRecord? {
        guard case .object(let object) = value else { return nil }
        return FastRecordDecoding.evalRecord(object)
    }

    /// The date `JSONDecoder` (ISO-8601 strategy) would decode from `text`, for the form
    /// `JSONCoding` writes (`YYYY-MM-DDTHH:MM:SSZ`); `nil` for any other form (decode with the
    /// decoder then).
    public static func fastDate(_ text: String) -> Date? {
        FastRecordDecoding.date(text)
    }
}
