// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "sidecache",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sidecache", targets: ["sidecache"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.19.4"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-http-structured-headers", from: "1.7.0"),
    ],
    targets: [
        // Pure: routes, keys, freshness, purge rules, entry encoding. No I/O, no C.
        .target(name: "SidecacheCore", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers"),
        ]),
        // proxy.json -> validated Config. Reads one file; the caller passes the environment.
        .target(name: "SidecacheConfig", dependencies: ["SidecacheCore"]),

        // C shims only.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        .target(name: "CEpoll"),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),

        // Cache stores: the byte-bounded memory LRU, the purge ledger, the Redis tier (hiredis).
        .target(name: "SidecacheStore", dependencies: [
            "SidecacheCore", "CHiredis",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // libcurl multi client on a thread the proxy owns.
        .target(name: "SidecacheUpstream", dependencies: [
            "SidecacheCore", "CCurl", "CCurlShim", "CEpoll",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // What the proxy counts: lock-free per-route cells, the Prometheus export, the /stats figures.
        .target(name: "SidecacheMetrics", dependencies: [
            "SidecacheCore",
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // The admin listener and its endpoints, reaching the proxy only through AdminBackend.
        .target(name: "SidecacheAdmin", dependencies: [
            "SidecacheCore", "SidecacheConfig", "SidecacheStore", "SidecacheMetrics",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Token verification for `key.claims` routes (jwt-kit), and the verified-token cache.
        .target(name: "SidecacheAuth", dependencies: [
            "SidecacheCore",
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // NIO listener and the proxy engine, where core decisions meet I/O.
        .target(name: "SidecacheServer", dependencies: [
            "SidecacheCore", "SidecacheConfig", "SidecacheStore", "SidecacheUpstream", "SidecacheMetrics", "SidecacheAdmin",
            "SidecacheAuth", "SidecacheLogging",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "CompressNIO", package: "compress-nio"),
        ]),
        // The log handlers the executable bootstraps (JSON lines, control characters escaped),
        // and the standard error they and the access log write to.
        .target(name: "SidecacheLogging", dependencies: [
            "SidecacheCore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Composition root: CLI, environment, logging bootstrap, signals.
        .executableTarget(name: "sidecache", dependencies: [
            "SidecacheCore", "SidecacheConfig", "SidecacheServer", "SidecacheLogging",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),

        // Scripted loopback origin, raw and HTTP test clients, manual clock, process helpers,
        // TLS certificates made for the tests' redis-servers.
        .target(name: "SidecacheTestSupport", dependencies: [
            "SidecacheCore",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        .testTarget(name: "SidecacheCoreTests", dependencies: ["SidecacheCore", "SidecacheTestSupport"]),
        .testTarget(name: "SidecacheConfigTests", dependencies: ["SidecacheConfig"]),
        .testTarget(name: "SidecacheStoreTests", dependencies: [
            "SidecacheStore", "SidecacheTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "SidecacheUpstreamTests", dependencies: [
            "SidecacheUpstream", "SidecacheTestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "SidecacheMetricsTests", dependencies: ["SidecacheMetrics"]),
        .testTarget(name: "SidecacheAuthTests", dependencies: [
            "SidecacheAuth", "SidecacheCore",
            .product(name: "JWTKit", package: "jwt-kit"),
        ]),
        .testTarget(name: "SidecacheAdminTests", dependencies: [
            "SidecacheAdmin", "SidecacheConfig", "SidecacheCore", "SidecacheMetrics", "SidecacheStore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SidecacheServerTests", dependencies: [
            "SidecacheServer", "SidecacheAdmin", "SidecacheMetrics", "SidecacheConfig", "SidecacheStore", "SidecacheUpstream", "SidecacheTestSupport",
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "CompressNIO", package: "compress-nio"),
        ]),
        .testTarget(name: "SidecacheLoggingTests", dependencies: [
            "SidecacheLogging", "SidecacheCore",
            .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
