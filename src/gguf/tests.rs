//! Malformed-input tests for the reader: every one must be an `Err` naming the problem.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::writer::{MetaValue, Writer};
use super::*;

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("pattern present")
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Offsets of the fields of tensor `name`'s info (after its name): n_dims, dims, type, offset.
fn tensor_fields(b: &[u8], name: &str, n_dims: usize) -> (usize, usize, usize, usize) {
    // The name occurs once in the info table (tensor data is numeric noise here).
    let at = find(b, name.as_bytes()) + name.len();
    (at, at + 4, at + 4 + 8 * n_dims, at + 4 + 8 * n_dims + 4)
}

fn q8_0_bytes(blocks: usize) -> Vec<u8> {
    (0..blocks * 34).map(|i| (i * 7 % 251) as u8).collect()
}

/// A small valid file: every value type, nested arrays, two tensors.
fn sample() -> Writer {
    Writer::new()
        .meta("general.architecture", MetaValue::String("llama".into()))
        .meta("t.u8", MetaValue::U8(200))
        .meta("t.i8", MetaValue::I8(-5))
        .meta("t.u16", MetaValue::U16(60000))
        .meta("t.i16", MetaValue::I16(-30000))
        .meta("t.u32", MetaValue::U32(4_000_000_000))
        .meta("t.i32", MetaValue::I32(-2_000_000_000))
        .meta("t.f32", MetaValue::F32(1.5e-5))
        .meta("t.bool", MetaValue::Bool(true))
        .meta("t.u64", MetaValue::U64(1 << 40))
        .meta("t.i64", MetaValue::I64(-(1 << 40)))
        .meta("t.f64", MetaValue::F64(-2.25))
        .meta(
            "t.strings",
            MetaValue::Array(
                ValueType::String,
                vec![
                    MetaValue::String("▁hello".into()),
                    MetaValue::String(String::new()),
                    MetaValue::String("<0x0A>".into()),
                ],
            ),
        )
        .meta(
            "t.nested",
            MetaValue::Array(
                ValueType::Array,
                vec![
                    MetaValue::Array(ValueType::I32, vec![MetaValue::I32(1), MetaValue::I32(-2)]),
                    MetaValue::Array(ValueType::String, vec![MetaValue::String("x".into())]),
                ],
            ),
        )
        .meta(
            "t.f32s",
            MetaValue::Array(
                ValueType::F32,
                vec![MetaValue::F32(0.5), MetaValue::F32(-1.0)],
            ),
        )
        .tensor("tok.weight", GgmlType::Q8_0, &[64, 3], q8_0_bytes(6))
        .tensor("norm.weight", GgmlType::F32, &[5], (0..20u8).collect())
}

fn sample_bytes() -> Vec<u8> {
    sample().to_bytes().unwrap()
}

