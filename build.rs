//! With the `ffi` feature, regenerates the C header `include/llamette.h` from `src/ffi/` with
//! cbindgen (configured by `cbindgen.toml`). The header is committed; CI builds with `ffi` and
//! fails when the build changed it (`git diff --exit-code include/llamette.h`), so the header
//! in the repository always matches the code. Without the feature this script does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "ffi")]
    ffi_header::generate();
}

#[cfg(feature = "ffi")]
mod ffi_header {
    use std::path::PathBuf;

    pub fn generate() {
        let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
        let config_path = root.join("cbindgen.toml");
        let src = root.join("src/ffi/mod.rs");
        let header = root.join("include/llamette.h");
        for p in [root.join("src/ffi"), config_path.clone(), header.clone()] {
            println!("cargo:rerun-if-changed={}", p.display());
        }
        let config = cbindgen::Config::from_file(&config_path)
            .unwrap_or_else(|e| panic!("{}: {e}", config_path.display()));
        // Only the `ffi` module is parsed (it follows its own `mod` declarations), so no
        // `cargo metadata` run is needed and nothing outside the C ABI can leak into the header.
        let bindings = cbindgen::Builder::new()
            .with_config(config)
            .with_src(&src)
            .generate()
            .unwrap_or_else(|e| panic!("cbindgen: {e}"));
        let mut text = Vec::new();
        bindings.write(&mut text);
        // Rewrite only on change: an untouched header keeps its timestamp, and a read-only
        // checkout builds as long as the header is current.
        if std::fs::read(&header).ok().as_deref() != Some(&text[..]) {
            std::fs::create_dir_all(header.parent().expect("include/"))
                .and_then(|()| std::fs::write(&header, &text))
                .unwrap_or_else(|e| panic!("{}: {e}", header.display()));
        }
    }
}
