// swift-tools-version:5.9
// The kluis Swift package, at the repository root so that Xcode and SwiftPM can add the
// repository by URL (File > Add Package Dependencies, or .package(url:from:)). The Swift lives in
// ios/ (generated Kluis.swift, committed and checked for freshness, plus hand-written files); the
// Rust core is a binary XCFramework (static libkluis_ffi.a per platform) attached to each release.
import PackageDescription

// Written by ios/scripts/set-binary-target.sh (from ios/scripts/release.sh): the version is the
// workspace's (Cargo.toml), the checksum SwiftPM's (SHA-256 of the zip). Placeholders until the
// first release is published (docs/BINDINGS.md "Packaging").
let version = "0.1.0"
let releaseBase = "https://example.invalid/kluis/releases/download"
let xcframeworkChecksum = "0000000000000000000000000000000000000000000000000000000000000000"

// KLUIS_LOCAL_XCFRAMEWORK=1 swift test: use ios/KluisFFI.xcframework as just built by
// ios/scripts/build-xcframework.sh instead of the released zip.
let ffi: Target = Context.environment["KLUIS_LOCAL_XCFRAMEWORK"] != nil
    ? .binaryTarget(name: "KluisFFI", path: "ios/KluisFFI.xcframework")
    : .binaryTarget(
        name: "KluisFFI",
        url: "\(releaseBase)/v\(version)/KluisFFI.xcframework.zip",
        checksum: xcframeworkChecksum
    )

let package = Package(
    name: "Kluis",
    platforms: [.iOS(.v15), .macOS(.v13)],
    products: [
        .library(name: "Kluis", targets: ["Kluis"]),
    ],
    targets: [
        // Static libkluis_ffi.a per platform, with ios/Generated/KluisFFI.h and its module map.
        ffi,
        .target(name: "Kluis", dependencies: ["KluisFFI"], path: "ios/Sources/Kluis"),
        .testTarget(name: "KluisTests", dependencies: ["Kluis"], path: "ios/Tests/KluisTests"),
    ]
)
