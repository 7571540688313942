// swift-tools-version:6.1
import PackageDescription

// The bench's NIO floor (bench/README.md): what SwiftNIO alone costs per request, with the
// request decoder sidecache uses. Its own package so that the product's build and CI
// never compile it.
let package = Package(
    name: "nio-floor",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(name: "nio-floor", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
    ]
)
