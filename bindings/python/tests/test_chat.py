"""Chat formats through the binding: the CodeLlama-70B-Instruct dialog of the model card
(tests/fixtures/chat/codellama-70b-instruct.json) renders to the Hugging Face template's string
and to Meta's reference ids with the real vocabulary (tests/fixtures/vocab/
codellama-70b-instruct-vocab.gguf), as tests/chat.rs and tests/c/test_chat.c check."""

import json

import pytest

from conftest import fixture_path
from llamette import ChatFormat, Llama, LlametteError, Status

# tests/c/test_chat.c: the dialog in Meta's scheme with the tiny model's 1024-token vocabulary.
TINY_EXPECTED_TOKENS = [
    1, 317, 473, 346, 61, 269, 973, 13, 13, 317, 973, 282, 456, 415, 1023, 317, 473, 346,
    61, 502, 261, 13, 13, 383, 765, 502, 261, 439, 708, 1023, 317, 473, 346, 61, 408, 118,
    391, 424, 13, 13, 341, 397, 295, 620, 115, 265, 344, 304, 937, 439, 708, 1023, 317, 473,
    346, 61, 502, 261, 13, 13, 922, 535, 103, 502, 261, 439, 708, 1023, 317, 473, 346, 61,
    408, 118, 391, 424, 13, 71, 342, 262, 362, 61, 502, 261, 13, 13, 229, 153, 132]
TINY_HAIKU_TOKENS = [
    1, 317, 473, 346, 61, 269, 973, 13, 13, 229, 153, 132, 1023, 317, 473, 346, 61, 502,
    261, 13, 13, 399, 117, 568, 263, 447, 638, 120, 633, 449, 390, 504, 49, 1023, 317, 473,
    346, 61, 408, 118, 391, 424, 13, 71, 342, 262, 362, 61, 502, 261, 13, 13, 229, 153,
    132]


@pytest.fixture(scope="module")
def dialog():
    return json.loads(fixture_path("chat/codellama-70b-instruct.json").read_text("utf-8"))


def test_codellama_70b_dialog_gives_metas_ids(vocab70b_path, dialog):
    with Llama(model_path=vocab70b_path, vocab_only=True) as llm:
        assert llm.chat_format == ChatFormat.CODELLAMA_70B  # from tokenizer.chat_template
        assert llm.info["eot"] == 32015
        msgs = dialog["messages"]
        assert llm.apply_chat_template(msgs, tokenize=True) == dialog["expected_tokens"]
        prompt = llm.apply_chat_template(msgs)
        assert prompt == dialog["expected_prompt"]
        # Tokenizing the string gives llama.cpp's ids instead (a lone '▁' around <step>): the
        # reason chats are rendered to ids directly.
        via_string = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        assert via_string == dialog["llama_cpp_tokens_of_expected_prompt"]
        assert via_string != dialog["expected_tokens"]
        assert llm.chat_stop_tokens() == [2, 32015]
        # A vocabulary-only Llama has no context.
        with pytest.raises(ValueError, match="vocab_only"):
            llm.create_chat_completion(messages=msgs)


def test_codellama_70b_format_on_the_tiny_model(tiny_path, dialog):
    with Llama(model_path=tiny_path, n_ctx=256) as llm:
        assert llm.chat_format == ChatFormat.NONE  # no tokenizer.chat_template
        msgs = dialog["messages"]
        with pytest.raises(LlametteError) as e:
            llm.apply_chat_template(msgs, tokenize=True)
        assert e.value.status == Status.ERR_INVALID_ARGUMENT
        assert e.value.message  # llamette_last_error()'s text
        ids = llm.apply_chat_template(msgs, tokenize=True, chat_format="codellama-70b")
        assert ids == TINY_EXPECTED_TOKENS
        haiku = [{"role": "user", "content": "Write a haiku about Rust."}]
        assert llm.apply_chat_template(haiku, tokenize=True,
                                       chat_format=ChatFormat.CODELLAMA_70B) == TINY_HAIKU_TOKENS
        assert llm.apply_chat_template(haiku, chat_format="codellama-70b") == (
            "<s>Source: user\n\n Write a haiku about Rust. <step> Source: assistant\n"
            "Destination: user\n\n ")

    # A Llama with that format answers chats with it (greedy, stops at </s> or <step>).
    with Llama(model_path=tiny_path, n_ctx=256, chat_format="codellama-70b") as llm:
        out = llm.create_chat_completion(messages=haiku, temperature=0, max_tokens=8)
        assert out["usage"]["prompt_tokens"] == len(TINY_HAIKU_TOKENS)
        assert out["usage"]["completion_tokens"] <= 8
        again = llm.create_chat_completion(messages=haiku, temperature=0, max_tokens=8)
        assert again["choices"] == out["choices"]


def test_bad_conversations_are_reported(vocab70b_path):
    with Llama(model_path=vocab70b_path, vocab_only=True) as llm:
        with pytest.raises(LlametteError) as e:
            llm.apply_chat_template([{"role": "user", "content": "a"},
                                     {"role": "user", "content": "b"}])
        assert e.value.status == Status.ERR_BAD_CHAT
        assert "1" in e.value.message  # names the message
        with pytest.raises(LlametteError) as e:
            llm.apply_chat_template([])
        assert e.value.status == Status.ERR_BAD_CHAT
        with pytest.raises(ValueError, match="unknown chat format"):
            llm.apply_chat_template([{"role": "user", "content": "a"}], chat_format="nope")


def test_content_parts_and_none(smollm2):
    parts = [{"role": "user", "content": [{"type": "text", "text": "What is the capital "},
                                          {"type": "text", "text": "of France?"}]}]
    plain = [{"role": "user", "content": "What is the capital of France?"}]
    assert smollm2.apply_chat_template(parts) == smollm2.apply_chat_template(plain)
    assert "<|im_start|>assistant\n<|im_end|>" in smollm2.apply_chat_template(
        plain + [{"role": "assistant", "content": None}], add_generation_prompt=False)
