"""The :class:`Llama` class: llama-cpp-python's API over llamette's C ABI."""

from __future__ import annotations

import collections
import ctypes
import math
import os
import queue
import sys
import threading
import time
import uuid
import weakref
from contextlib import contextmanager
from ctypes import POINTER, byref, c_bool, c_float, c_int, c_size_t, c_uint32, c_void_p
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from . import _ffi
from . import llama_grammar
from ._ffi import ChatFormat, LlametteError, Status, StopReason, check, lib
from ._pool import ThreadPool
from .llama_grammar import LlamaGrammar, grammar_of_response_format

#: llamette's default seed (``llamette_sampler_default_params``): a fixed seed, so runs repeat.
DEFAULT_SEED = 0xFFFFFFFF

#: What ``n_threads=None`` means. The Python pool's hand-off costs more per parallel call than
#: it saves on small models on a 2-core machine (see the README's measurements), so the default
#: is the serial path; pass ``n_threads=N`` to use a pool of N threads.
DEFAULT_THREADS = 1

_CHAT_FORMATS = {
    "codellama-70b": ChatFormat.CODELLAMA_70B,
    "codellama-70b-instruct": ChatFormat.CODELLAMA_70B,
    "llama-2": ChatFormat.LLAMA2,
    "llama2": ChatFormat.LLAMA2,
    "chatml": ChatFormat.CHATML,
    "llama-3": ChatFormat.LLAMA3,
    "llama3": ChatFormat.LLAMA3,
}

# Native handles alive now, by kind ("model", "context", "pool"): a diagnostic for leak tests.
_live: "collections.Counter[str]" = collections.Counter()
_live_lock = threading.Lock()


#: ``pooling_type``: the model's own (``<arch>.pooling_type``; none when absent), as
#: llama-cpp-python's ``LLAMA_POOLING_TYPE_UNSPECIFIED``.
POOLING_UNSPECIFIED = -1
#: llama-cpp-python parameters that change what is computed and that llamette lacks: a truthy
#: value is refused (the rest of its parameters are accepted and change nothing here).
_UNSUPPORTED_KWARGS = ("lora_path", "lora_base", "draft_model", "chat_handler", "tokenizer",
                       "kv_overrides", "rpc_servers")

#: Sequences one ``embed`` batch holds at most (the context's ``n_seq_max``).
EMBED_MAX_SEQUENCES = 64


def live_handles() -> Dict[str, int]:
    """How many native models, contexts, thread pools and grammars the binding holds right
    now."""
    with _live_lock:
        live = {k: v for k, v in _live.items() if v}
    grammars = llama_grammar.live_grammars()
    if grammars:
        live["grammar"] = grammars
    return live


def _count(kind: str, delta: int) -> None:
    with _live_lock:
        _live[kind] += delta


def _release(model: int, ctx: Optional[int], pool: Optional[ThreadPool]) -> None:
    """Frees the native handles of a Llama (close() or its finalizer; runs once)."""
    lb = lib()
    if ctx:
        lb.llamette_context_free(ctx)
        _count("context", -1)
    if pool is not None:
        pool.close()
        _count("pool", -1)
    if model:
        lb.llamette_model_free(model)
        _count("model", -1)


def _chat_format(value: Union[None, str, int, ChatFormat]) -> ChatFormat:
    if value is None:
        return ChatFormat.NONE
    if isinstance(value, str):
        try:
            return _CHAT_FORMATS[value.lower()]
        except KeyError:
            raise ValueError(
                f"unknown chat format {value!r}; known: {', '.join(sorted(_CHAT_FORMATS))}"
            ) from None
    return ChatFormat(value)


