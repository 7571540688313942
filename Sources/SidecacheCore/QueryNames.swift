/// Query and form field names as the loosest upstreams read them, for every place the
/// proxy must agree with the upstream about which parameter a pair is: the key's sort
/// and `key.query` lists, `{query.NAME}` purge values, and `_method` overrides. A name
/// the proxy compared byte for byte was missed where the upstream decoded it:
/// `?%69d=7` is `id` to PHP, Django and Rails.

/// Whether two query parameter names may be one parameter to some upstream (`NameBytes`,
/// cut at `[`: `a[]` and `a[0]` are `a`).
func queryNamesReadAlike(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    decodedOrder(a, b) == nil
}

func queryNamesReadAlike(_ a: Substring, _ b: Substring) -> Bool { queryNamesReadAlike(a.utf8, b.utf8) }

/// Whether a received name is one an upstream may read as the configured `name`: as
/// `queryNamesReadAlike`, but a configured name with brackets is compared whole
/// (`filter[id]` is not `filter[status]`, which the cut at `[` made it).
func queryName(_ received: some Collection<UInt8>, readsAs name: String) -> Bool {
    let whole = name.utf8.contains(UInt8(ascii: "["))
    var x = NameBytes(received, whole: whole), y = NameBytes(name.utf8, whole: whole)
    while true {
        let (p, q) = (x.next(), y.next())
        if p != q { return false }
        if p == nil { return true }
    }
}

/// Whether `a` sorts before `b` once both are read as loosely as an upstream might
/// (`NameBytes`), compared byte by byte in place; nil when they read alike.
func decodedOrder(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool? {
    var x = NameBytes(a), y = NameBytes(b)
    while true {
        switch (x.next(), y.next()) {
        case (nil, nil): return nil
        case (nil, _): return true
        case (_, nil): return false
        case let (p?, q?) where p != q: return p < q
        default: continue
        }
    }
}

/// The bytes of a query name as the loosest upstreams read it: decoded (`Decoded`);
/// leading spaces dropped and, up to the first `[`, `.` and space as `_` (PHP); ASCII
/// letters lowercased (ASP.NET); and nothing from the first `[` (PHP: `a[]` and `a[0]`
/// are the array `a`), unless `whole`.
struct NameBytes<C: Collection<UInt8>>: IteratorProtocol {
    private var bytes: Decoded<C>
    private let whole: Bool
    private var started = false
    private var bracketed = false

    init(_ bytes: C, whole: Bool = false) {
        self.bytes = Decoded(bytes)
        self.whole = whole
    }

    mutating func next() -> UInt8? {
        guard var byte = bytes.next() else { return nil }
        if !started {
            while byte == 0x20 { guard let next = bytes.next() else { return nil }; byte = next }
            started = true
        }
        switch byte {
        case UInt8(ascii: "[") where !whole:
            bytes.finish()
            return nil
        case UInt8(ascii: "["):
            bracketed = true
            return byte
        case UInt8(ascii: "."), 0x20: return bracketed ? byte : UInt8(ascii: "_")
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte | 0x20
        default: return byte
        }
    }
}

/// The bytes of a query or form name or value as `application/x-www-form-urlencoded`
/// decoding gives them: `%XY` one byte, `+` a space (a path segment's `+` is itself:
/// `form` false). A `%` without two hex digits after it stays itself.
struct Decoded<C: Collection<UInt8>>: IteratorProtocol {
    private let bytes: C
    private var i: C.Index
    private let form: Bool

    init(_ bytes: C, form: Bool = true) {
        self.bytes = bytes
        self.form = form
        i = bytes.startIndex
    }

    mutating func finish() { i = bytes.endIndex }

    mutating func next() -> UInt8? {
        guard i < bytes.endIndex else { return nil }
        let byte = bytes[i]
        bytes.formIndex(after: &i)
        if byte == UInt8(ascii: "+") && form { return 0x20 }
        if byte == UInt8(ascii: "%"), i < bytes.endIndex {
            let second = bytes.index(after: i)
            if second < bytes.endIndex, let decoded = hexValue(bytes[i], bytes[second]) {
                i = bytes.index(after: second)
                return decoded
            }
        }
        return byte
    }
}

extension String {
    /// A path segment (`form` false) or query value decoded, as the upstream reads it.
    init(decoding encoded: some StringProtocol, form: Bool) {
        self.init(decoding: Array(IteratorSequence(Decoded(encoded.utf8, form: form))), as: UTF8.self)
    }
}
