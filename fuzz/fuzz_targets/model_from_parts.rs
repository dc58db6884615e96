//! A model cut into 1-4 parts at offsets derived from the input: `Model::from_parts`.
//! Input: [n_cuts][4 bytes per cut][file bytes...].
#![no_main]
use libfuzzer_sys::fuzz_target;
use llamette::model::Model;
use llamette_fuzz::{run_small_model, Input};

fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let n_cuts = 1 + inp.u8() as usize % 3;
    let raw: Vec<u32> = (0..n_cuts).map(|_| inp.u32()).collect();
    let file = inp.rest();
    let mut cuts: Vec<usize> = raw.iter().map(|&c| c as usize % (file.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parts = Vec::with_capacity(n_cuts + 1);
    let mut last = 0;
    for c in cuts {
        parts.push(&file[last..c]);
        last = c;
    }
    parts.push(&file[last..]);
    if let Ok(model) = Model::from_parts(&parts) {
        run_small_model(&model, file.len(), &mut Input::new(&raw[0].to_le_bytes()));
    }
    // No parts at all.
    let _ = Model::from_parts(&[]);
});
