import Testing
@testable import SidecacheUpstream

@Suite struct URLAuthorityTests {
    @Test(arguments: [
        ("http://127.0.0.1:3000/api/users?x=1", "127.0.0.1:3000"),
        ("http://api.internal/x", "api.internal:80"),
        ("https://api.internal", "api.internal:443"),
        ("HTTPS://user:pw@api.internal:8443/x", "api.internal:8443"),
        ("http://[::1]:8080/x", "[::1]:8080"),
        ("http://[::1]/x", "[::1]:80"),
        ("http://host?x=1:2", "host:80"),
    ])
    func authority(url: String, expected: String) {
        #expect(URLAuthority(url: url)?.description == expected)
    }

    @Test(arguments: ["/just/a/path", "http:///nohost"])
    func noAuthority(url: String) {
        #expect(URLAuthority(url: url) == nil)
    }
}
