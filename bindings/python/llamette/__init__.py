"""llamette: run GGUF llama models from Python, through llamette's C ABI (ctypes).

The API follows llama-cpp-python::

    from llamette import Llama

    with Llama(model_path="models/smollm2-135m-instruct.q4_1.gguf") as llm:
        out = llm("def fibonacci(n):", max_tokens=32, temperature=0)
        print(out["choices"][0]["text"])
        for chunk in llm.create_chat_completion(
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            stream=True,
        ):
            print(chunk["choices"][0]["delta"].get("content", ""), end="", flush=True)
        out = llm.create_chat_completion(  # a JSON object (or "schema": {...} for one schema)
            messages=[{"role": "user", "content": "Name a city and its country in JSON."}],
            response_format={"type": "json_object"},
        )

Grammars (:class:`LlamaGrammar`, also importable from ``llamette.llama_grammar`` as from
``llama_cpp.llama_grammar``) constrain what is generated: ``grammar=`` of the completion calls.

The shared library (``libllamette.so``, built by ``cargo build --release --features ffi``) is
found through ``$LLAMETTE_LIB``, next to the package, in the source tree's ``target/release``,
or on the system library path; :func:`library_path` says which one was loaded.
"""

from ._ffi import (
    ChatFormat,
    LibraryNotFoundError,
    LlametteError,
    Status,
    StopReason,
)
from ._ffi import lib as _lib
from .llama import DEFAULT_SEED, DEFAULT_THREADS, Llama, LlamaState, live_handles
from .llama_grammar import LlamaGrammar

__all__ = [
    "ChatFormat",
    "DEFAULT_SEED",
    "DEFAULT_THREADS",
    "LibraryNotFoundError",
    "Llama",
    "LlamaGrammar",
    "LlamaState",
    "LlametteError",
    "Status",
    "StopReason",
    "library_path",
    "library_version",
    "live_handles",
]

__version__ = "0.1.0"


def library_path() -> str:
    """The path of the shared library in use (loads it on first call)."""
    return _lib().path


def library_version() -> str:
    """The loaded library's version ("major.minor.patch")."""
    return ".".join(map(str, _lib().version))