#[test]
fn reads_every_value_type_and_borrows_tensor_data() {
    let bytes = sample_bytes();
    let f = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.metadata_len(), 15);
    assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(f.get("t.u8"), Some(Value::U8(200)));
    assert_eq!(f.get("t.i8"), Some(Value::I8(-5)));
    assert_eq!(f.get("t.u16"), Some(Value::U16(60000)));
    assert_eq!(f.get("t.i16"), Some(Value::I16(-30000)));
    assert_eq!(f.get_u32("t.u32").unwrap(), 4_000_000_000);
    assert_eq!(f.get_i32("t.i32").unwrap(), -2_000_000_000);
    assert_eq!(f.get_f32("t.f32").unwrap(), 1.5e-5);
    assert!(f.get_bool("t.bool").unwrap());
    assert_eq!(f.get_u64("t.u64").unwrap(), 1 << 40);
    assert_eq!(f.get("t.i64"), Some(Value::I64(-(1 << 40))));
    assert_eq!(f.get("t.f64"), Some(Value::F64(-2.25)));
    let strings = f.get_array("t.strings").unwrap();
    assert_eq!(strings.len(), 3);
    let s: Vec<&str> = strings.strings().unwrap().collect();
    assert_eq!(s, ["▁hello", "", "<0x0A>"]);
    assert_eq!(strings.get(2), Some(Value::String("<0x0A>")));
    assert_eq!(strings.get(3), None);
    let nested = f.get_array("t.nested").unwrap();
    let inner: Vec<Array> = nested.iter().map(|v| v.as_array().unwrap()).collect();
    assert_eq!(inner[0].integers().unwrap().collect::<Vec<_>>(), [1, -2]);
    assert_eq!(inner[1].strings().unwrap().collect::<Vec<_>>(), ["x"]);
    let f32s: Vec<f32> = f.get_array("t.f32s").unwrap().f32s().unwrap().collect();
    assert_eq!(f32s, [0.5, -1.0]);
    assert_eq!(
        f.get_array("t.f32s").unwrap().get(1),
        Some(Value::F32(-1.0))
    );

    assert_eq!(f.tensor_count(), 2);
    let t = f.tensor("tok.weight").unwrap();
    assert_eq!(t.ggml_type, GgmlType::Q8_0);
    assert_eq!(t.dims(), [64, 3]);
    assert_eq!(t.n_elements(), 192);
    assert_eq!(t.n_bytes(), 204);
    assert_eq!(t.offset, 0);
    assert_eq!(t.file_offset() % 32, 0);
    assert_eq!(t.data, &q8_0_bytes(6)[..]);
    // Zero copy: the data is a slice of the caller's buffer.
    let start = t.data.as_ptr() as usize - bytes.as_ptr() as usize;
    assert_eq!(start as u64, t.file_offset());
    let n = f.tensor("norm.weight").unwrap();
    assert_eq!(n.offset, 224); // 204 rounded up to 32
    assert_eq!(n.data, &(0..20u8).collect::<Vec<_>>()[..]);
    let names: Vec<&str> = f.tensors().map(|t| t.name).collect();
    assert_eq!(names, ["tok.weight", "norm.weight"]);
}

#[test]
fn typed_accessors_name_the_key() {
    let bytes = sample_bytes();
    let f = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(
        f.get_u32("llama.block_count"),
        Err(Error::MissingKey {
            key: "llama.block_count".into()
        })
    );
    assert_eq!(
        f.get_u32("general.architecture"),
        Err(Error::WrongType {
            key: "general.architecture".into(),
            expected: "u32",
            found: "str"
        })
    );
    assert_eq!(
        f.get_str("t.u8"),
        Err(Error::WrongType {
            key: "t.u8".into(),
            expected: "str",
            found: "u8"
        })
    );
    // Integers widen when the value fits, and say so when it does not.
    assert_eq!(f.get_u32("t.u8").unwrap(), 200);
    assert_eq!(f.get_u64("t.u32").unwrap(), 4_000_000_000);
    assert!(matches!(f.get_u32("t.u64"), Err(Error::BadMetadata { key, .. }) if key == "t.u64"));
    assert!(matches!(f.get_u32("t.i8"), Err(Error::BadMetadata { .. })));
    assert_eq!(f.get_u32_opt("absent"), Ok(None));
    assert_eq!(f.get_f32_opt("t.f64"), Ok(Some(-2.25)));
    assert!(matches!(
        f.get_array("t.bool"),
        Err(Error::WrongType { .. })
    ));
    assert_eq!(
        f.require_tensor("output.weight").unwrap_err(),
        Error::MissingTensor {
            tensor: "output.weight".into()
        }
    );
}

