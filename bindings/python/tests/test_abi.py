"""The ctypes declarations match include/llamette.h: struct sizes and field offsets as a C
compiler lays them out, enum values, and the functions the header declares."""

import ctypes
import re
import shutil
import subprocess

import pytest

from conftest import REPO
from llamette import _ffi

HEADER = REPO / "include" / "llamette.h"
STRUCTS = {
    "LlametteModelInfo": _ffi.ModelInfo,
    "LlametteMessage": _ffi.Message,
    "LlametteContextParams": _ffi.ContextParams,
    "LlametteContextParamsEx": _ffi.ContextParamsEx,
    "LlametteBatchToken": _ffi.BatchToken,
    "LlametteSamplerParams": _ffi.SamplerParams,
    "LlametteGenerateParams": _ffi.GenerateParams,
    "LlamettePerfContextData": _ffi.PerfContextData,
    "LlametteTokenLogprob": _ffi.TokenLogprob,
    "LlametteSamplerParamsEx": _ffi.SamplerParamsEx,
    "LlametteGenerateParamsEx": _ffi.GenerateParamsEx,
    "LlametteVocabInfo": _ffi.VocabInfo,
    "LlametteInfillChunk": _ffi.InfillChunk,
    "LlametteInfillParams": _ffi.InfillParams,
}


def test_struct_layouts_match_the_c_compiler(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler (cc) to check the struct layouts: apt-get install gcc",
                    pytrace=False)
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "llamette.h"',
             "int main(void) {"]
    for name, cls in STRUCTS.items():
        lines.append(f'  printf("{name} size %zu\\n", sizeof({name}));')
        for field, _ in cls._fields_:
            lines.append(f'  printf("{name}.{field} %zu\\n", offsetof({name}, {field}));')
    lines += ["  return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", f"-I{HEADER.parent}", str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    want = dict(line.rsplit(" ", 1) for line in out.splitlines())
    for name, cls in STRUCTS.items():
        assert ctypes.sizeof(cls) == int(want[f"{name} size"]), name
        for field, _ in cls._fields_:
            assert getattr(cls, field).offset == int(want[f"{name}.{field}"]), f"{name}.{field}"


def test_every_header_function_is_declared():
    text = HEADER.read_text()
    declared = set(re.findall(r"\b(llamette_[a-z_]+)\(", text))
    # Memory and allocator variants of the C API that the Python API does not need.
    unused = {"llamette_model_from_parts", "llamette_context_new_in",
              "llamette_context_new_with_allocator", "llamette_context_new_in_ex",
              "llamette_context_new_with_allocator_ex"}
    assert declared - unused == set(_ffi._FUNCTIONS), declared ^ set(_ffi._FUNCTIONS)


def test_enums_match_the_header():
    text = HEADER.read_text()
    for enum_cls, prefix in [(_ffi.Status, "LLAMETTE_"), (_ffi.ChatFormat, "LLAMETTE_CHAT_"),
                             (_ffi.StopReason, "LLAMETTE_STOP_"), (_ffi.KvType, "LLAMETTE_KV_")]:
        for member in enum_cls:
            m = re.search(rf"\b{prefix}{member.name} = (\d+)", text)
            assert m and int(m.group(1)) == member.value, f"{prefix}{member.name}"


def test_library_version_matches_the_header():
    text = HEADER.read_text()
    want = tuple(int(re.search(rf"LLAMETTE_VERSION_{k} (\d+)", text).group(1))
                 for k in ("MAJOR", "MINOR", "PATCH"))
    assert (_ffi.VERSION_MAJOR, _ffi.VERSION_MINOR, _ffi.VERSION_PATCH) == want
    assert _ffi.lib().version[:2] == want[:2]
