mod common;
use common::{fixture, parse_json};
use llamette::{Context, ContextParams, Model, Serial};
#[test]
fn dump() {
    let name = std::env::var("DIAG_MODEL").unwrap_or("tiny-codellama.q4_0.gguf".into());
    let case: usize = std::env::var("DIAG_CASE").map(|s| s.parse().unwrap()).unwrap_or(0);
    let bytes = fixture(&format!("models/{name}"));
    let model = Model::from_bytes(&bytes).unwrap();
    let g = parse_json(std::str::from_utf8(&fixture(&format!("golden/{}", name.replace(".gguf", ".json")))).unwrap()).unwrap();
    let prompt = g["cases"][case]["prompt"].u32_vec();
    let mut ctx = Context::new(&model, ContextParams { n_ctx: 256, n_batch: 64, logits_all: true, ..Default::default() }).unwrap();
    let dir = std::path::PathBuf::from("/tmp/exp/ours");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut i = 0;
    let mut f = |n: &str, l: Option<usize>, v: &[f32]| {
        let name = match l { Some(l) => format!("{n}-{l}"), None => n.to_string() };
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(dir.join(format!("{i:03}_{name}.f32")), bytes).unwrap();
        i += 1;
    };
    ctx.eval_traced(&prompt, &Serial, Some(&mut f)).unwrap();
}