#[test]
fn every_truncation_is_an_error_until_the_last_tensor_ends() {
    let bytes = sample_bytes();
    let full = GgufFile::from_bytes(&bytes).unwrap();
    let needed = full
        .tensors()
        .map(|t| t.file_offset() as usize + t.n_bytes())
        .max()
        .unwrap();
    for len in 0..bytes.len() {
        let r = GgufFile::from_bytes(&bytes[..len]);
        if len < needed {
            let e = r.expect_err("truncated file parsed");
            assert!(
                matches!(
                    e,
                    Error::Truncated { .. }
                        | Error::BadTensor { .. }
                        | Error::ImplausibleCount { .. }
                ),
                "len {len}: {e}"
            );
        } else {
            assert!(r.is_ok(), "len {len}");
        }
    }
}

#[test]
fn versions_other_than_2_and_3_are_rejected() {
    let mut bytes = sample_bytes();
    put_u32(&mut bytes, 4, 2);
    assert_eq!(GgufFile::from_bytes(&bytes).unwrap().version(), 2);
    for v in [0, 1, 4, 99] {
        put_u32(&mut bytes, 4, v);
        assert_eq!(
            GgufFile::from_bytes(&bytes).unwrap_err(),
            Error::UnsupportedVersion { version: v }
        );
    }
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    let e = GgufFile::from_bytes(&bytes).unwrap_err();
    assert!(e.to_string().contains("big-endian"), "{e}");
}

#[test]
fn bad_magic_is_rejected() {
    let mut bytes = sample_bytes();
    bytes[0] = b'X';
    assert_eq!(
        GgufFile::from_bytes(&bytes).unwrap_err(),
        Error::BadMagic { found: *b"XGUF" }
    );
}

#[test]
fn absurd_counts_fail_before_allocating() {
    let mut bytes = sample_bytes();
    put_u64(&mut bytes, 8, 1 << 60);
    assert_eq!(
        GgufFile::from_bytes(&bytes).unwrap_err(),
        Error::ImplausibleCount {
            what: "tensors".into(),
            count: 1 << 60,
            offset: 8
        }
    );
    let mut bytes = sample_bytes();
    put_u64(&mut bytes, 16, u64::MAX);
    assert!(matches!(
        GgufFile::from_bytes(&bytes).unwrap_err(),
        Error::ImplausibleCount { offset: 16, .. }
    ));
    // More tensors or entries than the library's limits, in a file that could hold them.
    for (at, max, what) in [
        (8, MAX_TENSORS, "tensors (count at offset 8)"),
        (16, MAX_METADATA, "metadata entries (count at offset 16)"),
    ] {
        let mut bytes = sample_bytes();
        put_u64(&mut bytes, at, max as u64 + 1);
        bytes.resize(24 * (max + 2), 0);
        assert_eq!(
            GgufFile::from_bytes(&bytes).unwrap_err(),
            Error::TooMany {
                what: what.into(),
                count: max as u64 + 1,
                max: max as u64
            }
        );
    }
    // An array claiming 2^60 strings.
    let mut bytes = sample_bytes();
    let count_at = find(&bytes, b"t.strings") + 9 + 4 + 4;
    put_u64(&mut bytes, count_at, 1 << 60);
    assert_eq!(
        GgufFile::from_bytes(&bytes).unwrap_err(),
        Error::ImplausibleCount {
            what: "elements of array 't.strings'".into(),
            count: 1 << 60,
            offset: count_at as u64
        }
    );
    // A string claiming 2^60 bytes.
    let mut bytes = sample_bytes();
    let len_at = find(&bytes, b"llama") - 8;
    put_u64(&mut bytes, len_at, 1 << 60);
    assert!(matches!(
        GgufFile::from_bytes(&bytes).unwrap_err(),
        Error::Truncated { what, needed, .. } if what.contains("general.architecture") && needed == 1 << 60
    ));
}

#[test]
fn invalid_utf8_is_rejected_with_its_place() {
    for (pattern, what) in [
        (&b"t.bool"[..], "metadata key"),
        (&b"hello"[..], "value of 't.strings'"),
        (&b"norm.weight"[..], "name of tensor #1"),
    ] {
        let mut bytes = sample_bytes();
        let at = find(&bytes, pattern);
        bytes[at + 1] = 0xff;
        match GgufFile::from_bytes(&bytes).unwrap_err() {
            Error::InvalidUtf8 { what: w, .. } => assert!(w.contains(what), "{w}"),
            e => panic!("{e}"),
        }
    }
}

