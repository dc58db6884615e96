//! Writes the hostile files of issue 15 to a folder (the same bytes `tests/hostile.rs` makes in
//! memory), for trying them on the CLI, the C ABI, another engine, or as fuzzing seeds.
//!
//! ```text
//! cargo run --release --example make_hostile -- DIR
//! ```

#[path = "../tests/common/hostile.rs"]
mod hostile;

use std::path::PathBuf;
use std::process::ExitCode;

/// A file's name and how to make its bytes.
type Maker = (&'static str, fn() -> Vec<u8>);

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: make_hostile DIR");
        return ExitCode::from(2);
    };
    let files: [Maker; 6] = [
        ("unmapped-vocab-181k.gguf", || {
            hostile::unmapped_vocab(45, 1333)
        }),
        ("unmapped-vocab-long-tokens.gguf", || {
            hostile::unmapped_vocab(3, 20_000)
        }),
        ("layers-16000.gguf", || hostile::many_layers(16_000)),
        ("layers-8000.gguf", || hostile::many_layers(8_000)),
        ("flooded-vocab-131072.gguf", || hostile::flooded_vocab(17)),
        ("context-length-4294967295.gguf", hostile::huge_context),
    ];
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("make_hostile: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, make) in files {
        let path = dir.join(name);
        let bytes = make();
        if let Err(e) = std::fs::write(&path, &bytes) {
            eprintln!("make_hostile: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    let text = dir.join("alnum-96k.txt");
    if let Err(e) = std::fs::write(&text, hostile::alnum_text(96 * 1024)) {
        eprintln!("make_hostile: {}: {e}", text.display());
        return ExitCode::FAILURE;
    }
    println!("{}", text.display());
    ExitCode::SUCCESS
}
