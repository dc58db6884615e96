//! Arbitrary bytes as a GGUF file: `GgufFile::from_bytes` (walking every metadata value and
//! tensor) and `GgufHeader::from_prefix` (the bytes as the prefix of a longer file).
#![no_main]
use libfuzzer_sys::fuzz_target;
use llamette::gguf::{GgufFile, GgufHeader};
use llamette_fuzz::{walk_header, Input};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = GgufFile::from_bytes(data) {
        walk_header(f.header());
        let mut n = 0;
        for t in f.tensors() {
            n += 1;
            let _ = (t.dims(), t.n_elements(), t.ggml_type);
            assert_eq!(t.n_bytes(), t.data.len());
            let end = t
                .file_offset()
                .checked_add(t.n_bytes() as u64)
                .expect("tensor end overflows");
            assert!(
                end <= data.len() as u64,
                "tensor {:?} ends past the file",
                t.name
            );
            assert!(
                f.tensor(t.name).is_some(),
                "tensor {:?} listed but not found",
                t.name
            );
        }
        assert_eq!(n, f.header().tensor_count());
        let _ = f.require_tensor("token_embd.weight");
    }
    // The same bytes as the prefix of a longer file (as a host reading the head of a file).
    let mut inp = Input::new(data);
    let extra = match inp.u8() % 4 {
        0 => 0,
        1 => inp.u8() as u64,
        2 => inp.u32() as u64,
        _ => inp.u64(),
    };
    let total = (data.len() as u64).saturating_add(extra);
    if let Ok(h) = GgufHeader::from_prefix(data, total) {
        walk_header(&h);
        assert_eq!(h.file_len(), total);
        for loc in h.tensor_locations() {
            let end = loc
                .file_offset
                .checked_add(loc.n_bytes as u64)
                .expect("tensor end overflows");
            assert!(
                end <= total,
                "tensor {:?} ends past the declared length",
                loc.name
            );
        }
    }
    let _ = GgufHeader::from_prefix_vec(data.to_vec(), data.len() as u64);
});
