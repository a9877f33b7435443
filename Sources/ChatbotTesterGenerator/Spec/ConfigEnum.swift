/// A config value from a fixed list; decoding an unknown value names the allowed ones.
public protocol ConfigEnum: RawRepresentable, CaseIterable, Decodable where RawValue == String {}

extension ConfigEnum {
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: raw) else {
            let allowed = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown value '\(raw)' (allowed: \(allowed))"))
        }
        self = value
    }
}
