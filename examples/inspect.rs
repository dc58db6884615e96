//! Prints a GGUF file's metadata and tensor table; optionally writes tensors dequantized to f32.
//!
//! ```text
//! cargo run --release --example inspect -- MODEL.gguf
//! cargo run --release --example inspect -- MODEL.gguf --dequant NAME --out FILE
//! cargo run --release --example inspect -- MODEL.gguf --dequant-all DIR
//! ```
//!
//! `--dequant` writes one tensor as little-endian f32 in ggml's element order (the first
//! dimension fastest); `--dequant-all` writes every tensor to `DIR/<name>.f32`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use llamette::gguf::{GgufFile, Value};
use llamette::quant::dequantize_row;

/// Arrays longer than this are printed as their first and last few elements.
const ARRAY_HEAD: usize = 8;
/// Strings longer than this are cut when printed.
const STRING_MAX: usize = 120;

struct Args {
    model: PathBuf,
    dequant: Option<String>,
    out: Option<PathBuf>,
    dequant_all: Option<PathBuf>,
}

fn usage() -> String {
    "usage: inspect MODEL.gguf [--dequant NAME --out FILE] [--dequant-all DIR]".to_string()
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args_os().skip(1);
    let mut model = None;
    let (mut dequant, mut out, mut dequant_all) = (None, None, None);
    while let Some(a) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))
        };
        match a.to_str() {
            Some("--dequant") => {
                dequant = Some(value("--dequant")?.to_string_lossy().into_owned());
            }
            Some("--out") => out = Some(PathBuf::from(value("--out")?)),
            Some("--dequant-all") => dequant_all = Some(PathBuf::from(value("--dequant-all")?)),
            Some("-h" | "--help") => return Err(usage()),
            Some(s) if s.starts_with('-') => return Err(format!("unknown flag {s}\n{}", usage())),
            _ if model.is_none() => model = Some(PathBuf::from(a)),
            _ => return Err(format!("more than one model given\n{}", usage())),
        }
    }
    let model = model.ok_or_else(usage)?;
    if dequant.is_some() != out.is_some() {
        return Err(format!("--dequant and --out go together\n{}", usage()));
    }
    Ok(Args {
        model,
        dequant,
        out,
        dequant_all,
    })
}

fn open(path: &Path) -> Result<GgufFile<'static>, String> {
    let context = |e: llamette::Error| format!("{}: {e}", path.display());
    #[cfg(feature = "mmap")]
    {
        GgufFile::open(path).map_err(context)
    }
    #[cfg(not(feature = "mmap"))]
    {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        GgufFile::from_vec(bytes).map_err(context)
    }
}

fn show_value(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            let cut: String = s.chars().take(STRING_MAX).collect();
            let _ = write!(out, "{cut:?}");
            if cut.len() < s.len() {
                let _ = write!(out, "... ({} bytes)", s.len());
            }
        }
        Value::Array(a) => {
            let _ = write!(out, "[{}; {}] [", a.elem_type().name(), a.len());
            let n = a.len();
            for (i, item) in a.iter().enumerate() {
                if n > 2 * ARRAY_HEAD && i == ARRAY_HEAD {
                    let _ = write!(out, "..., ");
                }
                if n > 2 * ARRAY_HEAD && (ARRAY_HEAD..n - ARRAY_HEAD).contains(&i) {
                    continue;
                }
                show_value(&item, out);
                if i + 1 < n {
                    out.push_str(", ");
                }
            }
            out.push(']');
        }
        Value::U8(x) => write!(out, "{x}").unwrap_or(()),
        Value::I8(x) => write!(out, "{x}").unwrap_or(()),
        Value::U16(x) => write!(out, "{x}").unwrap_or(()),
        Value::I16(x) => write!(out, "{x}").unwrap_or(()),
        Value::U32(x) => write!(out, "{x}").unwrap_or(()),
        Value::I32(x) => write!(out, "{x}").unwrap_or(()),
        Value::U64(x) => write!(out, "{x}").unwrap_or(()),
        Value::I64(x) => write!(out, "{x}").unwrap_or(()),
        Value::F32(x) => write!(out, "{x}").unwrap_or(()),
        Value::F64(x) => write!(out, "{x}").unwrap_or(()),
        Value::Bool(x) => write!(out, "{x}").unwrap_or(()),
    }
}

fn dequantize(file: &GgufFile, name: &str) -> Result<Vec<u8>, String> {
    let t = file.require_tensor(name).map_err(|e| e.to_string())?;
    let n = usize::try_from(t.n_elements()).map_err(|_| format!("tensor {name} is too large"))?;
    let mut values = vec![0f32; n];
    dequantize_row(t.ggml_type, t.data, &mut values).map_err(|e| format!("tensor {name}: {e}"))?;
    Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let file = open(&args.model)?;

    if let (Some(name), Some(out)) = (&args.dequant, &args.out) {
        let bytes = dequantize(&file, name)?;
        std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!("wrote {} ({} f32 values)", out.display(), bytes.len() / 4);
        return Ok(());
    }
    if let Some(dir) = &args.dequant_all {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for t in file.tensors() {
            let path = dir.join(format!("{}.f32", t.name));
            let bytes = dequantize(&file, t.name)?;
            std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        eprintln!("wrote {} tensors to {}", file.tensor_count(), dir.display());
        return Ok(());
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: GGUF v{}, {} bytes, {} metadata entries, {} tensors, alignment {}, data at {}",
        args.model.display(),
        file.version(),
        file.bytes().len(),
        file.metadata_len(),
        file.tensor_count(),
        file.alignment(),
        file.data_offset()
    );
    let _ = writeln!(out, "\nmetadata:");
    for (key, value) in file.metadata() {
        let _ = write!(out, "  {key} = ");
        show_value(&value, &mut out);
        out.push('\n');
    }
    let _ = writeln!(out, "\ntensors:");
    let _ = writeln!(
        out,
        "  {:<32} {:<7} {:<22} {:>12} {:>12}",
        "name", "type", "shape", "offset", "bytes"
    );
    let mut total = 0usize;
    for t in file.tensors() {
        let shape = format!("{:?}", t.dims());
        let _ = writeln!(
            out,
            "  {:<32} {:<7} {:<22} {:>12} {:>12}",
            t.name,
            t.ggml_type.name(),
            shape,
            t.file_offset(),
            t.n_bytes()
        );
        total += t.n_bytes();
    }
    let _ = writeln!(out, "  total tensor bytes: {total}");
    print!("{out}");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inspect: {e}");
            ExitCode::FAILURE
        }
    }
}
