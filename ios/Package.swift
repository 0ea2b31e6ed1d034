// swift-tools-version:5.9
// The kluis Swift package: the generated Swift (Sources/Kluis, committed, checked for freshness)
// over the Rust core as a binary XCFramework built by scripts/build-xcframework.sh on macOS.
import PackageDescription

let package = Package(
    name: "Kluis",
    platforms: [.iOS(.v15), .macOS(.v13)],
    products: [
        .library(name: "Kluis", targets: ["Kluis"]),
    ],
    targets: [
        // Static libkluis_ffi.a per platform, with Generated/KluisFFI.h and its module map.
        .binaryTarget(name: "KluisFFI", path: "KluisFFI.xcframework"),
        .target(name: "Kluis", dependencies: ["KluisFFI"], path: "Sources/Kluis"),
        .testTarget(name: "KluisTests", dependencies: ["Kluis"], path: "Tests/KluisTests"),
    ]
)
