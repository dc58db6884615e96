// swift-tools-version:5.9
// A command-line sample of the Swift binding: streams a chat completion. From this directory,
// after `cargo build --release --features ffi` at the repository root:
//
//   swift run -Xlinker -L$PWD/../../../target/release -Xlinker -rpath -Xlinker $PWD/../../../target/release \
//     llamette-complete ../../../models/smollm2-135m-instruct.q4_1.gguf "What is the capital of France?"
//
// (This package lives in examples/swift/complete/, not examples/swift/: SwiftPM names a path
// dependency after its directory, and two packages both called "swift" would clash.)
import PackageDescription

let package = Package(
    name: "llamette-complete",
    platforms: [.macOS(.v12)],
    dependencies: [
        .package(path: "../../../bindings/swift"),
    ],
    targets: [
        .executableTarget(
            name: "llamette-complete",
            dependencies: [.product(name: "Llamette", package: "swift")],
            path: "Sources/llamette-complete"
        ),
    ]
)
