#!/usr/bin/env python3
"""Renders chat templates with jinja2 exactly as Hugging Face's `apply_chat_template` does,
for tests/chat_templates.rs to compare llamette's minijinja rendering against.

transformers (4.46, `utils/chat_template_utils.py`, `_compile_jinja_template`) renders in an
`ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[generation
tracker, loopcontrols])` with its own `tojson` (json.dumps, ensure_ascii=False), the globals
`raise_exception` and `strftime_now`, and `render(messages=..., tools=None or [...],
documents=None or [...], add_generation_prompt=..., **special_tokens)`. This script does the
same (the `{% generation %}` tag renders its body, as the tracker does when inactive;
`strftime_now` is pinned to NOW so the output is reproducible).

Inputs: the templates of llama.cpp's models/templates/ (inside the llama-cpp-python sdist,
see FIXTURES.md) and the `tokenizer.chat_template` of every GGUF in tests/fixtures/vocab.
Output: tests/fixtures/templates/: each llama.cpp template copied as <name>.jinja, and
expected.json: {"now", "conversations": [...], "templates": {name: {"source": "file" |
"gguf", "path", "bos_token", "eos_token", "results": [{"output": str} | {"error": str}]}}}.

    pip install jinja2==3.1.6 gguf
    python3 scripts/render_templates.py /path/to/llama.cpp/models/templates
"""

import datetime
import json
import shutil
import sys
from pathlib import Path

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "fixtures" / "templates"
NOW = 1_785_074_709  # 2026-07-26 14:05:09 UTC (strftime_now)

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city's name."},
                           "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
}]

# (messages, add_generation_prompt, tools)
CONVERSATIONS = [
    ([{"role": "user", "content": "Hello!"}], True, None),
    ([{"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "Write a function that adds two numbers."}], True, None),
    ([{"role": "system", "content": "Answer briefly."},
      {"role": "user", "content": "What is 2+2?"},
      {"role": "assistant", "content": "4"},
      {"role": "user", "content": "And 3+3?"}], True, None),
    ([{"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello, how can I help?"},
      {"role": "user", "content": "Tell me a joke."},
      {"role": "assistant", "content": "Why did the llama cross the road?"}], False, None),
    ([{"role": "user", "content": ""}], True, None),
    ([{"role": "system", "content": ""},
      {"role": "user", "content": "Say nothing."},
      {"role": "assistant", "content": ""},
      {"role": "user", "content": "Good."}], True, None),
    ([{"role": "user", "content": "Grüße aus Köln! 日本語で答えて。🦙"},
      {"role": "assistant", "content": "こんにちは — «ça va?» Привет!"},
      {"role": "user", "content": "Tabs\tand\nnewlines\n\n  and \"quotes\" <b>&amp;</b>"}],
     True, None),
    ([{"role": "user", "content": "  leading and trailing spaces  \n"}], False, None),
    ([{"role": "system", "content": "You can call tools."},
      {"role": "user", "content": "What's the weather in Paris?"}], True, TOOLS),
]


class Generation(Extension):
    """transformers' `{% generation %}...{% endgeneration %}` (its AssistantTracker, inactive:
    the body as it is)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_all(source, bos, eos):
    env = environment()
    try:
        template = env.from_string(source)
    except Exception as e:  # a syntax error: every conversation fails
        return [{"error": f"{type(e).__name__}: {e}"} for _ in CONVERSATIONS]
    results = []
    for messages, add_generation_prompt, tools in CONVERSATIONS:
        try:
            out = template.render(messages=messages, tools=tools, documents=None,
                                  add_generation_prompt=add_generation_prompt, bos_token=bos,
                                  eos_token=eos)
            results.append({"output": out})
        except Exception as e:
            results.append({"error": f"{type(e).__name__}: {e}"})
    return results


def gguf_templates():
    import gguf

    for path in sorted((REPO / "tests" / "fixtures" / "vocab").glob("*.gguf")):
        r = gguf.GGUFReader(str(path))

        def field(key):
            f = r.fields.get(key)
            return None if f is None else f.contents()

        tokens = field("tokenizer.ggml.tokens") or []

        def token(key):
            i = field(key)
            return tokens[i] if isinstance(i, int) and 0 <= i < len(tokens) else ""

        bos, eos = token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id")
        for key in sorted(k for k in r.fields if k.startswith("tokenizer.chat_template")):
            name = path.stem + ("" if key == "tokenizer.chat_template"
                                else "@" + key[len("tokenizer.chat_template."):])
            yield name, {"source": "gguf", "path": f"vocab/{path.name}", "key": key,
                         "bos_token": bos, "eos_token": eos}, field(key)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    src = Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    templates = {}
    for path in sorted(src.glob("*.jinja")):
        text = path.read_text(encoding="utf-8")
        shutil.copyfile(path, OUT / path.name)
        # llama.cpp's own test uses these tokens for most templates (tests/test-chat.cpp).
        entry = {"source": "file", "path": f"templates/{path.name}", "bos_token": "<s>",
                 "eos_token": "</s>"}
        entry["results"] = render_all(text, entry["bos_token"], entry["eos_token"])
        templates[path.stem] = entry
    for name, entry, text in gguf_templates():
        entry["results"] = render_all(text, entry["bos_token"], entry["eos_token"])
        templates[name] = entry
    conversations = [{"messages": m, "add_generation_prompt": g, "tools": t}
                     for m, g, t in CONVERSATIONS]
    doc = {"now": NOW, "jinja2": jinja2.__version__, "conversations": conversations,
           "templates": templates}
    (OUT / "expected.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n",
                                       encoding="utf-8")
    n = sum(len(t["results"]) for t in templates.values())
    errors = sum("error" in r for t in templates.values() for r in t["results"])
    print(f"{len(templates)} templates x {len(CONVERSATIONS)} conversations: {n} renders, "
          f"{errors} of them errors in jinja2")


if __name__ == "__main__":
    main()