#[test]
fn unknown_types_are_rejected() {
    let mut bytes = sample_bytes();
    let type_at = find(&bytes, b"t.u16") + 5;
    put_u32(&mut bytes, type_at, 13);
    assert_eq!(
        GgufFile::from_bytes(&bytes).unwrap_err(),
        Error::UnknownValueType {
            key: "t.u16".into(),
            type_id: 13,
            offset: type_at as u64
        }
    );
    for id in [4, 31, 43, 1 << 31] {
        let mut bytes = sample_bytes();
        let (_, _, ty, _) = tensor_fields(&bytes, "norm.weight", 1);
        put_u32(&mut bytes, ty, id);
        assert_eq!(
            GgufFile::from_bytes(&bytes).unwrap_err(),
            Error::UnknownTensorType {
                tensor: "norm.weight".into(),
                type_id: id
            }
        );
    }
}

fn bad_tensor(bytes: &[u8]) -> (String, String) {
    match GgufFile::from_bytes(bytes).unwrap_err() {
        Error::BadTensor { tensor, reason } => (tensor, reason),
        e => panic!("expected BadTensor, got {e}"),
    }
}

#[test]
fn tensor_offsets_are_checked() {
    // Misaligned.
    let mut bytes = sample_bytes();
    let (_, _, _, off) = tensor_fields(&bytes, "norm.weight", 1);
    put_u64(&mut bytes, off, 230);
    let (t, r) = bad_tensor(&bytes);
    assert_eq!(t, "norm.weight");
    assert!(r.contains("not a multiple of the alignment 32"), "{r}");
    // Past the end.
    put_u64(&mut bytes, off, 1 << 20);
    let (t, r) = bad_tensor(&bytes);
    assert_eq!(t, "norm.weight");
    assert!(r.contains("runs past the end"), "{r}");
    // An offset so large that offset + size overflows.
    put_u64(&mut bytes, off, u64::MAX - 31);
    assert!(bad_tensor(&bytes).1.contains("runs past the end"));
    // Overlapping the first tensor.
    put_u64(&mut bytes, off, 192);
    let (t, r) = bad_tensor(&bytes);
    assert_eq!(t, "norm.weight");
    assert!(r.contains("overlaps tensor tok.weight"), "{r}");
}

#[test]
fn tensor_shapes_are_checked() {
    // More than four dimensions.
    let mut bytes = sample_bytes();
    let (nd, dims, _, _) = tensor_fields(&bytes, "tok.weight", 2);
    put_u32(&mut bytes, nd, 5);
    assert!(bad_tensor(&bytes).1.contains("5 dimensions"));
    // Rows that are not whole blocks.
    let mut bytes = sample_bytes();
    put_u64(&mut bytes, dims, 63);
    assert!(bad_tensor(&bytes)
        .1
        .contains("not a whole number of Q8_0 blocks"));
    // Element counts that overflow.
    let mut bytes = sample_bytes();
    put_u64(&mut bytes, dims, 1 << 32);
    put_u64(&mut bytes, dims + 8, 1 << 32);
    assert!(bad_tensor(&bytes).1.contains("overflows"));
    // A dimension that is negative as ggml's int64.
    let mut bytes = sample_bytes();
    put_u64(&mut bytes, dims + 8, u64::MAX);
    assert!(bad_tensor(&bytes).1.contains("negative"));
}

