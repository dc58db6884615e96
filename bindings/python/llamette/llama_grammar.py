"""Grammars that constrain generation, as llama-cpp-python's ``llama_cpp.llama_grammar``.

::

    from llamette import Llama, LlamaGrammar

    yes_no = LlamaGrammar.from_string('root ::= "yes" | "no"')
    llm("Is Paris in France? Answer: ", grammar=yes_no)
    person = LlamaGrammar.from_json_schema('{"type": "object", "properties": '
                                           '{"name": {"type": "string"}}, "required": ["name"]}')

A :class:`LlamaGrammar` is parsed and checked when it is made (a bad grammar raises
:class:`~llamette.LlametteError` with ``Status.ERR_BAD_GRAMMAR`` and the line and column in the
message), holds a native ``LlametteGrammar`` handle, and is immutable: one grammar may be used
by any number of Llamas and threads at once. Its handle is freed by :meth:`LlamaGrammar.close`
(or a ``with`` block, or the finalizer).
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from ctypes import byref, c_void_p
from typing import Any, Mapping, Optional, Union

from ._ffi import check, lib

#: The rule a GBNF grammar starts from unless told otherwise.
LLAMA_GRAMMAR_DEFAULT_ROOT = "root"

#: llama.cpp's ``grammars/json.gbnf`` (llama-cpp-python's ``JSON_GBNF``): a JSON object.
JSON_GBNF = r"""root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
"""

_live_lock = threading.Lock()
_live = 0


def live_grammars() -> int:
    """How many native grammar handles are alive (a diagnostic for leak tests)."""
    return _live


def _count(delta: int) -> None:
    global _live
    with _live_lock:
        _live += delta


def _free(handle: int) -> None:
    lib().llamette_grammar_free(handle)
    _count(-1)


def _compile(kind: str, source: str, root: str, model: Optional[int]) -> int:
    """A new native handle (the caller frees it)."""
    lb = lib()
    out = c_void_p()
    data = source.encode("utf-8")
    if kind == "gbnf":
        check(lb.llamette_grammar_from_gbnf(model, data, len(data), root.encode("utf-8"),
                                            byref(out)), "llamette_grammar_from_gbnf")
    elif kind == "json_schema":
        check(lb.llamette_grammar_from_json_schema(data, len(data), byref(out)),
              "llamette_grammar_from_json_schema")
    elif kind == "regex":
        check(lb.llamette_grammar_from_regex(data, len(data), byref(out)),
              "llamette_grammar_from_regex")
    elif kind == "json_object":
        check(lb.llamette_grammar_json_object(byref(out)), "llamette_grammar_json_object")
    else:  # pragma: no cover
        raise AssertionError(kind)
    _count(1)
    return out.value


class LlamaGrammar:
    """A grammar for ``grammar=`` of :meth:`Llama.create_completion`,
    :meth:`Llama.create_chat_completion` and :meth:`Llama.generate`.

    Made by :meth:`from_string` (GBNF, llama.cpp's grammar format), :meth:`from_file`,
    :meth:`from_json_schema`, :meth:`from_regex` or :meth:`json_object`. Generation under a
    grammar only produces text the grammar allows, and ends (with the model's end-of-generation
    token, ``finish_reason`` "stop") once the text is a complete match that nothing can
    continue.

    Attributes:
        kind: "gbnf", "json_schema", "regex" or "json_object".
    """

    def __init__(self, *, _grammar: str, _kind: str = "gbnf",
                 _root: str = LLAMA_GRAMMAR_DEFAULT_ROOT, _llama: Any = None):
        self._grammar = _grammar
        self._root = _root
        self.kind = _kind
        # A GBNF grammar made with a Llama holds that model's ids for tokens written by text
        # (<|im_end|>); used with another Llama it is compiled again for that one.
        self._llama = weakref.ref(_llama) if _llama is not None else None
        model = _llama._model_handle() if _llama is not None else None
        self._handle: Optional[int] = _compile(_kind, _grammar, _root, model)
        self._finalizer = weakref.finalize(self, _free, self._handle)

    @classmethod
    def from_string(cls, grammar: str, verbose: bool = True, *,
                    root: str = LLAMA_GRAMMAR_DEFAULT_ROOT, llama: Any = None) -> "LlamaGrammar":
        """A GBNF grammar (llama.cpp's ``grammars/README.md``), starting at rule ``root``.

        Tokens written by text in the grammar (``<|im_end|>``, ``<think>``) need the model's
        vocabulary: pass the :class:`~llamette.Llama` as ``llama``. Tokens by id (``<[42]>``)
        do not. ``verbose`` is accepted for llama-cpp-python's signature; nothing is printed.
        Raises :class:`~llamette.LlametteError` (``Status.ERR_BAD_GRAMMAR``, the message says
        the line and column) for a grammar llama.cpp would refuse.
        """
        del verbose
        return cls(_grammar=grammar, _kind="gbnf", _root=root, _llama=llama)

    @classmethod
    def from_file(cls, file: Union[str, "os.PathLike[str]"], verbose: bool = True, *,
                  root: str = LLAMA_GRAMMAR_DEFAULT_ROOT, llama: Any = None) -> "LlamaGrammar":
        """A GBNF grammar read from a UTF-8 file (see :meth:`from_string`)."""
        with open(file, encoding="utf-8") as f:
            text = f.read()
        return cls.from_string(text, verbose, root=root, llama=llama)

    @classmethod
    def from_json_schema(cls, json_schema: Union[str, Mapping[str, Any]],
                         verbose: bool = True) -> "LlamaGrammar":
        """One JSON value that validates against ``json_schema`` (its JSON text, or a dict),
        with llama.cpp's whitespace between items. The schema is compiled as llama.cpp's
        ``json_schema_to_grammar`` reads it (types, ``properties``/``required``, ``enum``,
        ``const``, ``items``, lengths, ``pattern``, ``format``, number bounds,
        ``$ref``/``$defs``, ``anyOf``/``oneOf``/``allOf``; no properties besides those listed).
        Raises :class:`~llamette.LlametteError` (``Status.ERR_BAD_GRAMMAR``) for text that is
        not JSON (the message says the line and column) or a schema that cannot be compiled.
        """
        del verbose
        if not isinstance(json_schema, str):
            json_schema = json.dumps(json_schema)
        return cls(_grammar=json_schema, _kind="json_schema")

    @classmethod
    def from_regex(cls, pattern: str) -> "LlamaGrammar":
        """Text that the regular expression ``pattern`` (Rust ``regex`` syntax) matches as a
        whole."""
        return cls(_grammar=pattern, _kind="regex")

    @classmethod
    def json_object(cls) -> "LlamaGrammar":
        """Any JSON object (``response_format={"type": "json_object"}`` without a schema)."""
        return cls(_grammar="", _kind="json_object")

    # ---- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Frees the native handle now (idempotent). Samplers it was set on keep their own
        copy; the grammar cannot be used afterwards."""
        self._handle = None
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> "LlamaGrammar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        text = self._grammar if len(self._grammar) <= 40 else self._grammar[:37] + "..."
        return f"LlamaGrammar({self.kind}, {text!r})"

    # ---- use --------------------------------------------------------------------------------

    def _set_on(self, sampler: int, llama: Any) -> None:
        """Constrains a native sampler of ``llama``'s model with this grammar."""
        handle = self._handle
        if handle is None or self.closed:
            raise ValueError("the grammar is closed")
        lb = lib()
        own = self._llama() if self._llama is not None else None
        if self._llama is None or own is llama:
            check(lb.llamette_sampler_set_grammar(sampler, handle), "llamette_sampler_set_grammar")
            return
        # Tokens written by text were resolved in another model: resolve them in this one.
        fresh = _compile(self.kind, self._grammar, self._root, llama._model_handle())
        try:
            check(lb.llamette_sampler_set_grammar(sampler, fresh), "llamette_sampler_set_grammar")
        finally:
            _free(fresh)


def grammar_of_response_format(response_format: Optional[Mapping[str, Any]]
                               ) -> Optional[LlamaGrammar]:
    """The grammar of an OpenAI/llama-cpp-python ``response_format``: None for None and
    ``{"type": "text"}``; :meth:`LlamaGrammar.json_object` for ``{"type": "json_object"}``; the
    schema's grammar for ``{"type": "json_object", "schema": {...}}`` and for OpenAI's
    ``{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}``."""
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        schema = response_format.get("schema")
        if schema is None:
            return LlamaGrammar.json_object()
        return LlamaGrammar.from_json_schema(schema)
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if schema is None:
            raise ValueError('response_format {"type": "json_schema"} needs '
                             '"json_schema": {"schema": {...}}')
        return LlamaGrammar.from_json_schema(schema)
    raise ValueError(f"unknown response_format type {kind!r} (known: 'text', 'json_object', "
                     f"'json_schema')")
