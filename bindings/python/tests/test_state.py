"""Saved state (llama-cpp-python's ``Llama.save_state`` / ``load_state``) over llamette's
``llamette_state_*``: a restored Llama continues with the uninterrupted logits, bit for bit, in
the same Llama or another; states that do not fit raise ``Status.ERR_BAD_STATE`` and change
nothing."""

import itertools
import pickle

import pytest

from conftest import golden
from llamette import Llama, LlamaState, LlametteError, Status


def case0():
    return golden("tiny-codellama.q8_0.json")["cases"][0]


def test_save_state_holds_the_context_and_what_the_llama_knows(tiny_path):
    c = case0()
    with Llama(model_path=tiny_path, n_ctx=64, seed=7) as llm:
        empty = llm.save_state()
        assert (empty.n_tokens, empty.input_ids, empty.scores) == (0, [], [])
        assert empty.llama_state_size == len(empty.llama_state) > 0
        llm.eval(c["prompt"])
        st = llm.save_state()
        assert isinstance(st, LlamaState)
        assert st.n_tokens == len(c["prompt"]) == 8
        assert st.input_ids == c["prompt"]
        assert len(st.scores) == 1 and st.scores[0] == llm.logits()
        assert st.llama_state_size == len(st.llama_state) > empty.llama_state_size
        assert st.seed == 7
        copy = pickle.loads(pickle.dumps(st))
        assert (copy.llama_state, copy.input_ids, copy.n_tokens) == (
            st.llama_state, st.input_ids, st.n_tokens)


def test_a_loaded_state_continues_with_the_uninterrupted_logits(tiny_path):
    c = case0()
    with Llama(model_path=tiny_path, n_ctx=64) as llm:
        llm.eval(c["prompt"])
        st = llm.save_state()
        llm.eval(c["greedy"][:3])
        want = llm.logits()
        # The same Llama, rewound by the state.
        llm.load_state(st)
        assert llm.n_tokens == 8
        assert llm.logits() == st.scores[0]
        llm.eval(c["greedy"][:3])
        assert llm.logits() == want
        # Another Llama of the same model with more positions (through pickle).
        with Llama(model_path=tiny_path, n_ctx=128) as other:
            other.load_state(pickle.loads(pickle.dumps(st)))
            assert other.n_tokens == 8
            other.eval(c["greedy"][:3])
            assert other.logits() == want
            # Generation after loading reuses the restored prompt: llama.cpp's greedy ids.
            other.load_state(st)
            it = other.generate(c["prompt"], temp=0, repeat_penalty=1.0)
            try:
                assert list(itertools.islice(it, 16)) == c["greedy"][:16]
            finally:
                it.close()


def test_states_that_do_not_fit_raise_bad_state_and_change_nothing(tiny_path):
    c = case0()
    with Llama(model_path=tiny_path, n_ctx=64) as llm:
        llm.eval(c["prompt"])
        st = llm.save_state()
        corrupt = bytearray(st.llama_state)
        corrupt[len(corrupt) // 2] ^= 1
        bad = [
            LlamaState(st.input_ids, st.scores, st.n_tokens, bytes(corrupt),
                       st.llama_state_size, st.seed),
            LlamaState(st.input_ids, st.scores, st.n_tokens, st.llama_state[:-1],
                       st.llama_state_size - 1, st.seed),
        ]
        with Llama(model_path=tiny_path, n_ctx=64) as other:
            other.eval(c["prompt"][:3])
            before = other.logits()
            for b in bad:
                with pytest.raises(LlametteError) as e:
                    other.load_state(b)
                assert e.value.status == Status.ERR_BAD_STATE
                assert "llamette_state_read" in e.value.message
                assert other.n_tokens == 3 and other.logits() == before
        # A context too small for the saved cells, and another KV type.
        for kwargs in [dict(n_ctx=4), dict(n_ctx=64, kv_type="f32")]:
            with Llama(model_path=tiny_path, **kwargs) as other:
                with pytest.raises(LlametteError) as e:
                    other.load_state(st)
                assert e.value.status == Status.ERR_BAD_STATE
                assert other.n_tokens == 0
        with pytest.raises(ValueError):
            llm.load_state(LlamaState([], [], 0, b"", 5, 0))
