"""A model's own Jinja chat template (llamette_chat_render_template_json): the text equals
Python's jinja2 rendering as Hugging Face's apply_chat_template does it (the expected strings
of tests/fixtures/templates/expected.json, made by scripts/render_templates.py)."""

import pytest

import json

from conftest import fixture_path
from llamette import ChatFormat, Llama, LlametteError, Status

EXPECTED = json.loads(fixture_path("templates/expected.json").read_text(encoding="utf-8"))


def vocab(name):
    return Llama(model_path=str(fixture_path(f"vocab/{name}.gguf")), vocab_only=True)


@pytest.mark.parametrize("name,builtin", [("ggml-vocab-phi-3", ChatFormat.NONE),
                                          ("ggml-vocab-qwen2", ChatFormat.CHATML)])
def test_the_files_template_renders_as_jinja2(name, builtin):
    # Phi-3's template is none of the built-in formats: it renders with Jinja by itself.
    # Qwen2's is recognised as ChatML; chat_format="jinja" asks for the file's own.
    with Llama(model_path=str(fixture_path(f"vocab/{name}.gguf")), vocab_only=True,
               chat_format="jinja" if builtin != ChatFormat.NONE else None) as llm:
        if builtin == ChatFormat.NONE:
            assert llm.chat_format == ChatFormat.NONE
        results = EXPECTED["templates"][name]["results"]
        for i, conv in enumerate(EXPECTED["conversations"]):
            text = llm.apply_chat_template(conv["messages"],
                                           add_generation_prompt=conv["add_generation_prompt"],
                                           tools=conv["tools"])
            assert text == results[i]["output"], (name, i)
        conv = EXPECTED["conversations"][2]
        ids = llm.apply_chat_template(conv["messages"], tokenize=True)
        assert ids == llm.tokenize(results[2]["output"], add_bos=False, special=True)
        assert llm.chat_stop_tokens() == []


def test_a_built_in_format_can_still_render_with_the_files_template():
    with vocab("codellama-70b-instruct-vocab") as llm:
        assert llm.chat_format == ChatFormat.CODELLAMA_70B
        conv = EXPECTED["conversations"][2]
        want = EXPECTED["templates"]["codellama-70b-instruct-vocab"]["results"][2]["output"]
        assert llm.apply_chat_template(conv["messages"], chat_format="jinja") == want
        with pytest.raises(ValueError, match="tools and documents need a Jinja chat template"):
            llm.apply_chat_template(conv["messages"], tools=[{"type": "function"}])


def test_a_template_given_as_text_and_its_errors():
    with vocab("ggml-vocab-phi-3") as llm:
        t = "{{ bos_token }}{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}"
        assert llm.apply_chat_template([{"role": "user", "content": "hé"}],
                                       chat_template=t) == "<s>user=hé;"
        docs = [{"title": "Paris", "text": "The capital of France."}]
        rag = "{% for d in documents %}[{{ d.title }}: {{ d.text }}]{% endfor %}{{ documents is none }}"
        assert llm.apply_chat_template([{"role": "user", "content": "x"}], chat_template=rag,
                                       documents=docs) == "[Paris: The capital of France.]False"
        assert llm.apply_chat_template([{"role": "user", "content": "x"}],
                                       chat_template="{{ documents is none }}") == "True"
        with pytest.raises(LlametteError) as e:
            llm.apply_chat_template([{"role": "user", "content": "x"}],
                                    chat_template="{{ raise_exception('no users here') }}")
        assert e.value.status == Status.ERR_BAD_CHAT
        assert "no users here" in e.value.message


def test_a_chat_completion_renders_the_files_template_with_tools(smollm2_path):
    conv = EXPECTED["conversations"][8]
    with Llama(model_path=smollm2_path, n_ctx=1024, chat_format="jinja") as llm:
        for tools in (None, conv["tools"]):
            ids = llm.apply_chat_template(conv["messages"], tokenize=True, tools=tools)
            assert ids == llm.tokenize(
                llm.apply_chat_template(conv["messages"], tools=tools), add_bos=False,
                special=True)
            out = llm.create_chat_completion(conv["messages"], tools=tools, max_tokens=2,
                                             temperature=0)
            assert out["usage"]["prompt_tokens"] == len(ids)
        # SmolLM2's own template adds its default system message where there is none.
        text = llm.apply_chat_template([{"role": "user", "content": "Hi"}])
        assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