#[test]
fn duplicates_are_rejected() {
    let w = sample().meta("t.u8", MetaValue::U8(1));
    assert_eq!(
        GgufFile::from_bytes(&w.to_bytes().unwrap()).unwrap_err(),
        Error::DuplicateKey { key: "t.u8".into() }
    );
    let w = sample().tensor("norm.weight", GgmlType::F32, &[8], vec![0; 32]);
    assert_eq!(
        GgufFile::from_bytes(&w.to_bytes().unwrap()).unwrap_err(),
        Error::DuplicateTensor {
            tensor: "norm.weight".into()
        }
    );
}

#[test]
fn alignment_is_read_and_checked() {
    let w = Writer::new()
        .meta("general.alignment", MetaValue::U32(64))
        .tensor("a", GgmlType::F32, &[3], vec![0; 12])
        .tensor("b", GgmlType::F32, &[3], vec![1; 12]);
    let bytes = w.to_bytes().unwrap();
    let f = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.data_offset() % 64, 0);
    assert_eq!(f.tensor("b").unwrap().offset, 64);
    let mut bad = bytes.clone();
    let at = find(&bad, b"general.alignment") + 17 + 4;
    put_u32(&mut bad, at, 48);
    assert!(matches!(
        GgufFile::from_bytes(&bad).unwrap_err(),
        Error::BadMetadata { key, reason } if key == "general.alignment" && reason.contains("48")
    ));
    put_u32(&mut bad, at, 0);
    assert!(GgufFile::from_bytes(&bad).is_err());
    let w = Writer::new().meta("general.alignment", MetaValue::U64(32));
    assert_eq!(
        GgufFile::from_bytes(&w.to_bytes().unwrap()).unwrap_err(),
        Error::WrongType {
            key: "general.alignment".into(),
            expected: "u32",
            found: "u64"
        }
    );
}

#[test]
fn hostile_values_are_rejected() {
    // A boolean byte other than 0 or 1.
    let mut bytes = sample_bytes();
    let at = find(&bytes, b"t.bool") + 6 + 4;
    bytes[at] = 2;
    assert!(matches!(
        GgufFile::from_bytes(&bytes).unwrap_err(),
        Error::BadMetadata { key, .. } if key == "t.bool"
    ));
    // ... and inside an array of booleans (a fuzzer's finding: the array parsed, then its
    // iteration stopped early at the byte it could not decode).
    let w = Writer::new().meta(
        "flags",
        MetaValue::Array(
            ValueType::Bool,
            vec![
                MetaValue::Bool(true),
                MetaValue::Bool(false),
                MetaValue::Bool(true),
            ],
        ),
    );
    let mut bytes = w.to_bytes().unwrap();
    let at = find(&bytes, b"flags") + 5 + 4 + 4 + 8 + 1;
    assert_eq!(bytes[at], 0);
    bytes[at] = 0x8f;
    assert!(matches!(
        GgufFile::from_bytes(&bytes).unwrap_err(),
        Error::BadMetadata { key, reason } if key == "flags" && reason.contains("element 1")
    ));
    // Arrays nested deeper than the limit.
    let mut v = MetaValue::Array(ValueType::U8, vec![]);
    for _ in 0..MAX_ARRAY_NESTING {
        v = MetaValue::Array(ValueType::Array, vec![v]);
    }
    let w = Writer::new().meta("deep", v);
    assert!(matches!(
        GgufFile::from_bytes(&w.to_bytes().unwrap()).unwrap_err(),
        Error::BadMetadata { key, reason } if key == "deep" && reason.contains("nested")
    ));
    // An empty key.
    let w = Writer::new().meta("", MetaValue::U8(0));
    assert!(matches!(
        GgufFile::from_bytes(&w.to_bytes().unwrap()).unwrap_err(),
        Error::BadMetadata { .. }
    ));
}

#[test]
fn a_file_without_tensors_may_end_after_its_metadata() {
    let bytes = Writer::new()
        .meta("tokenizer.ggml.model", MetaValue::String("llama".into()))
        .to_bytes()
        .unwrap();
    assert_ne!(bytes.len() % 32, 0, "the test needs an unpadded end");
    let f = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.tensor_count(), 0);
    assert_eq!(f.get_str("tokenizer.ggml.model").unwrap(), "llama");
}

