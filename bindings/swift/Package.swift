// swift-tools-version:5.9
// Llamette: Swift bindings over llamette's C API (include/llamette.h). See README.md here.
//
// Build the C library first (from the repository root): cargo build --release --features ffi
// Then, in this directory:
//   swift build -Xlinker -L$PWD/../../target/release
//   LD_LIBRARY_PATH=$PWD/../../target/release swift test -Xlinker -L$PWD/../../target/release
// (on macOS: DYLD_LIBRARY_PATH instead of LD_LIBRARY_PATH, or add
//  -Xlinker -rpath -Xlinker $PWD/../../target/release). Setting LIBRARY_PATH works instead of
// -Xlinker -L.
import PackageDescription

let package = Package(
    name: "Llamette",
    platforms: [.macOS(.v12), .iOS(.v15)],
    products: [
        .library(name: "Llamette", targets: ["Llamette"]),
    ],
    targets: [
        // The C API as a Clang module: Sources/CLlamette/module.modulemap over CLlamette.h,
        // which includes ../../../../include/llamette.h and links -lllamette.
        .systemLibrary(name: "CLlamette", path: "Sources/CLlamette"),
        .target(name: "Llamette", dependencies: ["CLlamette"], path: "Sources/Llamette"),
        .testTarget(name: "LlametteTests", dependencies: ["Llamette"], path: "Tests/LlametteTests"),
    ]
)
