//! Chat formats: a format by name or detected from a template string, messages (role,
//! content) from the input; `check`, `render`, `render_ids` with a fixed vocabulary and
//! `stop_tokens`.
//! Input: [selector][format name or template, 0-terminated][role 0 content 0 ...].
#![no_main]
use libfuzzer_sys::fuzz_target;
use llamette::chat::{ChatFormat, Message};
use llamette_fuzz::vocabs;

const ROLES: &[&str] = &[
    "system",
    "user",
    "assistant",
    "tool",
    "",
    "user\n",
    "<user>",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut fields = rest.split(|&b| b == 0).map(String::from_utf8_lossy);
    let head = fields.next().unwrap_or_default();
    let format = if sel & 1 == 0 {
        ChatFormat::from_name(&head)
            .unwrap_or(ChatFormat::ALL[(sel >> 1) as usize % ChatFormat::ALL.len()])
    } else {
        match ChatFormat::from_template(&head) {
            Some(f) => f,
            None => return,
        }
    };
    assert_eq!(ChatFormat::from_name(format.name()), Some(format));
    let owned: Vec<_> = fields.take(64).collect();
    let mut messages = Vec::with_capacity(owned.len() / 2 + 1);
    for (i, pair) in owned.chunks(2).enumerate() {
        // Roles: by index from the role field's first byte when it is short, else verbatim.
        let role: &str = match pair[0].as_bytes() {
            [b] if (*b as usize) < ROLES.len() => ROLES[*b as usize],
            [] if sel & 2 != 0 => ROLES[(i + 1) % 3],
            _ => &pair[0],
        };
        let content = pair.get(1).map(|c| &**c).unwrap_or("");
        messages.push(Message::new(role, content));
    }
    let checked = format.check(&messages);
    let add_assistant = sel & 4 != 0;
    let rendered = format.render(&messages, add_assistant);
    assert_eq!(
        checked.is_ok(),
        rendered.is_ok(),
        "render fails iff check fails"
    );
    // Vocabularies: CodeLlama (SPM, <step>), Llama 3, Qwen2 (ChatML).
    let vocab = &vocabs()[[0usize, 2, 3][(sel >> 3) as usize % 3]];
    if let Ok(ids) = format.render_ids(vocab, &messages, add_assistant) {
        let n = vocab.n_tokens();
        assert!(
            ids.iter().all(|&id| (id as usize) < n),
            "render_ids gave an id outside the vocabulary"
        );
        let _ = vocab
            .detokenize(&ids, false, true)
            .expect("detokenize rendered ids");
    }
    let _ = format.stop_tokens(vocab);
});