#[test]
fn owned_bytes_work_like_borrowed_ones() {
    let f = GgufFile::from_vec(sample_bytes()).unwrap();
    assert_eq!(f.tensor("norm.weight").unwrap().data.len(), 20);
    assert_eq!(f.metadata().count(), 15);
    let keys: Vec<&str> = f.metadata().map(|(k, _)| k).take(2).collect();
    assert_eq!(keys, ["general.architecture", "t.u8"]);
}

#[test]
fn a_header_parses_from_a_prefix_of_the_file() {
    let bytes = sample_bytes();
    let full = GgufFile::from_bytes(&bytes).unwrap();
    let data_offset = full.data_offset() as usize;
    // Every prefix that holds the header gives the same locations as the whole file.
    for cut in [data_offset, data_offset + 100, bytes.len()] {
        match GgufHeader::from_prefix(&bytes[..cut], bytes.len() as u64) {
            Ok(h) => {
                assert_eq!(h.file_len(), bytes.len() as u64);
                let a: Vec<_> = h.tensor_locations().collect();
                let b: Vec<_> = full
                    .tensors()
                    .map(|t| (t.name, t.file_offset(), t.n_bytes()))
                    .collect();
                let a: Vec<_> = a
                    .iter()
                    .map(|l| (l.name, l.file_offset, l.n_bytes))
                    .collect();
                assert_eq!(a, b, "cut {cut}");
                assert_eq!(h.get_u32("t.u32").unwrap(), 4_000_000_000);
            }
            Err(e) => panic!("cut {cut}: {e}"),
        }
    }
    // A prefix that ends inside the metadata says how much more it needs.
    let cut = find(&bytes, b"t.f64");
    match GgufHeader::from_prefix(&bytes[..cut], bytes.len() as u64).unwrap_err() {
        Error::Truncated { offset, needed, .. } => assert!(offset + needed > cut as u64),
        e => panic!("{e}"),
    }
    // Tensors are still checked against the whole length.
    let short = GgufHeader::from_prefix(&bytes[..data_offset], data_offset as u64 + 10);
    assert!(matches!(short, Err(Error::BadTensor { .. })));
}

#[test]
fn streamed_header_and_tensor_bytes_equal_the_whole_file() {
    // tensor_info + header_bytes, then each tensor's bytes padded to the alignment, is the file
    // to_bytes writes (what examples/make_shape_model.rs streams to disk).
    let a: Vec<u8> = (0..4 * 5).map(|i| i as u8).collect();
    let b: Vec<u8> = (0..2 * 3).map(|i| (i * 7) as u8).collect();
    let whole = Writer::new()
        .meta("general.architecture", MetaValue::String("llama".into()))
        .tensor("a", GgmlType::F32, &[5], a.clone())
        .tensor("b", GgmlType::F16, &[3], b.clone())
        .to_bytes()
        .unwrap();
    let streamed = Writer::new()
        .meta("general.architecture", MetaValue::String("llama".into()))
        .tensor_info("a", GgmlType::F32, &[5])
        .tensor_info("b", GgmlType::F16, &[3]);
    let mut out = streamed.header_bytes().unwrap();
    for data in [&a, &b] {
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(streamed.alignment()), 0);
    }
    assert_eq!(out, whole);
    let file = GgufFile::from_bytes(&out).unwrap();
    assert_eq!(file.tensor("b").unwrap().data, &b[..]);
    // A writer holding a tensor without its bytes cannot lay out the whole file.
    assert!(matches!(
        streamed.to_bytes(),
        Err(Error::BadTensor { ref tensor, .. }) if tensor == "a"
    ));
    // A shape whose size overflows is an error, not a panic.
    assert!(Writer::new()
        .tensor_info("huge", GgmlType::F32, &[u64::MAX, 3])
        .header_bytes()
        .is_err());
}
