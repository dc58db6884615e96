"""Token ids against llama.cpp (tests/fixtures/golden/tok-*.json): for 47 texts, ``ids`` is
llama_tokenize(add_special=false, parse_special=false) and ``ids_special`` is
llama_tokenize(add_special=true, parse_special=true); ``pieces`` maps ids to
llama_token_to_piece(special=true) bytes."""

import pytest

from conftest import golden
from llamette import Llama


def check_golden(llm, g):
    cases = g["cases"]
    assert len(cases) == 47
    for case in cases:
        text = case["text"].encode("utf-8")
        assert llm.tokenize(text, add_bos=False, special=False) == case["ids"], case["text"]
        assert llm.tokenize(text, add_bos=True, special=True) == case["ids_special"], case["text"]
        # str is accepted too, and defaults are add_bos=True, special=False.
        assert llm.tokenize(case["text"], add_bos=False) == case["ids"]
    for id_, want in g["pieces"].items():
        assert llm.token_to_piece(int(id_), special=True) == bytes(want), id_


def test_smollm2_tokenizes_like_llama_cpp(smollm2):
    check_golden(smollm2, golden("tok-smollm2-135m-instruct.json"))


def test_codellama_70b_vocab_tokenizes_like_llama_cpp(vocab70b_path):
    with Llama(model_path=vocab70b_path, vocab_only=True) as llm:
        assert llm.n_vocab() == 32016
        check_golden(llm, golden("tok-codellama-70b-instruct.json"))


def test_detokenize_round_trips(smollm2, vocab70b_path):
    for case in golden("tok-smollm2-135m-instruct.json")["cases"]:
        assert smollm2.detokenize(case["ids"]) == case["text"].encode("utf-8")
    with Llama(model_path=vocab70b_path, vocab_only=True) as llm:
        for case in golden("tok-codellama-70b-instruct.json")["cases"]:
            # llama-cpp-python's rule: the space SentencePiece adds after BOS is dropped.
            ids = llm.tokenize(case["text"].encode("utf-8"))
            assert ids[0] == llm.token_bos() == 1
            if case["text"] and not case["text"].startswith(" "):
                assert llm.detokenize(ids) == case["text"].encode("utf-8")


def test_tokenize_exact_ids(smollm2):
    # Golden case 2's prompt as llama.cpp tokenized the text (tests/generation.rs).
    assert smollm2.tokenize(b"def fibonacci(n):") == [1604, 3987, 46477, 24, 94, 727]
    assert smollm2.tokenize(b"") == []


def test_long_text_grows_the_buffer(tiny):
    text = ("x" * 1000 + " y") * 20
    ids = tiny.tokenize(text.encode())
    assert len(ids) > 20
    assert tiny.detokenize(ids) == text.encode()


def test_text_must_be_utf8(tiny):
    from llamette import LlametteError, Status

    with pytest.raises(LlametteError) as e:
        tiny.tokenize(b"\xff\xfe")
    assert e.value.status == Status.ERR_INVALID_ARGUMENT
