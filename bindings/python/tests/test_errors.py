"""Failures raise LlametteError with the status code and llamette_last_error()'s message."""

import os
import subprocess
import sys

import pytest

from conftest import golden
from llamette import Llama, LlametteError, Status


def test_missing_file(tmp_path):
    path = tmp_path / "no-such-model.gguf"
    with pytest.raises(LlametteError) as e:
        Llama(model_path=str(path))
    assert e.value.status == Status.ERR_IO
    assert str(path) in e.value.message
    assert "LLAMETTE_ERR_IO" in str(e.value) and "status 5" in str(e.value)


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_bytes(b"this is not a GGUF file, just some text\n" * 10)
    with pytest.raises(LlametteError) as e:
        Llama(model_path=path)  # os.PathLike works too
    assert e.value.status == Status.ERR_BAD_FILE
    assert e.value.message


def test_a_truncated_model(tmp_path, tiny_path):
    data = open(tiny_path, "rb").read()
    path = tmp_path / "truncated.gguf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LlametteError) as e:
        Llama(model_path=str(path))
    assert e.value.status == Status.ERR_BAD_FILE


def test_bad_tokens_and_bad_arguments(tiny):
    with pytest.raises(LlametteError) as e:
        tiny.detokenize([5000])
    assert e.value.status == Status.ERR_BAD_TOKEN
    with pytest.raises(LlametteError) as e:
        tiny([1, 5000], max_tokens=2)
    assert e.value.status == Status.ERR_BAD_TOKEN
    assert e.value.message
    with pytest.raises(LlametteError) as e:
        tiny([1, 2, 3], max_tokens=2, repeat_penalty=0.0)
    assert e.value.status == Status.ERR_INVALID_ARGUMENT
    with pytest.raises(ValueError, match="empty"):
        tiny([], max_tokens=2)
    with pytest.raises(ValueError, match="logprobs must be between 0 and 20"):
        tiny("x", logprobs=21)
    with pytest.raises(ValueError, match="logits_all=True"):
        tiny("x", logprobs=2, echo=True)
    with pytest.raises(ValueError, match="mirostat_mode"):
        tiny("x", mirostat_mode=3)
    with pytest.raises(TypeError, match="callable"):
        tiny("x", logits_processor=[1])
    with pytest.raises(ValueError, match="kv_type"):
        Llama(model_path=tiny.model_path, kv_type="q8")
    # The Llama is still usable after the failures.
    case = golden("tiny-codellama.q8_0.json")["cases"][0]
    out = tiny(case["prompt"], max_tokens=4, temperature=0, repeat_penalty=1.0)
    assert out["usage"]["completion_tokens"] == 4


def test_prompt_longer_than_the_context(tiny_path):
    with Llama(model_path=tiny_path, n_ctx=16) as llm:
        with pytest.raises(LlametteError) as e:
            llm(list(range(3, 40)), max_tokens=2)
        assert e.value.status == Status.ERR_CONTEXT_FULL


def test_exceptions_in_the_consumer_leave_the_llama_usable(tiny):
    case = golden("tiny-codellama.q8_0.json")["cases"][0]
    with pytest.raises(KeyError):
        for chunk in tiny(case["prompt"], max_tokens=32, temperature=0, stream=True):
            raise KeyError("consumer failed")
    out = tiny(case["prompt"], max_tokens=4, temperature=0, repeat_penalty=1.0)
    assert out["usage"]["completion_tokens"] == 4


def test_closed_llama(tiny_path):
    llm = Llama(model_path=tiny_path, n_ctx=32)
    llm.close()
    llm.close()  # idempotent
    assert llm.closed
    with pytest.raises(ValueError, match="closed"):
        llm.tokenize(b"hello")
    with pytest.raises(ValueError, match="closed"):
        llm("hello", max_tokens=1)


def test_library_not_found_names_the_options():
    env = dict(os.environ, LLAMETTE_LIB="/nonexistent/libllamette.so")
    code = "import llamette; llamette.library_path()"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "LibraryNotFoundError" in r.stderr
    assert "/nonexistent/libllamette.so" in r.stderr
    for option in ("LLAMETTE_LIB", "cargo build --release --features ffi", "next to the package"):
        assert option in r.stderr
