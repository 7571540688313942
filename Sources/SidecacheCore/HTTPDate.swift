/// HTTP-date parsing (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete RFC 850 and
/// asctime forms recipients must still accept. Pure arithmetic, no Foundation.
public enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The instant `text` names, or nil if it is not a valid HTTP-date.
    public static func parse(_ text: String) -> Timestamp? {
        if let fixed = parseFixdate(text) { return fixed }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" }).map(String.init)
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT   -> [Sun, 06, Nov, 1994, 08:49:37, GMT]
        // RFC 850:     Sunday, 06-Nov-94 08:49:37 GMT  -> [Sunday, 06, Nov, 94, 08:49:37, GMT]
        // asctime:     Sun Nov  6 08:49:37 1994        -> [Sun, Nov, 6, 08:49:37, 1994]
        if words.count == 6, words[5] == "GMT", let day = Int(words[1]), let year = Int(words[3]) {
            let fullYear = words[3].count == 2 ? (year < 70 ? 2000 + year : 1900 + year) : year
            return make(year: fullYear, month: words[2], day: day, time: words[4])
        }
        if words.count == 5, let day = Int(words[2]), let year = Int(words[4]) {
            return make(year: year, month: words[1], day: day, time: words[3])
        }
        return nil
    }

    /// IMF-fixdate, the form every current server sends (a fill reads its `Date`), read
    /// in place: `Sun, 06 Nov 1994 08:49:37 GMT`. Nil for anything else, which the
    /// general path above then tries.
    private static func parseFixdate(_ text: String) -> Timestamp? {
        var text = text
        return text.withUTF8 { b -> Timestamp? in
            let space = UInt8(ascii: " ")
            guard b.count == 29, b[3] == UInt8(ascii: ","), b[4] == space, b[7] == space, b[11] == space, b[16] == space,
                  b[19] == UInt8(ascii: ":"), b[22] == UInt8(ascii: ":"), b[25] == space,
                  b[26] == UInt8(ascii: "G"), b[27] == UInt8(ascii: "M"), b[28] == UInt8(ascii: "T") else { return nil }
            func number(_ at: Int, _ count: Int) -> Int? {
                var n = 0
                for i in at..<(at + count) {
                    guard b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") else { return nil }
                    n = n * 10 + Int(b[i] - UInt8(ascii: "0"))
                }
                return n
            }
            // Month names are matched as the general path does: ASCII, any case.
            let month = Int(b[8].asciiLowercased) << 16 | Int(b[9].asciiLowercased) << 8 | Int(b[10].asciiLowercased)
            guard let m = monthCodes.firstIndex(of: month), let day = number(5, 2), (1...31).contains(day),
                  let year = number(12, 4), let h = number(17, 2), let min = number(20, 2), let sec = number(23, 2),
                  h <= 23, min <= 59, sec <= 60 else { return nil }
            let days = daysFromCivil(year: year, month: m + 1, day: day)
            return Timestamp(seconds: Int64(days) * 86_400 + Int64(h * 3600 + min * 60 + sec))
        }
    }

    /// The three lowercase letters of each month as one integer, for `parseFixdate`.
    private static let monthCodes = months.map { name in name.utf8.reduce(0) { $0 << 8 | Int($1) } }

    /// IMF-fixdate text for `t`.
    public static func format(_ t: Timestamp) -> String {
        let days = Int(floorDiv(t.milliseconds, 86_400_000))
        let secs = Int(t.milliseconds / 1000 - Int64(days) * 86_400)
        let (y, m, d) = civil(fromDays: days)
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((days % 7) + 7) % 7]
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(weekday), \(two(d)) \(monthNames[m - 1]) \(y) \(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60)) GMT"
    }

    private static func make(year: Int, month: String, day: Int, time: String) -> Timestamp? {
        // Four digits, as every form has (RFC 9110 §5.6.7): a year of any length would
        // overflow the arithmetic below, and an overflow stops the process.
        guard (0...9999).contains(year), let m = months.firstIndex(of: month.lowercased()), (1...31).contains(day) else { return nil }
        let hms = time.split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3, (0...23).contains(hms[0]), (0...59).contains(hms[1]), (0...60).contains(hms[2]) else { return nil }
        let days = daysFromCivil(year: year, month: m + 1, day: day)
        return Timestamp(seconds: Int64(days) * 86_400 + Int64(hms[0] * 3600 + hms[1] * 60 + hms[2]))
    }

    // Howard Hinnant's days-from-civil and its inverse.
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }
}
