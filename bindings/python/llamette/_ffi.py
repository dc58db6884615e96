"""ctypes declarations of ``include/llamette.h`` and the search for the shared library.

Everything here mirrors the C header one to one; the friendly API is in :mod:`llamette.llama`.
The library is looked for, in order:

1. ``$LLAMETTE_LIB``: the full path of ``libllamette.so`` / ``libllamette.dylib`` /
   ``llamette.dll``;
2. a copy next to this package (``llamette/libllamette.so``; ``pip install`` puts one there when
   it is run after ``cargo build --release --features ffi`` in the repository);
3. the repository's ``target/release`` (or ``$CARGO_TARGET_DIR/release``) when the package runs
   from the source tree (``PYTHONPATH=bindings/python`` or ``pip install -e``);
4. the system's library path (``make install``), through :func:`ctypes.util.find_library`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import os
import sys
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_size_t,
    c_uint8,
    c_uint32,
    c_int32,
    c_int64,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import List, Optional

#: The C API version this binding is written against (``LLAMETTE_VERSION_*`` of the header).
VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH = 0, 1, 0

if sys.platform == "win32":
    LIBRARY_NAME = "llamette.dll"
elif sys.platform == "darwin":
    LIBRARY_NAME = "libllamette.dylib"
else:
    LIBRARY_NAME = "libllamette.so"

PACKAGE_DIR = Path(__file__).resolve().parent


class Status(enum.IntEnum):
    """``LlametteStatus``: the outcome of a C call (stable numbers)."""

    OK = 0
    ERR_NULL_ARGUMENT = 1
    ERR_INVALID_ARGUMENT = 2
    ERR_BAD_FILE = 3
    ERR_UNSUPPORTED = 4
    ERR_IO = 5
    ERR_BUFFER_TOO_SMALL = 6
    ERR_CONTEXT_FULL = 7
    ERR_BAD_TOKEN = 8
    ERR_BAD_CHAT = 9
    ERR_ALLOCATION = 10
    ERR_ABORTED = 11
    ERR_PANIC = 12
    ERR_BAD_STATE = 13
    ERR_BAD_GRAMMAR = 14
    ERR_CONSTRAINT = 15


class ChatFormat(enum.IntEnum):
    """``LlametteChatFormat``: a chat prompt format (``NONE``: the model's own)."""

    NONE = 0
    CODELLAMA_70B = 1
    LLAMA2 = 2
    CHATML = 3
    LLAMA3 = 4


class StopReason(enum.IntEnum):
    """``LlametteStopReason``: why ``llamette_generate`` stopped."""

    LENGTH = 0
    EOG = 1
    STRING = 2
    CONTEXT_FULL = 3
    CALLBACK = 4
    ABORTED = 5
    GRAMMAR = 6


class KvType(enum.IntEnum):
    """``LlametteKvType``: element type of the KV cache."""

    F16 = 0
    F32 = 1


class LlametteError(RuntimeError):
    """A llamette call failed.

    Attributes:
        status: the :class:`Status` the C function returned.
        message: ``llamette_last_error()`` right after the failing call (the detailed message),
            or the status' own description when the library gave none.
    """

    def __init__(self, status: int, message: str):
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.message = message
        name = status.name if isinstance(status, Status) else "unknown status"
        super().__init__(f"{message} (LLAMETTE_{name}, status {int(status)})")


class LibraryNotFoundError(LlametteError, OSError):
    """The shared library could not be found or loaded (see :mod:`llamette._ffi`)."""

    def __init__(self, message: str):
        self.status = None
        self.message = message
        RuntimeError.__init__(self, message)


# ---- structs ------------------------------------------------------------------------------


class ModelInfo(Structure):
    """``LlametteModelInfo``."""

    _fields_ = [
        ("n_vocab", c_uint32),
        ("n_embd", c_uint32),
        ("n_layer", c_uint32),
        ("n_ff", c_uint32),
        ("n_head", c_uint32),
        ("n_head_kv", c_uint32),
        ("head_dim", c_uint32),
        ("n_ctx_train", c_uint32),
        ("rope_freq_base", c_float),
        ("rms_eps", c_float),
        ("bos", c_int32),
        ("eos", c_int32),
        ("eot", c_int32),
        ("chat_format", c_int),
        ("copied_bytes", c_uint64),
    ]


class Message(Structure):
    """``LlametteMessage``: pointers into bytes the caller keeps alive during the call."""

    _fields_ = [
        ("role", c_char_p),
        ("role_len", c_size_t),
        ("content", c_char_p),
        ("content_len", c_size_t),
    ]


class ContextParams(Structure):
    """``LlametteContextParams``."""

    _fields_ = [
        ("n_ctx", c_uint32),
        ("n_batch", c_uint32),
        ("kv_type", c_int),
        ("logits_all", c_bool),
    ]


class ContextParamsEx(Structure):
    """``LlametteContextParamsEx`` (``size`` is set by ``llamette_context_default_params_ex``)."""

    _fields_ = [
        ("size", c_size_t),
        ("n_ctx", c_uint32),
        ("n_batch", c_uint32),
        ("kv_type", c_int),
        ("logits_all", c_bool),
        ("n_seq_max", c_uint32),
        ("n_outputs_max", c_uint32),
        ("embeddings", c_bool),
    ]


class BatchToken(Structure):
    """``LlametteBatchToken``: one token of a ``llamette_decode`` batch (``seqs``: a bitset)."""

    _fields_ = [
        ("token", c_uint32),
        ("pos", c_uint32),
        ("seqs", c_uint64),
        ("logits", c_bool),
    ]


class SamplerParams(Structure):
    """``LlametteSamplerParams``."""

    _fields_ = [
        ("seed", c_uint64),
        ("top_k", c_uint32),
        ("top_p", c_float),
        ("min_p", c_float),
        ("temp", c_float),
        ("penalty_last_n", c_uint32),
        ("penalty_repeat", c_float),
        ("penalty_freq", c_float),
        ("penalty_present", c_float),
        ("min_keep", c_uint32),
    ]


class GenerateParams(Structure):
    """``LlametteGenerateParams``."""

    _fields_ = [
        ("n_predict", c_int32),
        ("stop_tokens", POINTER(c_uint32)),
        ("n_stop_tokens", c_size_t),
        ("stop_strings", POINTER(c_char_p)),
        ("stop_string_lens", POINTER(c_size_t)),
        ("n_stop_strings", c_size_t),
        ("abort_flag", POINTER(c_uint32)),
    ]


class PerfContextData(Structure):
    """``LlamettePerfContextData``: llama.cpp's ``llama_perf_context_data``."""

    _fields_ = [
        ("t_start_ms", c_double),
        ("t_load_ms", c_double),
        ("t_p_eval_ms", c_double),
        ("t_eval_ms", c_double),
        ("n_p_eval", c_int32),
        ("n_eval", c_int32),
        ("n_reused", c_int32),
    ]


#: ``LLAMETTE_MAX_TOP_LOGPROBS``.
MAX_TOP_LOGPROBS = 20


class TokenLogprob(Structure):
    """``LlametteTokenLogprob``: a token's log-probability and the most likely tokens."""

    _fields_ = [
        ("token", c_uint32),
        ("logprob", c_float),
        ("n_top", c_uint32),
        ("top_tokens", c_uint32 * MAX_TOP_LOGPROBS),
        ("top_logprobs", c_float * MAX_TOP_LOGPROBS),
    ]



class SamplerParamsEx(Structure):
    """``LlametteSamplerParamsEx`` (``size`` is set by ``llamette_sampler_default_params_ex``):
    the rest of llama.cpp's samplers around the ``LlametteSamplerParams`` in ``base``."""

    _fields_ = [
        ("size", c_size_t),
        ("base", SamplerParams),
        ("typ_p", c_float),
        ("top_n_sigma", c_float),
        ("xtc_probability", c_float),
        ("xtc_threshold", c_float),
        ("dynatemp_range", c_float),
        ("dynatemp_exponent", c_float),
        ("mirostat", c_uint32),
        ("mirostat_tau", c_float),
        ("mirostat_eta", c_float),
        ("dry_multiplier", c_float),
        ("dry_base", c_float),
        ("dry_allowed_length", c_uint32),
        ("dry_penalty_last_n", c_uint32),
        ("dry_sequence_breakers", POINTER(c_char_p)),
        ("n_dry_sequence_breakers", c_size_t),
    ]


#: ``LlametteTokenFn``: each generated token with its logprob (NULL when none were asked).
TokenFn = CFUNCTYPE(c_bool, c_void_p, c_uint32, POINTER(TokenLogprob))
#: ``LlametteLogitsProcessorFn``: the raw logits, changed in place by the host.
LogitsProcessorFn = CFUNCTYPE(None, c_void_p, POINTER(c_float), c_size_t)


class GenerateParamsEx(Structure):
    """``LlametteGenerateParamsEx`` (``size`` is set by
    ``llamette_generate_default_params_ex``)."""

    _fields_ = [
        ("size", c_size_t),
        ("base", GenerateParams),
        ("reuse_prefix", c_bool),
        ("n_logprobs", c_int32),
        ("on_token", TokenFn),
        ("token_user", c_void_p),
    ]



class VocabInfo(Structure):
    """``LlametteVocabInfo``: the vocabulary's special tokens (-1: none) and flags; set
    ``size`` before the call."""

    _fields_ = [
        ("size", c_size_t),
        ("n_tokens", c_uint32),
        ("bos", c_int32),
        ("eos", c_int32),
        ("eot", c_int32),
        ("eom", c_int32),
        ("unk", c_int32),
        ("sep", c_int32),
        ("pad", c_int32),
        ("mask", c_int32),
        ("nl", c_int32),
        ("fim_pre", c_int32),
        ("fim_suf", c_int32),
        ("fim_mid", c_int32),
        ("fim_pad", c_int32),
        ("fim_rep", c_int32),
        ("fim_sep", c_int32),
        ("add_bos", c_bool),
        ("add_eos", c_bool),
        ("add_space_prefix", c_bool),
    ]


class InfillChunk(Structure):
    """``LlametteInfillChunk``: one extra file of a fill-in-the-middle prompt."""

    _fields_ = [
        ("filename", c_char_p),
        ("filename_len", c_size_t),
        ("text", c_char_p),
        ("text_len", c_size_t),
    ]


class InfillParams(Structure):
    """``LlametteInfillParams``."""

    _fields_ = [
        ("n_batch", c_uint32),
        ("n_predict", c_int32),
        ("n_ctx", c_uint32),
        ("spm_infill", c_bool),
    ]


#: ``LLAMETTE_TOKEN_ATTR_*``: llama.cpp's token attribute bits.
TOKEN_ATTRS = {
    "unknown": 1 << 0, "unused": 1 << 1, "normal": 1 << 2, "control": 1 << 3,
    "user_defined": 1 << 4, "byte": 1 << 5, "normalized": 1 << 6, "lstrip": 1 << 7,
    "rstrip": 1 << 8, "single_word": 1 << 9,
}


# Callbacks. The task function is taken as a plain address (c_void_p) so that the parallel
# callback can cache one ctypes wrapper per address instead of building one per call.
TaskFn = CFUNCTYPE(None, c_void_p, c_uint32)
ParallelFn = CFUNCTYPE(None, c_void_p, c_uint32, c_void_p, c_void_p)
PieceFn = CFUNCTYPE(c_bool, c_void_p, POINTER(ctypes.c_char), c_size_t)

Model_p = c_void_p
Context_p = c_void_p
Sampler_p = c_void_p
Detokenizer_p = c_void_p
Grammar_p = c_void_p

_S = c_int  # LlametteStatus
_u32p = POINTER(c_uint32)
_sizep = POINTER(c_size_t)

# name: (restype, argtypes)
_FUNCTIONS = {
    "llamette_status_message": (c_char_p, [c_int]),
    "llamette_last_error": (c_char_p, []),
    "llamette_version": (c_uint32, []),
    "llamette_model_from_memory": (_S, [POINTER(c_uint8), c_size_t, POINTER(Model_p)]),
    "llamette_model_load": (_S, [c_char_p, POINTER(Model_p)]),
    "llamette_model_free": (None, [Model_p]),
    "llamette_model_info": (_S, [Model_p, POINTER(ModelInfo)]),
    "llamette_model_architecture": (_S, [Model_p, c_void_p, c_size_t, _sizep]),
    "llamette_model_meta_string": (_S, [Model_p, c_char_p, c_void_p, c_size_t, _sizep]),
    "llamette_model_is_eog": (_S, [Model_p, c_uint32, POINTER(c_bool)]),
    "llamette_tokenize": (
        _S,
        [Model_p, c_char_p, c_size_t, c_bool, c_bool, _u32p, c_size_t, _sizep],
    ),
    "llamette_token_to_piece": (_S, [Model_p, c_uint32, c_bool, c_void_p, c_size_t, _sizep]),
    "llamette_detokenizer_new": (_S, [Model_p, POINTER(Detokenizer_p)]),
    "llamette_detokenizer_push": (
        _S,
        [Detokenizer_p, c_uint32, POINTER(ctypes.POINTER(ctypes.c_char)), _sizep],
    ),
    "llamette_detokenizer_finish": (
        _S,
        [Detokenizer_p, POINTER(ctypes.POINTER(ctypes.c_char)), _sizep],
    ),
    "llamette_detokenizer_free": (None, [Detokenizer_p]),
    "llamette_chat_render_ids": (
        _S,
        [Model_p, c_int, POINTER(Message), c_size_t, c_bool, _u32p, c_size_t, _sizep],
    ),
    "llamette_chat_render": (
        _S,
        [Model_p, c_int, POINTER(Message), c_size_t, c_bool, c_void_p, c_size_t, _sizep],
    ),
    "llamette_chat_stop_tokens": (_S, [Model_p, c_int, _u32p, c_size_t, _sizep]),
    "llamette_context_default_params": (ContextParams, []),
    "llamette_context_required_bytes": (_S, [Model_p, POINTER(ContextParams), _sizep]),
    "llamette_context_new": (_S, [Model_p, POINTER(ContextParams), POINTER(Context_p)]),
    "llamette_context_free": (None, [Context_p]),
    "llamette_context_set_parallel": (_S, [Context_p, ParallelFn, c_void_p, c_uint32]),
    "llamette_eval": (_S, [Context_p, _u32p, c_size_t]),
    "llamette_logits": (_S, [Context_p, POINTER(POINTER(c_float)), _sizep]),
    "llamette_logits_at": (_S, [Context_p, c_size_t, POINTER(POINTER(c_float)), _sizep]),
    "llamette_context_n_past": (c_uint32, [Context_p]),
    "llamette_context_truncate": (_S, [Context_p, c_uint32]),
    "llamette_context_default_params_ex": (ContextParamsEx, []),
    "llamette_context_required_bytes_ex": (_S, [Model_p, POINTER(ContextParamsEx), _sizep]),
    "llamette_context_new_ex": (_S, [Model_p, POINTER(ContextParamsEx), POINTER(Context_p)]),
    "llamette_decode": (_S, [Context_p, POINTER(BatchToken), c_size_t]),
    "llamette_logits_ith": (_S, [Context_p, c_size_t, POINTER(POINTER(c_float)), _sizep]),
    "llamette_seq_rm": (_S, [Context_p, c_int32, c_int64, c_int64]),
    "llamette_seq_cp": (_S, [Context_p, c_int32, c_int32, c_int64, c_int64]),
    "llamette_seq_keep": (_S, [Context_p, c_int32]),
    "llamette_seq_add": (_S, [Context_p, c_int32, c_int64, c_int64, c_int64]),
    "llamette_seq_div": (_S, [Context_p, c_int32, c_int64, c_int64, c_int32]),
    "llamette_seq_pos_min": (_S, [Context_p, c_int32, POINTER(c_int64)]),
    "llamette_seq_pos_max": (_S, [Context_p, c_int32, POINTER(c_int64)]),
    "llamette_context_reuse_prefix": (_S, [Context_p, _u32p, c_size_t, _sizep]),
    "llamette_state_size": (_S, [Context_p, _sizep]),
    "llamette_state_write": (_S, [Context_p, POINTER(c_uint8), c_size_t, _sizep]),
    "llamette_state_read": (_S, [Context_p, POINTER(c_uint8), c_size_t]),
    "llamette_state_seq_size": (_S, [Context_p, c_int32, _sizep]),
    "llamette_state_seq_write": (_S, [Context_p, c_int32, POINTER(c_uint8), c_size_t, _sizep]),
    "llamette_state_seq_read": (_S, [Context_p, c_int32, POINTER(c_uint8), c_size_t]),
    "llamette_state_save_file": (_S, [Context_p, c_char_p]),
    "llamette_state_load_file": (_S, [Context_p, c_char_p]),
    "llamette_sampler_default_params": (SamplerParams, []),
    "llamette_sampler_new": (_S, [Model_p, POINTER(SamplerParams), POINTER(Sampler_p)]),
    "llamette_sampler_set_logit_bias": (
        _S,
        [Sampler_p, _u32p, POINTER(c_float), c_size_t],
    ),
    "llamette_sampler_sample": (_S, [Sampler_p, Context_p, _u32p]),
    "llamette_sampler_accept": (_S, [Sampler_p, c_uint32]),
    "llamette_sampler_reset": (None, [Sampler_p]),
    "llamette_sampler_free": (None, [Sampler_p]),
    "llamette_generate": (
        _S,
        [
            Context_p,
            Sampler_p,
            _u32p,
            c_size_t,
            POINTER(GenerateParams),
            PieceFn,
            c_void_p,
            POINTER(c_int),
            _u32p,
        ],
    ),
    "llamette_generate_reusing": (
        _S,
        [
            Context_p,
            Sampler_p,
            _u32p,
            c_size_t,
            POINTER(GenerateParams),
            PieceFn,
            c_void_p,
            POINTER(c_int),
            _u32p,
            POINTER(c_size_t),
        ],
    ),
    "llamette_grammar_from_gbnf": (
        _S,
        [Model_p, c_char_p, c_size_t, c_char_p, POINTER(Grammar_p)],
    ),
    "llamette_grammar_from_json_schema": (_S, [c_char_p, c_size_t, POINTER(Grammar_p)]),
    "llamette_grammar_from_regex": (_S, [c_char_p, c_size_t, POINTER(Grammar_p)]),
    "llamette_grammar_json_object": (_S, [POINTER(Grammar_p)]),
    "llamette_grammar_free": (None, [Grammar_p]),
    "llamette_sampler_set_grammar": (_S, [Sampler_p, Grammar_p]),
    "llamette_sampler_accept_sampled": (_S, [Sampler_p, c_uint32]),
    "llamette_perf_context": (_S, [Context_p, POINTER(PerfContextData)]),
    "llamette_perf_context_reset": (_S, [Context_p]),
    "llamette_token_logprobs": (
        _S,
        [Context_p, c_uint32, c_uint32, _u32p, POINTER(c_float), c_size_t,
         POINTER(TokenLogprob)],
    ),
    "llamette_prompt_logprobs": (
        _S,
        [Context_p, _u32p, c_size_t, c_uint32, _u32p, POINTER(c_float), c_size_t,
         POINTER(TokenLogprob)],
    ),
    "llamette_sampler_default_params_ex": (SamplerParamsEx, []),
    "llamette_sampler_new_ex": (_S, [Model_p, POINTER(SamplerParamsEx), POINTER(Sampler_p)]),
    "llamette_sampler_set_logits_processor": (_S, [Sampler_p, LogitsProcessorFn, c_void_p]),
    "llamette_chat_render_template": (
        _S,
        [Model_p, c_char_p, c_size_t, POINTER(Message), c_size_t, c_bool, c_void_p, c_size_t,
         _sizep],
    ),
    "llamette_chat_render_template_json": (
        _S,
        [Model_p, c_char_p, c_size_t, c_char_p, c_size_t, c_char_p, c_size_t, c_char_p,
         c_size_t, c_bool, c_void_p, c_size_t, _sizep],
    ),
    "llamette_vocab_info": (_S, [Model_p, POINTER(VocabInfo)]),
    "llamette_token_attr": (_S, [Model_p, c_uint32, _u32p]),
    "llamette_vocab_eog_tokens": (_S, [Model_p, _u32p, c_size_t, _sizep]),
    "llamette_infill_default_params": (InfillParams, []),
    "llamette_infill_tokens": (
        _S,
        [Model_p, c_char_p, c_size_t, c_char_p, c_size_t, POINTER(InfillChunk), c_size_t,
         _u32p, c_size_t, POINTER(InfillParams), _u32p, c_size_t, _sizep],
    ),
    "llamette_infill_stop_tokens": (_S, [Model_p, _u32p, c_size_t, _sizep]),
    "llamette_model_pooling": (_S, [Model_p, POINTER(c_int32)]),
    "llamette_embeddings_ith": (_S, [Context_p, c_size_t, POINTER(POINTER(c_float)), _sizep]),
    "llamette_embed": (
        _S,
        [Context_p, POINTER(_u32p), _sizep, c_size_t, c_int32, c_int32, POINTER(c_float),
         c_size_t, _sizep],
    ),
    "llamette_sampler_state_write": (_S, [Sampler_p, POINTER(c_uint8), c_size_t, _sizep]),
    "llamette_sampler_state_read": (_S, [Sampler_p, POINTER(c_uint8), c_size_t]),
    "llamette_generate_default_params_ex": (GenerateParamsEx, []),
    "llamette_generate_ex": (
        _S,
        [
            Context_p,
            Sampler_p,
            _u32p,
            c_size_t,
            POINTER(GenerateParamsEx),
            PieceFn,
            c_void_p,
            POINTER(c_int),
            _u32p,
            POINTER(c_size_t),
        ],
    ),
}


def _candidates() -> List[tuple]:
    """(where, path) pairs to try, in order (see the module docstring)."""
    out = []
    env = os.environ.get("LLAMETTE_LIB")
    if env:
        out.append(("$LLAMETTE_LIB", Path(env)))
        return out  # an explicit choice: no silent fallback to another copy
    out.append(("next to the package", PACKAGE_DIR / LIBRARY_NAME))
    repo = PACKAGE_DIR.parent.parent.parent  # bindings/python/llamette -> repository root
    if (repo / "Cargo.toml").is_file() and (repo / "include" / "llamette.h").is_file():
        target = os.environ.get("CARGO_TARGET_DIR")
        if target:
            t = Path(target)
            out.append(("$CARGO_TARGET_DIR/release", (t if t.is_absolute() else repo / t)
                        / "release" / LIBRARY_NAME))
        out.append(("the source tree's target/release", repo / "target" / "release" / LIBRARY_NAME))
    return out


def _how_to_get_it() -> str:
    return (
        f"Build it with `cargo build --release --features ffi` in the llamette repository, then "
        f"either set LLAMETTE_LIB to the full path of {LIBRARY_NAME} (target/release/{LIBRARY_NAME}), "
        f"or copy it next to the package ({PACKAGE_DIR / LIBRARY_NAME}; `pip install "
        f"./bindings/python` does that when the library is built), or run the package from the "
        f"source tree (PYTHONPATH=bindings/python), or install it on the system library path "
        f"(`make install`)."
    )


def _load() -> tuple:
    tried = []
    for where, path in _candidates():
        if path.is_file():
            try:
                return ctypes.CDLL(str(path)), str(path)
            except OSError as e:
                tried.append(f"{where}: {path}: cannot load: {e}")
                if where == "$LLAMETTE_LIB":
                    break
        else:
            tried.append(f"{where}: {path}: not found")
    if not os.environ.get("LLAMETTE_LIB"):
        found = ctypes.util.find_library("llamette")
        if found:
            try:
                return ctypes.CDLL(found), found
            except OSError as e:
                tried.append(f"system library path: {found}: cannot load: {e}")
        else:
            tried.append("system library path: not found")
    raise LibraryNotFoundError(
        f"cannot load the llamette shared library ({LIBRARY_NAME}). Tried:\n  - "
        + "\n  - ".join(tried)
        + "\n"
        + _how_to_get_it()
    )


class _Lib:
    """The loaded library, its path, and typed functions as attributes (``lib.llamette_eval``)."""

    def __init__(self) -> None:
        self.cdll, self.path = _load()
        for name, (restype, argtypes) in _FUNCTIONS.items():
            try:
                fn = getattr(self.cdll, name)
            except AttributeError as e:
                raise LibraryNotFoundError(
                    f"{self.path} lacks {name}: it is not a llamette library of this version. "
                    + _how_to_get_it()
                ) from e
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        v = self.llamette_version()
        have = (v >> 16, (v >> 8) & 0xFF, v & 0xFF)
        # 0.x: a minor release may change the ABI; 1.x and later: the major number.
        if have[0] != VERSION_MAJOR or (VERSION_MAJOR == 0 and have[1] != VERSION_MINOR):
            raise LibraryNotFoundError(
                f"{self.path} is llamette {'.'.join(map(str, have))}, this binding needs "
                f"{VERSION_MAJOR}.{VERSION_MINOR}.x. " + _how_to_get_it()
            )
        self.version = have


_lib: Optional[_Lib] = None
_lib_lock = threading.Lock()


def lib() -> _Lib:
    """The library, loaded on first use (raises :class:`LibraryNotFoundError`)."""
    global _lib
    if _lib is None:
        with _lib_lock:
            if _lib is None:
                _lib = _Lib()
    return _lib


def last_error() -> str:
    """``llamette_last_error()`` of the calling thread."""
    raw = lib().llamette_last_error()
    return raw.decode("utf-8", "replace") if raw else ""


def check(status: int, what: str = "") -> None:
    """Raises :class:`LlametteError` for a status other than OK, with the thread's last error."""
    if status != Status.OK:
        msg = last_error()
        if not msg:
            raw = lib().llamette_status_message(status)
            msg = (what + ": " if what else "") + (raw.decode() if raw else "unknown status")
        raise LlametteError(status, msg)
