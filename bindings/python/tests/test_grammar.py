"""Grammars: LlamaGrammar (GBNF, JSON schemas, regexes, any object) in create_completion,
create_chat_completion (grammar= and response_format=) and generate(); SmolLM2's JSON answers
parse and match the schema; the tiny model's greedy texts equal the C ABI tests' (src/ffi/tests.rs,
tests/c/test_grammar.c); bad grammars raise with the line and column."""

import gc
import json

import pytest

from conftest import golden
from llamette import Llama, LlamaGrammar, LlametteError, Status, live_handles

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
}
ASK_PERSON = [{"role": "user", "content": "Give the name and age of a famous scientist as JSON."}]
WORDS = 'root ::= word (" " word){2} "."\nword ::= [a-z]{1,6}\n'


def tiny_prompt():
    return golden("tiny-codellama.q8_0.json")["cases"][0]["prompt"]


def assert_person(text):
    value = json.loads(text)
    assert isinstance(value, dict) and set(value) == {"name", "age"}, text
    assert isinstance(value["name"], str) and 0 < len(value["name"]) <= 40, text
    assert type(value["age"]) is int and 0 <= value["age"] <= 150, text
    return value


def test_grammar_is_importable_where_llama_cpp_python_has_it():
    import llamette.llama_grammar as llama_grammar

    assert llama_grammar.LlamaGrammar is LlamaGrammar
    assert llama_grammar.LLAMA_GRAMMAR_DEFAULT_ROOT == "root"
    with llama_grammar.LlamaGrammar.from_string(llama_grammar.JSON_GBNF) as g:
        assert g.kind == "gbnf" and not g.closed
    assert g.closed


@pytest.mark.parametrize("response_format", [
    {"type": "json_object", "schema": PERSON},
    {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}},
])
def test_a_json_schema_response_format_gives_json_that_matches_it(smollm2, response_format):
    out = smollm2.create_chat_completion(messages=ASK_PERSON, response_format=response_format,
                                         temperature=0, max_tokens=300)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop"
    # SmolLM2's greedy answer under the schema (pinned), with llama.cpp's whitespace rule.
    assert assert_person(choice["message"]["content"]) == {"name": "John Smith", "age": 45}
    assert choice["message"]["content"] == '{\n  "name": "John Smith",\n  "age": 45\n}'
    # Streaming gives the same text; sampled answers match the schema too.
    chunks = smollm2.create_chat_completion(messages=ASK_PERSON, response_format=response_format,
                                            temperature=0, max_tokens=300, stream=True)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == choice["message"]["content"]
    for seed in (1, 2, 3):
        out = smollm2.create_chat_completion(messages=ASK_PERSON, response_format=response_format,
                                             temperature=1.0, seed=seed, max_tokens=300)
        assert out["choices"][0]["finish_reason"] == "stop"
        assert_person(out["choices"][0]["message"]["content"])


def test_a_json_object_response_format_gives_an_object(smollm2):
    out = smollm2.create_chat_completion(messages=ASK_PERSON,
                                         response_format={"type": "json_object"},
                                         temperature=0, max_tokens=300)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop"
    value = json.loads(choice["message"]["content"])
    assert isinstance(value, dict) and value["name"] == "John Smith", value
    # {"type": "text"} constrains nothing: the plain answer.
    plain = smollm2.create_chat_completion(messages=ASK_PERSON, temperature=0, max_tokens=40)
    text = smollm2.create_chat_completion(messages=ASK_PERSON, response_format={"type": "text"},
                                          temperature=0, max_tokens=40)
    assert text["choices"][0]["message"] == plain["choices"][0]["message"]


def test_gbnf_grammars_in_completions_and_chats(smollm2):
    yes_no = LlamaGrammar.from_string('root ::= "yes" | "no"')
    out = smollm2("Is Paris in France? Answer yes or no:", grammar=yes_no, max_tokens=8,
                  temperature=0)
    assert out["choices"][0]["text"] == "yes"
    assert out["choices"][0]["finish_reason"] == "stop"
    for seed in range(4):
        out = smollm2.create_completion("Is Paris in France? Answer yes or no:", grammar=yes_no,
                                        max_tokens=8, temperature=1.5, seed=seed)
        assert out["choices"][0]["text"] in ("yes", "no")
    # A token written by text (<|im_end|>) needs the model's vocabulary.
    with pytest.raises(LlametteError) as e:
        LlamaGrammar.from_string('root ::= "The answer is " [0-9]+ "." <|im_end|>')
    assert e.value.status == Status.ERR_BAD_GRAMMAR
    answer = LlamaGrammar.from_string('root ::= "The answer is " [0-9]+ "." <|im_end|>',
                                      llama=smollm2)
    out = smollm2("What is 2+2? ", grammar=answer, max_tokens=16, temperature=0)
    assert out["choices"][0]["text"] == "The answer is 4."
    # In a chat, as grammar=.
    out = smollm2.create_chat_completion(
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        grammar=LlamaGrammar.from_string('root ::= "The capital is " [A-Z] [a-z]+ "."'),
        temperature=0, max_tokens=16)
    assert out["choices"][0]["message"]["content"] == "The capital is Paris."


def test_the_tiny_models_greedy_text_under_a_grammar_is_the_c_abis(tiny):
    out = tiny(tiny_prompt(), grammar=LlamaGrammar.from_string(WORDS), max_tokens=64,
               temperature=0, repeat_penalty=1.0)
    assert out["choices"][0]["text"] == "orsw obli byoukb."
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["completion_tokens"] == 9
    out = tiny(tiny_prompt(), grammar=LlamaGrammar.from_regex("[0-9]{3}-[A-Z]{2}"),
               max_tokens=32, temperature=0, repeat_penalty=1.0)
    assert out["choices"][0]["text"] == "290-ER"
    out = tiny(tiny_prompt(), grammar=LlamaGrammar.json_object(), max_tokens=8, temperature=0,
               repeat_penalty=1.0)
    assert out["choices"][0]["text"] == "{}"


