import SidecacheCore
import Testing

/// RFC 9110 §14.1.2 (byte ranges), §14.2 (Range), §13.1.5 (If-Range), against a
/// representation of 1000 bytes unless said otherwise.
@Suite struct ByteRangeTests {
    @Test(arguments: [
        ("bytes=0-499", RangeAnswer.partial(0...499)),
        ("bytes=500-999", .partial(500...999)),
        ("bytes=500-", .partial(500...999)),
        ("bytes=990-5000", .partial(990...999)),            // last-pos past the end is clamped
        ("bytes=0-99999999999999999999999", .partial(0...999)),
        ("bytes=-100", .partial(900...999)),                 // suffix
        ("bytes=-5000", .partial(0...999)),                  // suffix longer than the body: all of it
        ("BYTES = 0-0", .whole),                             // no OWS around '=' (§14.1.1 grammar)
        ("Bytes=0-0", .partial(0...0)),
        (" bytes=1-2 ", .partial(1...2)),
        ("bytes=1000-", .unsatisfiable),                     // first-pos at the length
        ("bytes=1000-1200", .unsatisfiable),
        ("bytes=-0", .unsatisfiable),
        ("bytes=5-4", .whole),                               // invalid: ignored
        ("bytes=0-1,5-6", .whole),                           // several ranges: answered whole
        ("bytes=", .whole), ("bytes=a-b", .whole), ("bytes=-", .whole), ("items=0-5", .whole), ("0-5", .whole),
    ])
    func evaluate(value: String, expected: RangeAnswer) {
        #expect(RangeAnswer.evaluate([value], length: 1000) == expected, "\(value)")
    }

    @Test func edges() {
        #expect(RangeAnswer.evaluate([], length: 10) == .whole)
        #expect(RangeAnswer.evaluate(["bytes=0-1", "bytes=2-3"], length: 10) == .whole, "two Range fields")
        #expect(RangeAnswer.evaluate(["bytes=0-"], length: 0) == .unsatisfiable)
        #expect(RangeAnswer.evaluate(["bytes=-1"], length: 0) == .unsatisfiable)
        #expect(RangeAnswer.evaluate(["bytes=0-1,"], length: 10) == .partial(0...1), "an empty list element is not a range")
    }

    @Test func ifRange() {
        let stored: HeaderList = [("ETag", #""abc""#), ("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT"),
                                  ("Date", "Tue, 01 Dec 2026 10:00:01 GMT")]
        #expect(Validators.ifRangeMatches(#""abc""#, stored: stored))
        #expect(!Validators.ifRangeMatches(#""abd""#, stored: stored))
        #expect(!Validators.ifRangeMatches(#"W/"abc""#, stored: stored), "weak tags never match")
        #expect(!Validators.ifRangeMatches(#""abc""#, stored: [("ETag", #"W/"abc""#)] as HeaderList), "nor a weak stored tag")
        #expect(Validators.ifRangeMatches("Tue, 01 Dec 2026 10:00:00 GMT", stored: stored))
        #expect(!Validators.ifRangeMatches("Tue, 01 Dec 2026 10:00:01 GMT", stored: stored))
        #expect(!Validators.ifRangeMatches("yesterday", stored: stored))
        // A Last-Modified within its answer's Date second is weak (RFC 9110 §8.8.2.2), and
        // one without a Date cannot be told strong.
        let weak: HeaderList = [("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT"), ("Date", "Tue, 01 Dec 2026 10:00:00 GMT")]
        #expect(!Validators.ifRangeMatches("Tue, 01 Dec 2026 10:00:00 GMT", stored: weak))
        #expect(!Validators.ifRangeMatches("Tue, 01 Dec 2026 10:00:00 GMT", stored: [("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT")] as HeaderList))
    }
}