def _content_text(content: Any) -> str:
    """A message's content: a string, None, or OpenAI-style parts ([{"type": "text", ...}])."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            else:
                raise ValueError(f"unsupported message content part: {part!r}")
        return "".join(parts)
    raise TypeError(f"message content must be a string, not {type(content).__name__}")


class _Messages:
    """A ``LlametteMessage`` array and the bytes it points into (alive as long as this is)."""

    def __init__(self, messages: Sequence[Mapping[str, Any]]):
        self._keep = []
        arr = (_ffi.Message * max(1, len(messages)))()
        for i, m in enumerate(messages):
            role = str(m["role"]).encode("utf-8")
            content = _content_text(m.get("content")).encode("utf-8")
            self._keep += [role, content]
            arr[i] = _ffi.Message(role, len(role), content, len(content))
        self.array = arr
        self.n = len(messages)


def _ids_array(ids: Sequence[int]):
    return (c_uint32 * max(1, len(ids)))(*ids)


def _check_grammar(grammar: Any) -> Optional[LlamaGrammar]:
    if grammar is not None and not isinstance(grammar, LlamaGrammar):
        raise TypeError(f"grammar must be a LlamaGrammar, not {type(grammar).__name__} (make "
                        f"one with LlamaGrammar.from_string or LlamaGrammar.from_json_schema)")
    return grammar


def _processors(logits_processor: Any) -> List[Callable]:
    """llama-cpp-python's ``logits_processor``: a ``LogitsProcessorList`` (a list of callables),
    any list of them, or one callable; None: none."""
    if logits_processor is None:
        return []
    if callable(logits_processor) and not isinstance(logits_processor, (list, tuple)):
        return [logits_processor]
    out = list(logits_processor)
    for f in out:
        if not callable(f):
            raise TypeError(f"logits_processor entries must be callable, not {type(f).__name__}")
    return out


def _processor_callback(processors: List[Callable], ids: List[int],
                        errors: List[BaseException]):
    """The ``LlametteLogitsProcessorFn`` running llama-cpp-python's processors: each is called
    as ``f(input_ids, scores)`` with the ids so far (``ids``: the prompt and the tokens
    generated) and the raw logits, and returns the new scores (it may also change ``scores``
    in place and return it). With numpy, ``input_ids`` is an ``intc`` array and ``scores`` a
    ``float32`` array over the library's own buffer (as llama-cpp-python passes them);
    without, both are lists. An exception is kept in ``errors`` (the generation stops and
    re-raises it)."""
    try:
        import numpy as np  # type: ignore
    except ImportError:  # pragma: no cover - numpy is optional
        np = None

    def fn(_user, logits, n):
        if errors:
            return
        try:
            if np is not None:
                scores = np.ctypeslib.as_array(logits, shape=(n,))
                input_ids = np.array(ids, dtype=np.intc)
                for f in processors:
                    out = f(input_ids, scores)
                    if out is not None and out is not scores:
                        scores[:] = np.asarray(out, dtype=np.float32)
            else:
                buf = (c_float * n).from_address(ctypes.addressof(logits.contents))
                scores = buf[:]
                for f in processors:
                    out = f(list(ids), scores)
                    if out is not None:
                        scores = list(out)
                if len(scores) != n:
                    raise ValueError(f"a logits processor returned {len(scores)} scores for a "
                                     f"vocabulary of {n}")
                buf[:] = scores
        except BaseException as e:  # re-raised after the C call returns
            errors.append(e)

    return _ffi.LogitsProcessorFn(fn)


def _entry(token: int, lp) -> Tuple[int, Optional[float], List[Tuple[int, float]]]:
    """(token, logprob, [(alternative, logprob), ...]) of a ``LlametteTokenLogprob`` (a
    pointer or the struct); logprob None where nothing predicts the token."""
    r = lp.contents if hasattr(lp, "contents") else lp
    v = float(r.logprob)
    top = [(int(r.top_tokens[i]), float(r.top_logprobs[i])) for i in range(r.n_top)]
    return token, (None if v != v else v), top


def _n_logprobs(n: Any, what: str) -> int:
    n = int(n)
    if not 0 <= n <= _ffi.MAX_TOP_LOGPROBS:
        raise ValueError(f"{what} must be between 0 and {_ffi.MAX_TOP_LOGPROBS}, not {n}")
    return n


def _finish_reason(reason: StopReason) -> str:
    return "length" if reason in (StopReason.LENGTH, StopReason.CONTEXT_FULL) else "stop"


class _Done:
    __slots__ = ("reason", "n_generated")

    def __init__(self, reason: StopReason, n_generated: int):
        self.reason, self.n_generated = reason, n_generated


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error


class _Logprobs:
    """llama-cpp-python's completion ``logprobs`` layout, built a chunk of tokens at a time:
    ``tokens`` (each token's text, ``detokenize([t])`` decoded with errors ignored),
    ``text_offset`` (``base`` plus the length in characters of the text of the tokens before
    it), ``token_logprobs``, ``top_logprobs`` (``{text: logprob}`` of the ``n_top`` most
    likely tokens, then the token itself). BOS is left out, as there."""

    def __init__(self, llama: "Llama", base: int, n_top: int):
        self.llama = llama
        self.base = base
        self.n_top = n_top
        self.text = b""  # the bytes of the tokens so far
        self.first: Optional[int] = None
        self._pieces: Dict[int, Tuple[bytes, str]] = {}

    def _bytes_and_text(self, t: int) -> Tuple[bytes, str]:
        """The token's bytes and their text (each token is converted once)."""
        p = self._pieces.get(t)
        if p is None:
            b = self.llama.token_to_piece(t)
            p = (b, b.decode("utf-8", "ignore"))
            self._pieces[t] = p
        return p

    def _piece(self, t: int) -> str:
        return self._bytes_and_text(t)[1]

    def add(self, entries: Sequence[tuple]) -> Dict[str, list]:
        out: Dict[str, list] = {"tokens": [], "text_offset": [], "token_logprobs": [],
                                "top_logprobs": []}
        bos = self.llama._info.bos
        for t, lp, top in entries:
            if self.first is None:
                self.first = t
            if t != bos:
                before = self.text
                if self.first == bos and before[:1] == b" ":
                    before = before[1:]  # detokenize()'s rule for a leading BOS
                out["text_offset"].append(self.base + len(before.decode("utf-8", "ignore")))
                s = self._piece(t)
                out["tokens"].append(s)
                out["token_logprobs"].append(lp)
                d = {self._piece(a): alp for a, alp in top[: self.n_top]}
                d.update({s: lp})
                out["top_logprobs"].append(d)
            self.text += self._bytes_and_text(t)[0]
        return out


def _chat_logprobs(lp: Optional[Dict[str, list]]) -> Optional[Dict[str, Any]]:
    """llama-cpp-python's chat ``logprobs`` (OpenAI's layout) of a completion layout."""
    if lp is None:
        return None
    return {
        "content": [
            {"token": tok, "bytes": None, "logprob": v,
             "top_logprobs": [{"token": a, "logprob": av, "bytes": None}
                              for a, av in top.items()]}
            for tok, v, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"])
        ],
        "refusal": None,
    }


class LlamaState:
    """A saved :class:`Llama` context, as llama-cpp-python's ``LlamaState``
    (:meth:`Llama.save_state`, :meth:`Llama.load_state`); picklable.

    Attributes:
        input_ids: the token ids the context holds, positions ``0 .. n_tokens - 1`` (a list;
            empty when the Llama did not know them, e.g. after a generation that ended early).
        scores: the logits rows saved with the state: ``[last logits]`` after an evaluation,
            ``[]`` before any (llamette keeps the logits of the last token only, as
            llama-cpp-python does without ``logits_all``).
        n_tokens: positions the context holds.
        llama_state: the bytes of ``llamette_state_write``: the KV cache and the last logits,
            versioned and checked (the model's identity, KV type and shape, a checksum).
        llama_state_size: ``len(llama_state)``.
        seed: the Llama's seed when saved.
    """

    def __init__(
        self,
        input_ids: Sequence[int],
        scores: Sequence[Sequence[float]],
        n_tokens: int,
        llama_state: bytes,
        llama_state_size: int,
        seed: int,
    ):
        self.input_ids = input_ids
        self.scores = scores
        self.n_tokens = n_tokens
        self.llama_state = llama_state
        self.llama_state_size = llama_state_size
        self.seed = seed


class Llama:
    """A model and one evaluation context, with llama-cpp-python's API.

    ``Llama(model_path, n_ctx=4096, n_threads=None, n_batch=512, seed=DEFAULT_SEED,
    verbose=False)`` loads a GGUF file (memory-mapped) and makes a context of ``n_ctx``
    positions (0: the model's training length). ``n_threads`` > 1 runs the context's work on a
    pool of that many Python threads (None: :data:`DEFAULT_THREADS`). ``vocab_only=True`` loads
    a vocabulary-only GGUF (tokenize, detokenize and chat templates; no generation).
    ``chat_format`` overrides the model's chat format ("chatml", "llama-2", "llama-3",
    "codellama-70b"). ``logits_all=True`` keeps every position's logits (what prompt
    logprobs, ``echo=True`` with ``logprobs``, need; it costs ``n_batch`` x vocabulary floats).

    One thread at a time uses a Llama (calls from other threads wait; make one Llama per
    thread to run in parallel). Release it with :meth:`close` or a ``with`` block; a finalizer
    frees it otherwise. Failures raise :class:`LlametteError`.
    """

    def __init__(
        self,
        model_path: Union[str, os.PathLike],
        *,
        n_ctx: int = 4096,
        n_batch: int = 512,
        n_threads: Optional[int] = None,
        seed: int = DEFAULT_SEED,
        last_n_tokens_size: int = 64,
        chat_format: Union[None, str, ChatFormat] = None,
        vocab_only: bool = False,
        kv_type: str = "f16",
        verbose: bool = False,
        n_gpu_layers: int = 0,
        use_mmap: bool = True,
        logits_all: bool = False,
        embedding: bool = False,
        pooling_type: int = POOLING_UNSPECIFIED,
        spm_infill: bool = False,
        **kwargs: Any,
    ):
        del n_gpu_layers, use_mmap  # accepted for llama-cpp-python compatibility; CPU, mmap
        # llama-cpp-python's other parameters (and its **kwargs) are accepted as it accepts
        # them, so code written for it (LangChain's LlamaCpp and LlamaCppEmbeddings pass
        # n_parts, f16_kv, use_mlock, rope_freq_*, ...) runs; those that would change what
        # is computed and that llamette does not have are refused when set.
        unsupported = [k for k in _UNSUPPORTED_KWARGS if kwargs.get(k)]
        if unsupported:
            raise NotImplementedError(
                f"{', '.join(unsupported)}: not supported by llamette (no LoRA adapters, draft "
                f"models, custom chat handlers or tokenizers, metadata overrides)")
        self.spm_infill = bool(spm_infill)
        lb = lib()
        self.model_path = os.fspath(model_path)
        self.verbose = verbose
        self._seed = seed
        self.last_n_tokens_size = last_n_tokens_size
        self._lock = threading.Lock()
        self._owner: Optional[int] = None
        self._cached: List[int] = []  # ids known to fill positions 0.. of the context
        self._model: Optional[int] = None
        self._ctx: Optional[int] = None
        self._pool: Optional[ThreadPool] = None
        self._logits_all = bool(logits_all)
        self._embedding = bool(embedding)
        if pooling_type not in (POOLING_UNSPECIFIED, 0, 1, 2, 3):
            raise ValueError(f"pooling_type must be -1 (the model's), 0 (none), 1 (mean), "
                             f"2 (cls) or 3 (last), not {pooling_type!r}")
        self.pooling_type = pooling_type

        path = self.model_path.encode(sys.getfilesystemencoding(), "surrogateescape")
        model = c_void_p()
        check(lb.llamette_model_load(path, byref(model)), "llamette_model_load")
        self._model = model.value
        _count("model", 1)
        # From here on the finalizer owns the handles (close() calls it).
        self._finalizer = weakref.finalize(self, _release, self._model, None, None)

        info = _ffi.ModelInfo()
        check(lb.llamette_model_info(self._model, byref(info)))
        self._info = info
        jinja = isinstance(chat_format, str) and chat_format.lower() == "jinja"
        self._chat_format = ChatFormat.NONE if jinja else _chat_format(chat_format)
        self.chat_format = self._chat_format if chat_format is not None else (
            ChatFormat(info.chat_format) if info.chat_format in ChatFormat._value2member_map_
            else ChatFormat.NONE
        )
        # The file's own Jinja template: asked for, or the fallback for a template that is
        # none of the built-in formats (as llama-cpp-python falls back to its Jinja2 formatter).
        self._jinja = jinja or (chat_format is None and self.chat_format == ChatFormat.NONE
                                and self.metadata_value("tokenizer.chat_template") is not None)

        self.n_threads = DEFAULT_THREADS if n_threads is None else max(1, int(n_threads))
        self._n_ctx = 0
        self._n_batch = int(n_batch)
        if not vocab_only:
            params = lb.llamette_context_default_params_ex()
            params.n_ctx = int(n_ctx) if n_ctx and n_ctx > 0 else info.n_ctx_train
            params.n_batch = self._n_batch
            kv = {"f16": _ffi.KvType.F16, "f32": _ffi.KvType.F32}.get(str(kv_type).lower())
            if kv is None:
                raise ValueError(f"kv_type must be 'f16' or 'f32', not {kv_type!r}")
            params.kv_type = kv
            params.logits_all = bool(logits_all)
            if embedding:
                # embed() batches many inputs, one sequence each, every token an output.
                params.embeddings = True
                params.n_seq_max = EMBED_MAX_SEQUENCES
                params.n_outputs_max = self._n_batch
            ctx = c_void_p()
            try:
                check(lb.llamette_context_new_ex(self._model, byref(params), byref(ctx)),
                      "llamette_context_new_ex")
            except BaseException:
                self.close()
                raise
            self._ctx = ctx.value
            self._n_ctx = params.n_ctx
            _count("context", 1)
            if self.n_threads > 1:
                self._pool = ThreadPool(self.n_threads)
                _count("pool", 1)
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _release, self._model, self._ctx, self._pool)
            if self._pool is not None:
                check(lb.llamette_context_set_parallel(
                    self._ctx, self._pool.callback, None, self._pool.width))
        if verbose:
            print(
                f"llamette: {self.model_path}: {self.architecture()}, {info.n_layer} layers, "
                f"{info.n_vocab} tokens, chat format {self.chat_format.name.lower()}, "
                f"context {self._n_ctx}, {self.n_threads} thread(s); library {lb.path}",
                file=sys.stderr,
            )

    # ---- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Frees the model and the context now (idempotent). Waits for a generation running on
        another thread to finish."""
        fin = getattr(self, "_finalizer", None)
        if fin is None or not fin.alive:
            return
        if self._owner == threading.get_ident():
            raise RuntimeError("close() inside a generation on this thread: finish or close "
                               "the stream first")
        with self._lock:
            self._ctx = None
            self._pool = None
            fin()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` (or the finalizer) has released the native handles."""
        return not self._finalizer.alive

    def __enter__(self) -> "Llama":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _exclusive(self):
        me = threading.get_ident()
        if self._owner == me:
            raise RuntimeError(
                "this Llama is already generating on this thread (an open stream or "
                "generate() iterator): exhaust or close it first"
            )
        with self._lock:
            if self.closed:
                raise ValueError("the Llama is closed")
            if self._ctx is None:
                raise ValueError("a vocab_only Llama cannot evaluate or generate")
            self._owner = me
            try:
                yield
            finally:
                self._owner = None

    def _model_handle(self) -> int:
        if self.closed:
            raise ValueError("the Llama is closed")
        return self._model  # type: ignore[return-value]

    # ---- model ------------------------------------------------------------------------------

    @property
    def info(self) -> Dict[str, Any]:
        """The model's hyperparameters and special tokens (``LlametteModelInfo``)."""
        i = self._info
        d = {name: getattr(i, name) for name, _ in _ffi.ModelInfo._fields_}
        d["chat_format"] = ChatFormat(i.chat_format) if i.chat_format in \
            ChatFormat._value2member_map_ else i.chat_format
        return d

    def n_ctx(self) -> int:
        """Positions of the context (0 for ``vocab_only``)."""
        return self._n_ctx

    def n_vocab(self) -> int:
        return self._info.n_vocab

    def n_embd(self) -> int:
        return self._info.n_embd

    def token_bos(self) -> int:
        return self._info.bos

    def token_eos(self) -> int:
        return self._info.eos

    def vocab_info(self) -> Dict[str, Any]:
        """Every special token llama.cpp's vocab API exposes (``bos``, ``eos``, ``eot``,
        ``eom``, ``unk``, ``sep``, ``pad``, ``mask``, ``nl``, ``fim_pre``, ``fim_suf``,
        ``fim_mid``, ``fim_pad``, ``fim_rep``, ``fim_sep``; None where the vocabulary has
        none), ``n_tokens``, and whether tokenizing adds BOS/EOS (``add_bos``, ``add_eos``)
        and a SentencePiece space (``add_space_prefix``)."""
        v = _ffi.VocabInfo()
        v.size = ctypes.sizeof(v)
        check(lib().llamette_vocab_info(self._model_handle(), byref(v)), "llamette_vocab_info")
        out: Dict[str, Any] = {}
        for name, typ in v._fields_:
            if name == "size":
                continue
            val = getattr(v, name)
            out[name] = (None if val < 0 else val) if typ is ctypes.c_int32 else val
        return out

    def _special(self, name: str) -> int:
        v = self.vocab_info()[name]
        return -1 if v is None else v

    def token_nl(self) -> int:
        """The newline token (-1: none), as llama-cpp-python's."""
        return self._special("nl")

    def token_eot(self) -> int:
        """End of turn (-1: none)."""
        return self._special("eot")

    def token_sep(self) -> int:
        """Separator (-1: none)."""
        return self._special("sep")

    def token_pad(self) -> int:
        """Padding (-1: none)."""
        return self._special("pad")

    def token_prefix(self) -> int:
        """Fill-in-the-middle prefix (``<PRE>``, ``<|fim_prefix|>``; -1: none)."""
        return self._special("fim_pre")

    def token_suffix(self) -> int:
        """Fill-in-the-middle suffix (-1: none)."""
        return self._special("fim_suf")

    def token_middle(self) -> int:
        """Fill-in-the-middle middle (-1: none)."""
        return self._special("fim_mid")

    def add_bos_token(self) -> bool:
        """Whether tokenizing puts BOS in front."""
        return bool(self.vocab_info()["add_bos"])

    def add_eos_token(self) -> bool:
        """Whether tokenizing appends EOS."""
        return bool(self.vocab_info()["add_eos"])

    def token_attr(self, token: int) -> List[str]:
        """The token's attributes by name (llama.cpp's ``llama_vocab_get_attr`` bits:
        "normal", "control", "user_defined", "byte", "unused", ...)."""
        a = c_uint32(0)
        check(lib().llamette_token_attr(self._model_handle(), token, byref(a)),
              "llamette_token_attr")
        return [k for k, bit in _ffi.TOKEN_ATTRS.items() if a.value & bit]

    def eog_tokens(self) -> List[int]:
        """The end-of-generation tokens (llama.cpp's ``llama_vocab_is_eog`` set)."""
        return self._id_list(lib().llamette_vocab_eog_tokens)

    def _id_list(self, fn) -> List[int]:
        m = self._model_handle()
        n = c_size_t(0)
        st = fn(m, None, 0, byref(n))
        if st != Status.ERR_BUFFER_TOO_SMALL:
            check(st)
        ids = (c_uint32 * max(1, n.value))()
        check(fn(m, ids, n.value, byref(n)))
        return ids[: n.value]

    def infill_tokens(self, prefix: str, suffix: str,
                      extra: Optional[Sequence[Mapping[str, str]]] = None,
                      prompt: Sequence[int] = (), n_batch: int = 2048, n_predict: int = -1,
                      n_ctx: Optional[int] = None, spm_infill: bool = False) -> List[int]:
        """The fill-in-the-middle prompt ids llama.cpp's server builds for ``/infill``:
        ``[extra context] [BOS] PRE prefix prompt SUF suffix MID`` with the vocabulary's FIM
        tokens (``extra``: ``[{"filename", "text"}]`` repository files), trimmed as the server
        trims for ``n_batch``, ``n_predict`` and ``n_ctx`` (None: this Llama's). Raises
        :class:`LlametteError` (``Status.ERR_INVALID_ARGUMENT``) for a vocabulary without FIM
        tokens."""
        p = lib().llamette_infill_default_params()
        p.n_batch = n_batch
        p.n_predict = n_predict
        p.n_ctx = n_ctx if n_ctx is not None else (self._n_ctx or p.n_ctx)
        p.spm_infill = spm_infill
        keep = []
        chunks = (_ffi.InfillChunk * max(1, len(extra or [])))()
        for i, c in enumerate(extra or []):
            name = c.get("filename")
            nb = None if name is None else str(name).encode("utf-8")
            tb = str(c.get("text", "")).encode("utf-8")
            keep += [nb, tb]
            chunks[i] = _ffi.InfillChunk(nb, len(nb or b""), tb, len(tb))
        pre, suf = prefix.encode("utf-8"), suffix.encode("utf-8")
        pr = list(prompt)
        args = (self._model_handle(), pre, len(pre), suf, len(suf), chunks, len(extra or []),
                _ids_array(pr), len(pr), byref(p))
        n = c_size_t(0)
        lb = lib()
        st = lb.llamette_infill_tokens(*args, None, 0, byref(n))
        if st != Status.ERR_BUFFER_TOO_SMALL:
            check(st, "llamette_infill_tokens")
        ids = (c_uint32 * max(1, n.value))()
        check(lb.llamette_infill_tokens(*args, ids, n.value, byref(n)), "llamette_infill_tokens")
        return ids[: n.value]

    def infill_stop_tokens(self) -> List[int]:
        """The tokens that end a filled-in middle (end of generation, ``<EOT>``, the FIM
        padding, repository and file-separator tokens)."""
        return self._id_list(lib().llamette_infill_stop_tokens)

    def _string(self, fn: Callable, *args) -> str:
        n = c_size_t(0)
        st = fn(self._model_handle(), *args, None, 0, byref(n))
        if st != Status.ERR_BUFFER_TOO_SMALL:
            check(st)
        buf = ctypes.create_string_buffer(n.value + 1)
        check(fn(self._model_handle(), *args, buf, len(buf), byref(n)))
        return buf.raw[: n.value].decode("utf-8", "replace")

    def architecture(self) -> str:
        """``general.architecture`` (e.g. "llama")."""
        return self._string(lib().llamette_model_architecture)

    def metadata_value(self, key: str) -> Optional[str]:
        """A GGUF metadata value as text (numbers in decimal, arrays as "[n items]"), or None
        when the file lacks the key."""
        try:
            return self._string(lib().llamette_model_meta_string, key.encode("utf-8"))
        except LlametteError as e:
            if e.status == Status.ERR_INVALID_ARGUMENT:
                return None
            raise

    # ---- tokens -----------------------------------------------------------------------------

    def tokenize(self, text: Union[bytes, str], add_bos: bool = True, special: bool = False
                 ) -> List[int]:
        """Token ids of UTF-8 ``text`` as llama.cpp's ``llama_tokenize``: ``add_bos`` puts BOS
        in front where the vocabulary says so, ``special`` parses control tokens written in
        the text (``<|im_start|>``)."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        lb = lib()
        m = self._model_handle()
        cap = len(text) + 8
        for _ in range(2):
            ids = (c_uint32 * cap)()
            n = c_size_t(0)
            st = lb.llamette_tokenize(m, text, len(text), add_bos, special, ids, cap, byref(n))
            if st == Status.ERR_BUFFER_TOO_SMALL:
                cap = n.value
                continue
            check(st, "llamette_tokenize")
            return ids[: n.value]
        raise AssertionError("unreachable")  # pragma: no cover

    def token_to_piece(self, token: int, special: bool = False) -> bytes:
        """The bytes of one token (possibly part of a UTF-8 character)."""
        lb = lib()
        m = self._model_handle()
        buf = ctypes.create_string_buffer(64)
        n = c_size_t(0)
        st = lb.llamette_token_to_piece(m, token, special, buf, len(buf), byref(n))
        if st == Status.ERR_BUFFER_TOO_SMALL:
            buf = ctypes.create_string_buffer(n.value)
            st = lb.llamette_token_to_piece(m, token, special, buf, len(buf), byref(n))
        check(st, "llamette_token_to_piece")
        return buf.raw[: n.value]

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> bytes:
        """The bytes of ``tokens`` joined (llama-cpp-python's rule: a space that SentencePiece
        put after a leading BOS is dropped)."""
        out = b"".join(self.token_to_piece(t, special) for t in tokens)
        if tokens and tokens[0] == self._info.bos and out[:1] == b" ":
            out = out[1:]
        return out

    # ---- chat -------------------------------------------------------------------------------

    def apply_chat_template(
        self,
        messages: Sequence[Mapping[str, Any]],
        add_generation_prompt: bool = True,
        tokenize: bool = False,
        chat_format: Union[None, str, ChatFormat] = None,
        tools: Optional[Sequence[Mapping[str, Any]]] = None,
        chat_template: Optional[str] = None,
        documents: Optional[Sequence[Mapping[str, Any]]] = None,
    ) -> Union[str, List[int]]:
        """Renders a conversation in the chat format (the model's own unless overridden): the
        prompt string (``tokenize=False``), or its token ids as the format's reference code
        makes them (``tokenize=True``; for CodeLlama-70B, Meta's ``dialog_prompt_tokens``,
        which tokenizing the string cannot reproduce).

        A model whose ``tokenizer.chat_template`` is none of the built-in formats (or a Llama
        made with ``chat_format="jinja"``, or ``chat_format="jinja"`` here) renders with that
        Jinja template as Hugging Face's ``apply_chat_template`` does: the messages as they
        are (also ``tool_calls``, ``name``, content parts), ``tools`` and ``documents``
        (retrieval-augmented templates); its ids are the
        text tokenized with special tokens and no extra BOS (the template writes its own).
        ``chat_template`` renders with another template: the name of one of the file's
        alternatives (``tokenizer.chat_template.<name>``) or Jinja text."""
        jinja = chat_template is not None or (
            self._jinja if chat_format is None
            else isinstance(chat_format, str) and chat_format.lower() == "jinja")
        if jinja:
            text = self._render_jinja(messages, add_generation_prompt, tools, chat_template,
                                      documents)
            return self.tokenize(text, add_bos=False, special=True) if tokenize else text
        if tools or documents:
            raise ValueError("tools and documents need a Jinja chat template (chat_format='jinja'); the "
                             "built-in formats have no place for them")
        fmt = self._chat_format if chat_format is None else _chat_format(chat_format)
        msgs = _Messages(messages)
        lb = lib()
        m = self._model_handle()
        n = c_size_t(0)
        if tokenize:
            cap = 256
            for _ in range(2):
                ids = (c_uint32 * cap)()
                st = lb.llamette_chat_render_ids(m, fmt, msgs.array, msgs.n,
                                                 add_generation_prompt, ids, cap, byref(n))
                if st == Status.ERR_BUFFER_TOO_SMALL:
                    cap = n.value
                    continue
                check(st, "llamette_chat_render_ids")
                return ids[: n.value]
            raise AssertionError("unreachable")  # pragma: no cover
        st = lb.llamette_chat_render(m, fmt, msgs.array, msgs.n, add_generation_prompt,
                                     None, 0, byref(n))
        if st != Status.ERR_BUFFER_TOO_SMALL:
            check(st, "llamette_chat_render")
        buf = ctypes.create_string_buffer(n.value + 1)
        check(lb.llamette_chat_render(m, fmt, msgs.array, msgs.n, add_generation_prompt,
                                      buf, len(buf), byref(n)), "llamette_chat_render")
        return buf.raw[: n.value].decode("utf-8")

    def _render_jinja(self, messages, add_generation_prompt, tools, chat_template,
                      documents=None) -> str:
        import json

        lb = lib()
        m = self._model_handle()
        spec = None if chat_template is None else chat_template.encode("utf-8")
        msgs = json.dumps([dict(x) for x in messages], ensure_ascii=False).encode("utf-8")
        tj = None if tools is None else json.dumps(list(tools), ensure_ascii=False).encode()
        dj = None if documents is None else \
            json.dumps(list(documents), ensure_ascii=False).encode()
        n = c_size_t(0)
        args = (m, spec, len(spec or b""), msgs, len(msgs), tj, len(tj or b""), dj,
                len(dj or b""), add_generation_prompt)
        st = lb.llamette_chat_render_template_json(*args, None, 0, byref(n))
        if st != Status.ERR_BUFFER_TOO_SMALL:
            check(st, "llamette_chat_render_template_json")
        buf = ctypes.create_string_buffer(n.value + 1)
        check(lb.llamette_chat_render_template_json(*args, buf, len(buf), byref(n)),
              "llamette_chat_render_template_json")
        return buf.raw[: n.value].decode("utf-8")

    def chat_stop_tokens(self, chat_format: Union[None, str, ChatFormat] = None) -> List[int]:
        """The tokens that end the assistant's turn in the chat format (EOS, plus ``<step>``,
        ``<|im_end|>`` or ``<|eot_id|>``). With a Jinja template: none beyond the
        vocabulary's end-of-generation tokens, which end every generation."""
        if self._jinja if chat_format is None else (
                isinstance(chat_format, str) and chat_format.lower() == "jinja"):
            return []
        fmt = self._chat_format if chat_format is None else _chat_format(chat_format)
        ids = (c_uint32 * 16)()
        n = c_size_t(0)
        check(lib().llamette_chat_stop_tokens(self._model_handle(), fmt, ids, 16, byref(n)),
              "llamette_chat_stop_tokens")
        return ids[: n.value]

    # ---- low level: eval, sample --------------------------------------------------------------

    @property
    def n_tokens(self) -> int:
        """Positions the context holds."""
        return lib().llamette_context_n_past(self._ctx) if self._ctx else 0

    def reset(self) -> None:
        """Clears the context."""
        with self._exclusive():
            check(lib().llamette_context_truncate(self._ctx, 0))
            self._cached = []

    def eval(self, tokens: Sequence[int]) -> None:
        """Evaluates ``tokens`` at the next positions of the context."""
        with self._exclusive():
            self._eval(tokens)

    def _eval(self, tokens: Sequence[int]) -> None:
        if not tokens:
            return
        check(lib().llamette_eval(self._ctx, _ids_array(tokens), len(tokens)), "llamette_eval")
        if len(self._cached) == self.n_tokens - len(tokens):
            self._cached.extend(tokens)
        else:
            self._cached = []

    def logits(self) -> List[float]:
        """The logits after the last evaluated token (a copy)."""
        with self._exclusive():
            p = POINTER(c_float)()
            n = c_size_t(0)
            check(lib().llamette_logits(self._ctx, byref(p), byref(n)), "llamette_logits")
            return p[: n.value]

    def perf_context(self) -> Dict[str, Any]:
        """llama.cpp's ``llama_perf_context`` counters of this context: ``t_start_ms``,
        ``t_load_ms``, ``t_p_eval_ms`` (prompt), ``t_eval_ms`` (generation), ``n_p_eval``,
        ``n_eval``, ``n_reused`` (prompt tokens kept from the cache)."""
        with self._exclusive():
            d = _ffi.PerfContextData()
            check(lib().llamette_perf_context(self._ctx, byref(d)), "llamette_perf_context")
            return {name: getattr(d, name) for name, _ in d._fields_}

    def perf_context_reset(self) -> None:
        """Sets the :meth:`perf_context` counters back to zero."""
        with self._exclusive():
            check(lib().llamette_perf_context_reset(self._ctx))

    # ---- embeddings -------------------------------------------------------------------------

    def _pooling(self) -> int:
        if self.pooling_type != POOLING_UNSPECIFIED:
            return self.pooling_type
        out = ctypes.c_int32(0)
        check(lib().llamette_model_pooling(self._model_handle(), byref(out)),
              "llamette_model_pooling")
        return out.value

    def embed(self, input: Union[str, Sequence[str]], normalize: bool = False,
              truncate: bool = True, return_count: bool = False):
        """llama-cpp-python's ``embed``: the embedding of a text (a list of floats), or of each
        text of a list; with pooling none (``pooling_type=0``, or the model's), each text's
        per-token rows. Needs ``Llama(embedding=True)``. Texts are tokenized with BOS as
        the vocabulary says, cut to ``n_batch`` tokens with ``truncate`` (a ``ValueError``
        otherwise). ``normalize``: L2 (unit length). ``return_count``: also the tokens
        evaluated. The hidden states are llama.cpp's (after the final norm), pooled as
        ``llama_get_embeddings_seq`` pools them."""
        if not self._embedding:
            raise RuntimeError("Llama model must be created with embedding=True to call this "
                               "method")
        single = isinstance(input, str)
        texts = [input] if single else list(input)
        seqs: List[List[int]] = []
        for t in texts:
            ids = self.tokenize(t.encode("utf-8"))
            if truncate:
                ids = ids[: self._n_batch]
            elif len(ids) > self._n_batch:
                raise ValueError(f"Requested tokens ({len(ids)}) exceed batch size of "
                                 f"{self._n_batch}")
            if not ids:
                raise ValueError("an input has no tokens to embed")
            seqs.append(ids)
        pooling = self._pooling()
        d = self.n_embd()
        arrays = [_ids_array(s) for s in seqs]
        ptrs = (_ffi._u32p * max(1, len(seqs)))(*[ctypes.cast(a, _ffi._u32p) for a in arrays])
        lens = (c_size_t * max(1, len(seqs)))(*map(len, seqs))
        total = sum(map(len, seqs))
        n_floats = (total if pooling == 0 else len(seqs)) * d
        out = (c_float * max(1, n_floats))()
        n = c_size_t(0)
        with self._exclusive():
            st = lib().llamette_embed(self._ctx, ptrs, lens, len(seqs), pooling, -1, out,
                                      n_floats, byref(n))
            self._cached = []  # llamette_embed clears the context
            check(st, "llamette_embed")
        flat = out[: n.value]

        def norm(v):
            if not normalize:
                return v
            length = math.sqrt(sum(x * x for x in v))
            return v if length == 0.0 else [x / length for x in v]

        result: List[Any] = []
        if pooling == 0:
            at = 0
            for s in seqs:
                result.append([norm(flat[(at + j) * d:(at + j + 1) * d])
                               for j in range(len(s))])
                at += len(s)
        else:
            result = [norm(flat[i * d:(i + 1) * d]) for i in range(len(seqs))]
        value = result[0] if single else result
        return (value, total) if return_count else value

    def create_embedding(self, input: Union[str, Sequence[str]],
                         model: Optional[str] = None) -> Dict[str, Any]:
        """llama-cpp-python's ``create_embedding``: ``{"object": "list", "data": [{"object":
        "embedding", "embedding": [...], "index": i}], "model", "usage": {"prompt_tokens",
        "total_tokens"}}`` (unnormalized, as there)."""
        texts = [input] if isinstance(input, str) else list(input)
        embeds, total = self.embed(texts, return_count=True)
        return {
            "object": "list",
            "data": [{"object": "embedding", "embedding": e, "index": i}
                     for i, e in enumerate(embeds)],
            "model": model or self.model_path,
            "usage": {"prompt_tokens": total, "total_tokens": total},
        }

    # ---- saved state ------------------------------------------------------------------------

    def save_state(self) -> LlamaState:
        """Saves the context (its KV cache, the last logits) and what the Llama knows of it:
        :meth:`load_state` on this Llama, or another of the same model file and KV type with
        at least as many positions, continues as if never interrupted (the same logits, bit
        for bit)."""
        with self._exclusive():
            lb = lib()
            need = c_size_t(0)
            check(lb.llamette_state_size(self._ctx, byref(need)), "llamette_state_size")
            buf = (ctypes.c_uint8 * max(1, need.value))()
            written = c_size_t(0)
            check(lb.llamette_state_write(self._ctx, buf, need.value, byref(written)),
                  "llamette_state_write")
            n = self.n_tokens
            p = POINTER(c_float)()
            nv = c_size_t(0)
            if lb.llamette_logits(self._ctx, byref(p), byref(nv)) == Status.OK:
                scores = [p[: nv.value]]
            else:
                scores = []
            if self.verbose:
                print(f"Llama.save_state: {written.value} bytes, {n} tokens", file=sys.stderr)
            return LlamaState(
                input_ids=list(self._cached) if len(self._cached) == n else [],
                scores=scores,
                n_tokens=n,
                llama_state=ctypes.string_at(buf, written.value),
                llama_state_size=written.value,
                seed=self._seed,
            )

    def load_state(self, state: LlamaState) -> None:
        """Restores a state from :meth:`save_state`. A state that does not fit this Llama
        (another model or KV type, more positions than its context holds, damaged bytes)
        raises :class:`LlametteError` with ``Status.ERR_BAD_STATE`` and changes nothing."""
        data = bytes(state.llama_state)
        size = int(state.llama_state_size)
        if not 0 <= size <= len(data):
            raise ValueError(
                f"llama_state_size {size} does not fit the {len(data)} bytes of llama_state")
        with self._exclusive():
            buf = (ctypes.c_uint8 * max(1, size)).from_buffer_copy(data[:size].ljust(1, b"\0"))
            check(lib().llamette_state_read(self._ctx, buf, size), "llamette_state_read")
            ids = list(state.input_ids)[: state.n_tokens]
            self._cached = ids if len(ids) == self.n_tokens else []
            self._seed = state.seed
            if self.verbose:
                print(f"Llama.load_state: {size} bytes, {self.n_tokens} tokens", file=sys.stderr)

    def _sampler(self, *, temperature: float, top_k: int, top_p: float, min_p: float,
                 repeat_penalty: float, frequency_penalty: float, presence_penalty: float,
                 seed: Optional[int], logit_bias: Optional[Mapping[int, float]],
                 grammar: Optional[LlamaGrammar] = None, typical_p: float = 1.0,
                 mirostat_mode: int = 0, mirostat_tau: float = 5.0, mirostat_eta: float = 0.1,
                 logits_processor: Any = None, processor_ids: Optional[List[int]] = None,
                 errors: Optional[List[BaseException]] = None) -> Tuple[int, Any]:
        """A native sampler for these settings and the ctypes callback that must outlive it
        (None without ``logits_processor``), which sees ``processor_ids`` as the input ids."""
        lb = lib()
        ex = lb.llamette_sampler_default_params_ex()
        p = ex.base
        if seed is None:
            seed = self._seed
        if seed is None or seed < 0:
            seed = int.from_bytes(os.urandom(8), "little")
        p.seed = seed & 0xFFFFFFFFFFFFFFFF
        p.top_k = max(0, int(top_k))
        p.top_p = top_p
        p.min_p = min_p
        p.temp = temperature
        p.penalty_last_n = max(0, int(self.last_n_tokens_size))
        p.penalty_repeat = repeat_penalty
        p.penalty_freq = frequency_penalty
        p.penalty_present = presence_penalty
        if int(mirostat_mode) not in (0, 1, 2):
            raise ValueError(f"mirostat_mode must be 0, 1 or 2, not {mirostat_mode!r}")
        ex.typ_p = typical_p
        ex.mirostat = int(mirostat_mode)
        ex.mirostat_tau = mirostat_tau
        ex.mirostat_eta = mirostat_eta
        processors = _processors(logits_processor)
        s = c_void_p()
        check(lb.llamette_sampler_new_ex(self._model, byref(ex), byref(s)),
              "llamette_sampler_new_ex")
        cb = None
        try:
            if processors:
                cb = _processor_callback(processors, processor_ids if processor_ids is not None
                                         else [], errors if errors is not None else [])
                check(lb.llamette_sampler_set_logits_processor(s.value, cb, None))
            if logit_bias:
                toks = list(logit_bias.keys())
                arr = (c_float * len(toks))(*(float(logit_bias[t]) for t in toks))
                check(lb.llamette_sampler_set_logit_bias(s.value, _ids_array(toks), arr,
                                                         len(toks)))
            if grammar is not None:
                grammar._set_on(s.value, self)
        except BaseException:
            lb.llamette_sampler_free(s.value)
            raise
        return s.value, cb

    def _reuse_prefix(self, prompt: Sequence[int], sampler: int) -> int:
        """Keeps the longest prefix of the context shared with ``prompt`` (at least one prompt
        token is left to evaluate, for fresh logits) and records it in the sampler's history.
        Returns its length."""
        lb = lib()
        common = 0
        for a, b in zip(self._cached, prompt):
            if a != b:
                break
            common += 1
        common = min(common, len(prompt) - 1)
        check(lb.llamette_context_truncate(self._ctx, common))
        self._cached = list(prompt[:common])
        keep = self.last_n_tokens_size
        for t in prompt[max(0, common - keep) if keep > 0 else common:common]:
            check(lb.llamette_sampler_accept(sampler, t))
        return common

    def generate(
        self,
        tokens: Sequence[int],
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        temp: float = 0.80,
        repeat_penalty: float = 1.0,
        reset: bool = True,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        seed: Optional[int] = None,
        logit_bias: Optional[Mapping[int, float]] = None,
        grammar: Optional[LlamaGrammar] = None,
        typical_p: float = 1.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        penalize_nl: bool = True,
        logits_processor: Any = None,
    ) -> Iterator[int]:
        """Evaluates ``tokens`` and yields sampled token ids, one at a time, forever: each
        yielded id is evaluated when the iterator is resumed. Stop by leaving the loop (for
        end-of-generation ids see ``llamette_model_is_eog``). ``reset=False`` appends to what
        the context holds; ``reset=True`` reuses the longest shared prefix. With ``grammar``,
        only tokens it allows are yielded (once the text is complete, only end-of-generation
        ids); when it allows none, :class:`LlametteError` with ``Status.ERR_CONSTRAINT`` is
        raised.

        ``typical_p``, ``mirostat_mode`` (1, 2), ``mirostat_tau`` and ``mirostat_eta`` are
        llama.cpp's samplers of those names; ``tfs_z`` and ``penalize_nl`` are accepted and
        have no effect (llama.cpp removed tail-free sampling and the newline exemption).
        ``logits_processor`` (llama-cpp-python's ``LogitsProcessorList``, a list of callables
        or one) changes the raw logits before sampling: ``f(input_ids, scores) -> scores``.
        """
        del tfs_z, penalize_nl
        if not tokens:
            raise ValueError("generate() needs at least one token")
        with self._exclusive():
            lb = lib()
            ids: List[int] = list(tokens)
            errors: List[BaseException] = []
            s, keep = self._sampler(temperature=temp, top_k=top_k, top_p=top_p, min_p=min_p,
                                    repeat_penalty=repeat_penalty,
                                    frequency_penalty=frequency_penalty,
                                    presence_penalty=presence_penalty, seed=seed,
                                    logit_bias=logit_bias, grammar=grammar,
                                    typical_p=typical_p, mirostat_mode=mirostat_mode,
                                    mirostat_tau=mirostat_tau, mirostat_eta=mirostat_eta,
                                    logits_processor=logits_processor, processor_ids=ids,
                                    errors=errors)
            try:
                start = self._reuse_prefix(tokens, s) if reset else 0
                feed = list(tokens[start:])
                for t in feed:
                    check(lb.llamette_sampler_accept(s, t))
                self._eval(feed)
                tok = c_uint32(0)
                while True:
                    st = lb.llamette_sampler_sample(s, self._ctx, byref(tok))
                    if errors:
                        raise errors[0]
                    check(st, "llamette_sampler_sample")
                    t = tok.value
                    ids.append(t)
                    # Advances the grammar too (history only without one).
                    check(lb.llamette_sampler_accept_sampled(s, t),
                          "llamette_sampler_accept_sampled")
                    yield t
                    self._eval([t])
            finally:
                lb.llamette_sampler_free(s)
                del keep

    def is_eog(self, token: int) -> bool:
        """Whether ``token`` ends generation (EOS, EOT, ...)."""
        out = c_bool(False)
        check(lib().llamette_model_is_eog(self._model_handle(), token, byref(out)))
        return out.value

    # ---- generation through llamette_generate -------------------------------------------------

    def _run(self, prompt: Sequence[int], sampling: Dict[str, Any], n_predict: int,
             stop_tokens: Sequence[int], stop: Sequence[str],
             on_piece: Callable[[str], bool], abort: Optional[c_uint32] = None,
             n_logprobs: int = -1, on_token: Optional[Callable[[tuple], None]] = None,
             echo: Optional[list] = None) -> Tuple[StopReason, int]:
        """llamette_generate_ex with the context already held. Returns (reason, n_generated).

        ``on_token`` receives each generated token (not an end-of-generation one) before its
        text, as ``(token, logprob, [(alternative, logprob), ...])`` with ``n_logprobs``
        alternatives (logprob None and none with ``n_logprobs`` < 0). With ``echo`` (a list),
        the prompt is evaluated from an empty context and its own entries are appended to it
        first (llamette_prompt_logprobs; needs ``logits_all``): the prompt logprobs of
        ``echo=True``."""
        lb = lib()
        ids: List[int] = list(prompt)
        errors: List[BaseException] = []
        s, keep = self._sampler(**sampling, processor_ids=ids, errors=errors)
        try:
            if echo is not None:
                check(lb.llamette_context_truncate(self._ctx, 0))
                self._cached = []
                out = (_ffi.TokenLogprob * len(prompt))()
                bias = sampling.get("logit_bias") or {}
                bt = [int(t) for t in bias]
                bv = (c_float * max(1, len(bt)))(*(float(bias[t]) for t in bias))
                check(lb.llamette_prompt_logprobs(self._ctx, _ids_array(prompt), len(prompt),
                                                  max(0, n_logprobs), _ids_array(bt), bv,
                                                  len(bt), out), "llamette_prompt_logprobs")
                self._cached = list(prompt)
                echo.extend(_entry(t, out[i]) for i, t in enumerate(prompt))
                keep_n = self.last_n_tokens_size
                for t in (prompt[-keep_n:] if keep_n > 0 else []):
                    check(lb.llamette_sampler_accept(s, t))
                feed: List[int] = []
            else:
                common = self._reuse_prefix(prompt, s)
                feed = list(prompt[common:])
            gp = lb.llamette_generate_default_params_ex()
            gp.base.n_predict = n_predict
            stops = _ids_array(stop_tokens)
            gp.base.stop_tokens = stops
            gp.base.n_stop_tokens = len(stop_tokens)
            enc = [x.encode("utf-8") for x in stop if x]
            strs = (ctypes.c_char_p * max(1, len(enc)))(*enc)
            lens = (c_size_t * max(1, len(enc)))(*map(len, enc))
            gp.base.stop_strings = strs
            gp.base.stop_string_lens = lens
            gp.base.n_stop_strings = len(enc)
            if abort is not None:
                gp.base.abort_flag = ctypes.pointer(abort)
            gp.reuse_prefix = False
            gp.n_logprobs = n_logprobs

            def piece(_user, text, n):
                if errors:
                    return False
                try:
                    return bool(on_piece(ctypes.string_at(text, n).decode("utf-8")))
                except BaseException as e:  # re-raised below, after the C call returns
                    errors.append(e)
                    return False

            def token(_user, tok, lp):
                if errors:
                    return False
                try:
                    ids.append(tok)
                    if on_token is not None:
                        on_token(_entry(tok, lp) if lp else (tok, None, []))
                    return True
                except BaseException as e:
                    errors.append(e)
                    return False

            token_cb = None
            if on_token is not None or keep is not None:
                token_cb = _ffi.TokenFn(token)
                gp.on_token = token_cb
            cb = _ffi.PieceFn(piece)
            reason = c_int(0)
            n_gen = c_uint32(0)
            n_reused = c_size_t(0)
            st = lb.llamette_generate_ex(self._ctx, s, _ids_array(feed), len(feed), byref(gp),
                                         cb, None, byref(reason), byref(n_gen), byref(n_reused))
            if errors:
                self._cached = []
                raise errors[0]
            check(st, "llamette_generate_ex")
            self._cached = list(prompt)
            return StopReason(reason.value), n_gen.value
        finally:
            lb.llamette_sampler_free(s)
            del keep

    def _stream_pieces(self, prompt, sampling, n_predict, stop_tokens, stop, result: list,
                       n_logprobs: int = -1, echo: Optional[list] = None) -> Iterator[Any]:
        """Runs ``_run`` on a helper thread and yields its text pieces as they come (and, with
        ``n_logprobs`` >= 0, each token's entry, a tuple, before its text); appends
        (reason, n_generated) to ``result`` at the end. Closing the iterator early stops the
        generation (the abort flag and the piece callback) and waits for it."""
        with self._exclusive():
            q: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
            abort = c_uint32(0)
            cancelled = threading.Event()

            def on_piece(text: str) -> bool:
                q.put(text)
                return not cancelled.is_set()

            def work():
                try:
                    q.put(_Done(*self._run(prompt, sampling, n_predict, stop_tokens, stop,
                                           on_piece, abort, n_logprobs,
                                           q.put if n_logprobs >= 0 else None, echo)))
                except BaseException as e:
                    q.put(_Failed(e))

            t = threading.Thread(target=work, name="llamette-generate", daemon=True)
            t.start()
            try:
                while True:
                    item = q.get()
                    if isinstance(item, (str, tuple)):
                        yield item
                    elif isinstance(item, _Done):
                        result.append((item.reason, item.n_generated))
                        return
                    else:
                        raise item.error
            finally:
                cancelled.set()
                abort.value = 1
                t.join()

    def _prompt_ids(self, prompt: Union[str, bytes, Sequence[int]]) -> List[int]:
        if isinstance(prompt, (str, bytes)):
            ids = self.tokenize(prompt, add_bos=True, special=True)
        else:
            ids = [int(t) for t in prompt]
        if not ids:
            raise ValueError("the prompt is empty (no tokens to evaluate)")
        return ids

    @staticmethod
    def _n_predict(max_tokens: Optional[int]) -> int:
        return -1 if max_tokens is None or max_tokens <= 0 else int(max_tokens)

    @staticmethod
    def _stops(stop: Union[None, str, Sequence[str]]) -> List[str]:
        if stop is None:
            return []
        return [stop] if isinstance(stop, str) else list(stop)

    def create_completion(
        self,
        prompt: Union[str, bytes, Sequence[int]],
        suffix: Optional[str] = None,
        max_tokens: Optional[int] = 16,
        temperature: float = 0.8,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        logprobs: Optional[int] = None,
        echo: bool = False,
        stop: Union[None, str, Sequence[str]] = None,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        repeat_penalty: float = 1.1,
        top_k: int = 40,
        stream: bool = False,
        seed: Optional[int] = None,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        model: Optional[str] = None,
        logits_processor: Any = None,
        grammar: Optional[LlamaGrammar] = None,
        logit_bias: Optional[Mapping[int, float]] = None,
    ) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """Completes ``prompt`` (text, tokenized with BOS and special tokens parsed, or ids).

        Returns llama-cpp-python's dict: ``{"id", "object": "text_completion", "created",
        "model", "choices": [{"text", "index", "logprobs", "finish_reason"}], "usage":
        {"prompt_tokens", "completion_tokens", "total_tokens"}}``; with ``stream=True``, an
        iterator of chunks of that layout (without ``usage``), the last one with an empty text
        and the ``finish_reason``. ``max_tokens`` None or <= 0: until the context is full.
        ``finish_reason`` is "stop" (end of generation or a stop string) or "length".
        ``temperature`` <= 0 is greedy; ``seed`` None: the Llama's seed, < 0: a random one.
        ``grammar`` (a :class:`LlamaGrammar`) constrains the text: it ends with
        ``finish_reason`` "stop" once the text is a complete match, and also (empty or cut
        short) when the grammar allows no token. ``typical_p``, ``mirostat_*`` and
        ``logits_processor`` are as in :meth:`generate` (``tfs_z``: no effect).

        ``logprobs=N`` (0 to 20) fills ``logprobs`` with llama-cpp-python's layout:
        ``{"tokens", "text_offset", "token_logprobs", "top_logprobs"}`` for every generated
        token (also the one that completes a stop string; not an end-of-generation token),
        ``top_logprobs`` entries being ``{text: logprob}`` of the N most likely tokens and the
        token itself. Log-probabilities are of the model's distribution with ``logit_bias``
        added, before penalties, grammar, truncation and temperature (llama.cpp's and
        llama-cpp-python's). With ``echo=True`` the prompt's tokens come first (BOS left out;
        the first has ``None``), from every position's logits: the Llama must be made with
        ``logits_all=True``, and the prompt is evaluated again from the start. In a stream,
        each chunk carries the entries of the tokens whose text it brings.
        """
        del tfs_z
        n_lp = -1 if logprobs is None else _n_logprobs(logprobs, "logprobs")
        if echo and n_lp >= 0 and not self._logits_all:
            raise ValueError("echo=True with logprobs needs a Llama made with logits_all=True "
                             "(the prompt's logprobs come from every position's logits)")
        stop_tokens: List[int] = []
        if suffix is not None:
            # Fill in the middle: llama.cpp's /infill layout with the vocabulary's FIM tokens.
            if not isinstance(prompt, str):
                raise TypeError("suffix= needs the prompt (the prefix) as text")
            ids = self.infill_tokens(prompt, suffix, n_predict=self._n_predict(max_tokens),
                                     spm_infill=self.spm_infill)
            stop_tokens = self.infill_stop_tokens()
        else:
            ids = self._prompt_ids(prompt)
        sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                        repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
                        presence_penalty=presence_penalty, seed=seed, logit_bias=logit_bias,
                        grammar=_check_grammar(grammar), typical_p=typical_p,
                        mirostat_mode=mirostat_mode, mirostat_tau=mirostat_tau,
                        mirostat_eta=mirostat_eta, logits_processor=logits_processor)
        head = {
            "id": f"cmpl-{uuid.uuid4()}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model or self.model_path,
        }
        prefix = ""
        if echo:
            prefix = prompt if isinstance(prompt, str) else \
                self.detokenize(ids).decode("utf-8", "replace")
        n_predict = self._n_predict(max_tokens)
        stops = self._stops(stop)
        layout = None
        if n_lp >= 0:
            # llama-cpp-python's offsets: from the prompt's length (its characters, or its
            # tokens when given ids), or from 0 with echo.
            layout = _Logprobs(self, 0 if echo else len(prompt), n_lp)
        prompt_entries = [] if echo and n_lp >= 0 else None

        if stream:
            return self._completion_chunks(head, prefix, ids, sampling, n_predict, stops,
                                           n_lp, layout, prompt_entries, stop_tokens)

        pieces: List[str] = [prefix]
        entries: List[tuple] = []
        with self._exclusive():
            reason, n_gen = self._run(ids, sampling, n_predict, stop_tokens, stops,
                                      lambda p: pieces.append(p) or True, None, n_lp,
                                      entries.append if n_lp >= 0 else None, prompt_entries)
        lp = None
        if layout is not None:
            lp = layout.add(self._echoed(prompt_entries, ids) + entries)
            if prompt_entries is not None and lp["tokens"]:
                lp["token_logprobs"][0] = None
                lp["top_logprobs"][0] = None
        return {
            **head,
            "choices": [{"text": "".join(pieces), "index": 0, "logprobs": lp,
                         "finish_reason": _finish_reason(reason)}],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": n_gen,
                      "total_tokens": len(ids) + n_gen},
        }

    def _echoed(self, prompt_entries: Optional[list], ids: Sequence[int]) -> list:
        """The prompt's entries that ``echo`` reports: all but a leading BOS."""
        if not prompt_entries:
            return []
        return prompt_entries[1:] if ids and ids[0] == self._info.bos else prompt_entries

    def _completion_chunks(self, head, prefix, ids, sampling, n_predict, stops, n_lp=-1,
                           layout=None, prompt_entries=None, stop_tokens=()):
        def chunk(text, finish, lp=None):
            return {**head, "choices": [{"text": text, "index": 0, "logprobs": lp,
                                         "finish_reason": finish}]}

        result: list = []
        items = self._stream_pieces(ids, sampling, n_predict, list(stop_tokens), stops, result,
                                    n_lp, prompt_entries)
        pending: List[tuple] = []
        started = False

        def start():
            # The prompt's entries are complete before the first token or the end arrives.
            if not prefix:
                return None
            lp = None
            if layout is not None and prompt_entries is not None:
                lp = layout.add(self._echoed(prompt_entries, ids))
                if lp["tokens"]:
                    lp["token_logprobs"][0] = None
                    lp["top_logprobs"][0] = None
            return chunk(prefix, None, lp)

        try:
            for item in items:
                if not started:
                    started = True
                    first = start()
                    if first is not None:
                        yield first
                if isinstance(item, tuple):
                    pending.append(item)
                    continue
                lp = layout.add(pending) if layout is not None else None
                pending = []
                yield chunk(item, None, lp)
        finally:
            items.close()  # stops the generation when the caller leaves early
        if not started:
            first = start()
            if first is not None:
                yield first
        # Tokens whose text never came (one that completed a stop string) end the stream.
        lp = layout.add(pending) if layout is not None and pending else None
        yield chunk("", _finish_reason(result[0][0]), lp)

    def __call__(self, prompt, **kwargs):
        """Same as :meth:`create_completion`."""
        return self.create_completion(prompt, **kwargs)

    def create_chat_completion(
        self,
        messages: Sequence[Mapping[str, Any]],
        temperature: float = 0.2,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        stream: bool = False,
        stop: Union[None, str, Sequence[str]] = None,
        seed: Optional[int] = None,
        max_tokens: Optional[int] = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repeat_penalty: float = 1.1,
        logit_bias: Optional[Mapping[int, float]] = None,
        model: Optional[str] = None,
        response_format: Optional[Mapping[str, Any]] = None,
        grammar: Optional[LlamaGrammar] = None,
        typical_p: float = 1.0,
        tfs_z: float = 1.0,
        mirostat_mode: int = 0,
        mirostat_tau: float = 5.0,
        mirostat_eta: float = 0.1,
        logits_processor: Any = None,
        logprobs: Optional[bool] = None,
        top_logprobs: Optional[int] = None,
        tools: Optional[Sequence[Mapping[str, Any]]] = None,
        tool_choice: Any = None,
    ) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """Answers a conversation (``[{"role": ..., "content": ...}, ...]``) in the model's chat
        format (or the Llama's ``chat_format``). The prompt is rendered straight to token ids
        (``llamette_chat_render_ids``) and generation stops at the format's end-of-turn tokens.

        Returns ``{"id", "object": "chat.completion", "created", "model", "choices": [{"index",
        "message": {"role": "assistant", "content"}, "logprobs": None, "finish_reason"}],
        "usage"}``; with ``stream=True``, ``chat.completion.chunk`` dicts whose ``delta`` is
        first ``{"role": "assistant"}``, then ``{"content": piece}``, and ``{}`` with the
        ``finish_reason`` last.

        ``response_format`` constrains the answer as llama-cpp-python does: ``{"type":
        "json_object"}`` to a JSON object, ``{"type": "json_object", "schema": {...}}`` and
        OpenAI's ``{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}`` to
        JSON that validates against the schema (``{"type": "text"}``: no constraint); it
        replaces ``grammar``, which otherwise constrains the answer to a
        :class:`LlamaGrammar`. A schema that cannot be compiled raises :class:`LlametteError`
        (``Status.ERR_BAD_GRAMMAR``).

        ``logprobs=True`` fills each choice's ``logprobs`` with OpenAI's layout as
        llama-cpp-python builds it: ``{"content": [{"token", "bytes": None, "logprob",
        "top_logprobs": [{"token", "logprob", "bytes": None}, ...]}, ...], "refusal": None}``,
        ``top_logprobs`` (0 to 20, None: 0) being the most likely tokens followed by the
        token itself (see :meth:`create_completion`); a stream's chunks carry their tokens'.
        ``typical_p``, ``mirostat_*`` and ``logits_processor`` are as in :meth:`generate`.
        ``tools`` (OpenAI's function definitions) are rendered by the model's Jinja template
        (a built-in format has no place for them: ``ValueError``); the answer is the model's
        text, not parsed into ``tool_calls``.
        """
        del tfs_z
        n_lp = -1
        if logprobs:
            n_lp = _n_logprobs(top_logprobs or 0, "top_logprobs")
        from_format = grammar_of_response_format(response_format)
        if from_format is not None:
            grammar = from_format
        del tool_choice  # the template decides how tools are offered
        ids = self.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                       tools=tools)
        stop_tokens = self.chat_stop_tokens()
        sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                        repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
                        presence_penalty=presence_penalty, seed=seed, logit_bias=logit_bias,
                        grammar=_check_grammar(grammar), typical_p=typical_p,
                        mirostat_mode=mirostat_mode, mirostat_tau=mirostat_tau,
                        mirostat_eta=mirostat_eta, logits_processor=logits_processor)
        layout = _Logprobs(self, 0, n_lp) if n_lp >= 0 else None
        head = {
            "id": f"chatcmpl-{uuid.uuid4()}",
            "created": int(time.time()),
            "model": model or self.model_path,
        }
        n_predict = self._n_predict(max_tokens)
        stops = self._stops(stop)
        if stream:
            return self._chat_chunks(head, ids, sampling, n_predict, stop_tokens, stops, n_lp,
                                     layout)
        pieces: List[str] = []
        entries: List[tuple] = []
        with self._exclusive():
            reason, n_gen = self._run(ids, sampling, n_predict, stop_tokens, stops,
                                      lambda p: pieces.append(p) or True, None, n_lp,
                                      entries.append if n_lp >= 0 else None)
        lp = _chat_logprobs(layout.add(entries)) if layout is not None else None
        return {
            **head,
            "object": "chat.completion",
            "choices": [{"index": 0,
                         "message": {"role": "assistant", "content": "".join(pieces)},
                         "logprobs": lp, "finish_reason": _finish_reason(reason)}],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": n_gen,
                      "total_tokens": len(ids) + n_gen},
        }

    def _chat_chunks(self, head, ids, sampling, n_predict, stop_tokens, stops, n_lp=-1,
                     layout=None):
        def chunk(delta, finish, lp=None):
            return {**head, "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "logprobs": lp,
                                 "finish_reason": finish}]}

        result: list = []
        items = self._stream_pieces(ids, sampling, n_predict, stop_tokens, stops, result, n_lp)
        pending: List[tuple] = []
        try:
            yield chunk({"role": "assistant"}, None)
            for item in items:
                if isinstance(item, tuple):
                    pending.append(item)
                    continue
                lp = _chat_logprobs(layout.add(pending)) if layout is not None else None
                pending = []
                yield chunk({"content": item}, None, lp)
        finally:
            items.close()  # stops the generation when the caller leaves early
        lp = _chat_logprobs(layout.add(pending)) if layout is not None and pending else None
        yield chunk({}, _finish_reason(result[0][0]), lp)
