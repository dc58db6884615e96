//! Token ids (some out of range on purpose) through fixed vocabularies: the streaming
//! `Detokenizer` and `Vocab::detokenize`. Out-of-range ids are errors (and leave the stream
//! unchanged); the streamed text equals the lossy whole-sequence text of the valid ids.
//! Input: [vocab and flags][3 bytes per id...].
#![no_main]
use libfuzzer_sys::fuzz_target;
use llamette_fuzz::vocabs;

fuzz_target!(|data: &[u8]| {
    let Some((&b, rest)) = data.split_first() else {
        return;
    };
    let vocab = &vocabs()[b as usize % 4];
    let (rs, us) = (b & 4 != 0, b & 8 != 0);
    let n = vocab.n_tokens() as u32;
    let ids: Vec<u32> = rest
        .chunks(3)
        .map(|c| {
            let v = c.iter().rev().fold(0u32, |a, &x| a << 8 | x as u32);
            match v >> 20 {
                0xF => n.wrapping_add(v & 7),
                0xE if v & 1 == 1 => u32::MAX - (v & 0xFF),
                _ => v % n,
            }
        })
        .collect();
    let mut d = vocab.detokenizer(rs, us);
    let mut streamed = String::new();
    let mut valid = Vec::with_capacity(ids.len());
    for &id in &ids {
        let ok = id < n;
        assert_eq!(
            vocab.token_to_piece(id, us).is_ok(),
            ok,
            "token_to_piece({id}) of {n}"
        );
        match d.push(id) {
            Ok(s) => {
                assert!(ok, "push({id}) of {n} tokens succeeded");
                streamed.push_str(s);
                valid.push(id);
            }
            Err(_) => assert!(!ok, "push({id}) of {n} tokens failed"),
        }
        if b & 16 != 0 && id % 61 == 0 {
            // A mid-stream finish starts a new sequence; compare only the tail afterwards.
            streamed.clear();
            streamed.push_str(d.finish());
            streamed.clear();
            valid.clear();
        }
    }
    streamed.push_str(d.finish());
    let whole = vocab.detokenize(&ids, rs, us);
    assert_eq!(
        whole.is_ok(),
        ids.iter().all(|&i| i < n),
        "detokenize fails iff an id is out of range"
    );
    let whole_valid = vocab
        .detokenize(&valid, rs, us)
        .expect("detokenize of valid ids");
    assert_eq!(
        streamed,
        String::from_utf8_lossy(&whole_valid),
        "streamed != whole (rs {rs}, us {us})"
    );
});
