import Foundation

/// Reading and writing `timestamptz` text (DateStyle ISO, TimeZone UTC) without Calendar or DateFormatter,
/// which are slow and locale-dependent. Microsecond precision, as PostgreSQL stores it.
enum PostgresTimestamp {
    static func format(_ date: Date) -> String {
        if date == .distantFuture { return "infinity" }
        if date == .distantPast { return "-infinity" }
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (days, dayMicros) = floorDivide(micros, 86_400_000_000)
        let (year, month, day) = civil(fromDays: days)
        let seconds = dayMicros / 1_000_000
        let fraction = dayMicros % 1_000_000
        let bc = year <= 0
        var text = pad(bc ? 1 - year : year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
        text += " " + pad(seconds / 3600, 2) + ":" + pad(seconds / 60 % 60, 2) + ":" + pad(seconds % 60, 2)
        text += "." + pad(fraction, 6) + "+00"
        if bc { text += " BC" }
        return text
    }

    static func parse(_ text: String) -> Date? {
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        var scanner = Scanner(Array(text.utf8))
        guard let yearValue = scanner.number(minDigits: 4), scanner.skip("-"),
            let month = scanner.number(exactDigits: 2), scanner.skip("-"),
            let day = scanner.number(exactDigits: 2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var year = yearValue
        var micros: Int64 = 0
        if scanner.skip(" ") || scanner.skip("T") {
            guard let hour = scanner.number(exactDigits: 2), scanner.skip(":"),
                let minute = scanner.number(exactDigits: 2), scanner.skip(":"),
                let second = scanner.number(exactDigits: 2),
                hour <= 24, minute < 60, second < 61
            else { return nil }
            micros = (hour * 3600 + minute * 60 + second) * 1_000_000
            if scanner.skip(".") {
                let start = scanner.position
                guard let fraction = scanner.number(minDigits: 1) else { return nil }
                let digits = scanner.position - start
                guard digits <= 9 else { return nil }
                var scaled = fraction
                for _ in digits..<6 { scaled *= 10 }
                for _ in 6..<max(6, digits) { scaled /= 10 }
                micros += scaled
            }
            if let sign = scanner.peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                scanner.position += 1
                guard let offsetHours = scanner.number(exactDigits: 2) else { return nil }
                var offset = offsetHours * 3600
                if scanner.skip(":") {
                    guard let offsetMinutes = scanner.number(exactDigits: 2) else { return nil }
                    offset += offsetMinutes * 60
                    if scanner.skip(":") {
                        guard let offsetSeconds = scanner.number(exactDigits: 2) else { return nil }
                        offset += offsetSeconds
                    }
                }
                micros -= (sign == UInt8(ascii: "+") ? offset : -offset) * 1_000_000
            }
        }
        if scanner.skip(" BC") { year = 1 - year }
        guard scanner.atEnd else { return nil }
        let total = days(fromCivil: year, month, day) * 86_400_000_000 + micros
        return Date(timeIntervalSince1970: Double(total) / 1_000_000)
    }

    // Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, year 0 = 1 BC).
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let quotient = a >= 0 ? a / b : -((-a + b - 1) / b)
        return (quotient, a - quotient * b)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { position == bytes.count }
        func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skip(_ literal: String) -> Bool {
            let utf8 = Array(literal.utf8)
            guard bytes.count - position >= utf8.count, Array(bytes[position..<position + utf8.count]) == utf8 else { return false }
            position += utf8.count
            return true
        }

        mutating func number(minDigits: Int = 1, exactDigits: Int? = nil) -> Int64? {
            var value: Int64 = 0
            var count = 0
            while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), count < 18 {
                if let exactDigits, count == exactDigits { break }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
                count += 1
                position += 1
            }
            if let exactDigits { return count == exactDigits ? value : nil }
            return count >= minDigits ? value : nil
        }
    }
}
