"""The vocabulary's special tokens, attributes and fill-in-the-middle prompts against
llama.cpp's (tests/fixtures/golden/vocab-special.json, scripts/vocab_goldens.py)."""

import pytest

from conftest import fixture_path, golden
from llamette import Llama, LlametteError, Status

G = golden("vocab-special.json")["vocabs"]


@pytest.mark.parametrize("name", sorted(G))
def test_special_tokens_and_flags_are_llama_cpps(name):
    want = G[name]
    with Llama(model_path=str(fixture_path(f"vocab/{name}")), vocab_only=True) as llm:
        info = llm.vocab_info()
        assert info["n_tokens"] == want["n_tokens"]
        for k, v in want["special"].items():
            assert info[k] == v, k
        assert (info["add_bos"], info["add_eos"]) == (want["add_bos"], want["add_eos"])
        assert llm.add_bos_token() == want["add_bos"]
        assert llm.eog_tokens() == want["eog"]
        assert llm.token_nl() == (want["special"]["nl"] if want["special"]["nl"] is not None
                                  else -1)
        odd = want["attrs_not_just_normal"]
        for t, names in odd.items():
            assert llm.token_attr(int(t)) == names, t
        for t in range(0, want["n_tokens"], 997):
            assert llm.token_attr(t) == odd.get(str(t), ["normal"]), t


@pytest.mark.parametrize("name", [n for n in sorted(G) if G[n]["infill"]])
def test_infill_prompts_are_llama_cpps(name):
    with Llama(model_path=str(fixture_path(f"vocab/{name}")), vocab_only=True) as llm:
        assert llm.token_prefix() == G[name]["special"]["fim_pre"]
        assert llm.token_middle() == G[name]["special"]["fim_mid"]
        for c in G[name]["infill"]:
            ids = llm.infill_tokens(c["prefix"], c["suffix"], extra=c["extra"],
                                    prompt=c["prompt_ids"], n_batch=c["n_batch"],
                                    n_predict=c["n_predict"], n_ctx=c["n_ctx"],
                                    spm_infill=c["spm_infill"])
            assert ids == c["ids"]
        assert set(G[name]["eog"]) <= set(llm.infill_stop_tokens())


def test_suffix_needs_fim_tokens(tiny):
    with pytest.raises(LlametteError) as e:
        tiny("def f():", suffix="\n", max_tokens=2)
    assert e.value.status == Status.ERR_INVALID_ARGUMENT
    assert "fill-in-the-middle" in e.value.message
    with pytest.raises(TypeError, match="as text"):
        tiny([1, 2], suffix="x")
