//! Chat formats against their references: CodeLlama-70B-Instruct's model-card dialog (the
//! Hugging Face template's string and Meta's reference token ids), and SmolLM2's ChatML prompts
//! as llama.cpp tokenized them for the goldens.

mod common;

use common::{fixture, parse_json};
use llamette::chat::{ChatFormat, Message};
use llamette::gguf::GgufFile;
use llamette::tokenizer::Vocab;
use llamette::Error;

fn codellama_vocab() -> Vocab {
    let bytes = fixture("vocab/codellama-70b-instruct-vocab.gguf");
    Vocab::from_gguf(&GgufFile::from_bytes(&bytes).unwrap()).unwrap()
}

#[test]
fn codellama_70b_renders_the_model_card_dialog_exactly() {
    let chat =
        parse_json(std::str::from_utf8(&fixture("chat/codellama-70b-instruct.json")).unwrap())
            .unwrap();
    let messages: Vec<Message> = chat["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    let bytes = fixture("vocab/codellama-70b-instruct-vocab.gguf");
    let file = GgufFile::from_bytes(&bytes).unwrap();
    let format = ChatFormat::from_header(&file).unwrap();
    assert_eq!(format, ChatFormat::CodeLlama70b);
    let vocab = Vocab::from_gguf(&file).unwrap();

    let prompt = format.render(&messages, true).unwrap();
    assert_eq!(prompt, chat["expected_prompt"].as_str().unwrap());
    let ids = format.render_ids(&vocab, &messages, true).unwrap();
    assert_eq!(
        ids,
        chat["expected_tokens"].u32_vec(),
        "Meta's reference ids"
    );
    // Tokenizing the string instead gives llama.cpp's ids, which keep a lone '▁' around every
    // <step>: the reason chats render to ids directly.
    let via_string = vocab.tokenize(&prompt, false, true).unwrap();
    assert_eq!(
        via_string,
        chat["llama_cpp_tokens_of_expected_prompt"].u32_vec()
    );
    assert_ne!(via_string, ids);
    // Generation stops at </s> or <step>.
    assert_eq!(format.stop_tokens(&vocab), [2, 32015]);
}

#[test]
fn codellama_70b_ids_start_with_an_empty_system_turn_when_there_is_none() {
    let vocab = codellama_vocab();
    let messages = [Message::new("user", "Write a haiku about Rust.")];
    let ids = ChatFormat::CodeLlama70b
        .render_ids(&vocab, &messages, true)
        .unwrap();
    let mut want = vec![1];
    want.extend(vocab.tokenize("Source: system\n\n ", false, false).unwrap());
    want.push(32015);
    want.extend(
        vocab
            .tokenize("Source: user\n\n Write a haiku about Rust.", false, false)
            .unwrap(),
    );
    want.push(32015);
    want.extend(
        vocab
            .tokenize("Source: assistant\nDestination: user\n\n ", false, false)
            .unwrap(),
    );
    assert_eq!(ids, want);
    // The string follows the Hugging Face template, which adds no system turn.
    assert_eq!(
        ChatFormat::CodeLlama70b.render(&messages, true).unwrap(),
        "<s>Source: user\n\n Write a haiku about Rust. <step> Source: assistant\nDestination: user\n\n "
    );
}

#[test]
fn conversations_that_break_the_rules_name_the_message() {
    let vocab = codellama_vocab();
    let two_users = [Message::new("user", "a"), Message::new("user", "b")];
    for format in [ChatFormat::CodeLlama70b, ChatFormat::Llama2] {
        assert_eq!(
            format.render(&two_users, true).unwrap_err(),
            Error::BadChat {
                message: 1,
                reason: "role 'user' where 'assistant' is expected: after an optional system message, roles must alternate user/assistant".into()
            }
        );
        let starts_with_assistant = [Message::new("system", "s"), Message::new("assistant", "x")];
        assert!(matches!(
            format.render(&starts_with_assistant, true),
            Err(Error::BadChat { message: 1, .. })
        ));
        assert!(matches!(
            format.render(&[], true),
            Err(Error::BadChat { message: 0, .. })
        ));
    }
    assert!(matches!(
        ChatFormat::CodeLlama70b.render_ids(&vocab, &two_users, true),
        Err(Error::BadChat { message: 1, .. })
    ));
    assert!(matches!(
        ChatFormat::ChatMl.render(&[Message::new("us<er", "x")], true),
        Err(Error::BadChat { message: 0, .. })
    ));
}

#[test]
fn chatml_ids_equal_llama_cpp_tokenization_for_smollm2() {
    let path = common::smollm2_path();
    let file = GgufFile::open(&path).unwrap();
    let format = ChatFormat::from_header(&file).unwrap();
    assert_eq!(format, ChatFormat::ChatMl);
    let vocab = Vocab::from_gguf(&file).unwrap();
    let golden = parse_json(
        std::str::from_utf8(&fixture("golden/smollm2-135m-instruct.q4_1.json")).unwrap(),
    )
    .unwrap();
    // The conversations behind golden cases 0 and 1 (llama.cpp rendered them with its ChatML
    // template, which adds no default system message).
    let case0 = [
        Message::new(
            "system",
            "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
        ),
        Message::new(
            "user",
            "Write a Python function that checks whether a number is prime.",
        ),
    ];
    let case1 = [Message::new("user", "What is the capital of France?")];
    for (i, messages) in [&case0[..], &case1[..]].into_iter().enumerate() {
        let ids = format.render_ids(&vocab, messages, true).unwrap();
        assert_eq!(ids, golden["cases"][i]["prompt"].u32_vec(), "case {i}");
    }
    assert_eq!(
        format.render(&case1, true).unwrap(),
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    );
    let stops = format.stop_tokens(&vocab);
    assert!(stops.contains(&vocab.token_id("<|im_end|>").unwrap()));
}

#[test]
fn llama2_and_llama3_strings_follow_their_templates() {
    let messages = [
        Message::new("system", "Be brief."),
        Message::new("user", "Hi"),
        Message::new("assistant", "Hello."),
        Message::new("user", "Again"),
    ];
    assert_eq!(
        ChatFormat::Llama2.render(&messages, true).unwrap(),
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Again [/INST]"
    );
    assert_eq!(
        ChatFormat::Llama3.render(&messages, true).unwrap(),
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nAgain<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    // Llama 2 ids: the string with its <s>/</s> parsed as special tokens, no extra BOS.
    let vocab = codellama_vocab();
    let ids = ChatFormat::Llama2
        .render_ids(&vocab, &messages, true)
        .unwrap();
    assert_eq!(ids[0], 1);
    assert_eq!(ids.iter().filter(|&&t| t == 1).count(), 2);
    assert_eq!(ids.iter().filter(|&&t| t == 2).count(), 1);
}

#[test]
fn formats_are_recognised_by_name_and_template() {
    for f in ChatFormat::ALL {
        assert_eq!(ChatFormat::from_name(f.name()), Some(f));
    }
    assert_eq!(ChatFormat::from_name("vicuna"), None);
    assert_eq!(
        ChatFormat::from_template(
            "{{ bos_token }}{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}"
        ),
        Some(ChatFormat::Llama2)
    );
    assert_eq!(
        ChatFormat::from_template("<|start_header_id|>' + message['role'] + '<|end_header_id|>"),
        Some(ChatFormat::Llama3)
    );
    assert_eq!(ChatFormat::from_template("{{ messages }}"), None);
}