def test_generate_follows_the_grammar_token_by_token(tiny):
    grammar = LlamaGrammar.from_regex("[0-9]{3}-[A-Z]{2}")
    ids = []
    for t in tiny.generate(tiny_prompt(), temp=0, repeat_penalty=1.0, grammar=grammar):
        if tiny.is_eog(t):
            break
        ids.append(t)
        assert len(ids) < 16
    assert tiny.detokenize(ids) == b"290-ER"
    # A grammar made with one Llama works on another of the same file (tokens written by text
    # are resolved again).
    step = LlamaGrammar.from_string('root ::= [0-9] [0-9] " " <step>', llama=tiny)
    with Llama(model_path=tiny.model_path, n_ctx=64) as other:
        it = other.generate(tiny_prompt(), temp=0, repeat_penalty=1.0, grammar=step)
        got = [next(it) for _ in range(5)]
        it.close()
        assert got[3] == 1023 and other.is_eog(got[4]), got
        assert other.detokenize(got[:3])[:2].isdigit()


def test_a_grammar_that_allows_nothing_stops_at_once(tiny):
    nothing = LlamaGrammar.from_regex(r"[^\s\S]")
    out = tiny(tiny_prompt(), grammar=nothing, max_tokens=8, temperature=0)
    assert out["choices"][0]["text"] == ""
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["completion_tokens"] == 0
    it = tiny.generate(tiny_prompt(), grammar=nothing)
    with pytest.raises(LlametteError) as e:
        next(it)
    assert e.value.status == Status.ERR_CONSTRAINT
    assert "regular expression" in e.value.message
    # The Llama is still usable.
    assert tiny(tiny_prompt(), max_tokens=2)["usage"]["completion_tokens"] == 2


def test_bad_grammars_raise_with_where_they_are_wrong(tiny, tmp_path):
    with pytest.raises(LlametteError) as e:
        LlamaGrammar.from_string('root ::= "a" b')
    assert e.value.status == Status.ERR_BAD_GRAMMAR
    assert e.value.message == ("llamette_grammar_from_gbnf: bad grammar: GBNF line 1, column 14: "
                               "undefined rule 'b'")
    with pytest.raises(LlametteError, match=r"GBNF line 3, column 1: unexpected end of input in a character class"):
        LlamaGrammar.from_string('root ::= "a"\nfoo ::= [a-z\n')
    with pytest.raises(LlametteError, match=r"no 'root' rule"):
        LlamaGrammar.from_string('start ::= "a"')
    assert LlamaGrammar.from_string('start ::= "a"', root="start").kind == "gbnf"
    with pytest.raises(LlametteError) as e:
        LlamaGrammar.from_json_schema('{"type": "object",\n "properties": }')
    assert e.value.status == Status.ERR_BAD_GRAMMAR
    assert "JSON schema line 2, column 16" in e.value.message, e.value.message
    with pytest.raises(LlametteError) as e:
        LlamaGrammar.from_regex("a(b")
    assert e.value.status == Status.ERR_BAD_GRAMMAR
    # Files.
    path = tmp_path / "yes.gbnf"
    path.write_text('root ::= "yes"\n', encoding="utf-8")
    out = tiny(tiny_prompt(), grammar=LlamaGrammar.from_file(path), max_tokens=4)
    assert out["choices"][0]["text"] == "yes"
    path.write_text('root ::= "yes" |\n  | x\n', encoding="utf-8")
    with pytest.raises(LlametteError, match=r"GBNF line 2, column 5: undefined rule 'x'"):
        LlamaGrammar.from_file(str(path))
    # response_format: a schema that does not compile, an unknown type; grammar= of a string.
    bad_ref = {"type": "json_object", "schema": {"$ref": "#/$defs/missing"}}
    with pytest.raises(LlametteError) as e:
        tiny.create_chat_completion(messages=ASK_PERSON, response_format=bad_ref)
    assert e.value.status == Status.ERR_BAD_GRAMMAR
    with pytest.raises(ValueError, match="unknown response_format type 'yaml'"):
        tiny.create_chat_completion(messages=ASK_PERSON, response_format={"type": "yaml"})
    with pytest.raises(ValueError, match="json_schema"):
        tiny.create_chat_completion(messages=ASK_PERSON, response_format={"type": "json_schema"})
    with pytest.raises(TypeError, match="LlamaGrammar"):
        tiny(tiny_prompt(), grammar='root ::= "yes"')


def test_grammars_are_freed(tiny):
    gc.collect()
    base = live_handles().get("grammar", 0)
    grammars = [LlamaGrammar.from_string(WORDS) for _ in range(5)]
    assert live_handles()["grammar"] == base + 5
    grammars[0].close()
    grammars[0].close()  # idempotent
    assert live_handles()["grammar"] == base + 4
    with pytest.raises(ValueError, match="closed"):
        tiny(tiny_prompt(), grammar=grammars[0], max_tokens=2)
    # A sampler keeps its own copy: the grammar may go during a stream.
    g = grammars.pop()
    stream = tiny(tiny_prompt(), grammar=g, max_tokens=64, temperature=0, repeat_penalty=1.0,
                  stream=True)
    first = next(stream)["choices"][0]["text"]
    g.close()
    assert first + "".join(c["choices"][0]["text"] for c in stream) == "orsw obli byoukb."
    del grammars, g
    gc.collect()
    assert live_handles().get("grammar", 0) == base
