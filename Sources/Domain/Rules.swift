/// The catalog's validation rules, in one place.
public enum Rules {
    public static let textLength = 1...200
    public static let releaseYears = 1860...2100
    public static let durationSeconds = 1...86_400
    public static let maximumSongs = 500

    /// Trims surrounding whitespace and checks length and control characters; returns the trimmed text.
    static func text(_ value: String, field: String, errors: inout [FieldError]) -> String {
        let trimmed = value.trimmingWhitespace()
        if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            errors.append(FieldError(field: field, message: "must not contain control characters"))
        } else if trimmed.unicodeScalars.isEmpty || value.unicodeScalars.count > textLength.upperBound {
            // Characters as JSON Schema's maxLength counts them (code points, not Swift's grapheme
            // clusters: a combining mark is one more), in the value as sent; at least one after trimming.
            errors.append(FieldError(field: field, message: "must be 1 to 200 characters, and not only whitespace"))
        }
        return trimmed
    }

    static func releaseYear(_ value: Int?, field: String = "releaseYear", errors: inout [FieldError]) {
        if let value, !releaseYears.contains(value) {
            errors.append(FieldError(field: field, message: "must be between 1860 and 2100"))
        }
    }

    static func duration(_ value: Int?, field: String, errors: inout [FieldError]) {
        if let value, !durationSeconds.contains(value) {
            errors.append(FieldError(field: field, message: "must be between 1 and 86400 seconds"))
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }
}
