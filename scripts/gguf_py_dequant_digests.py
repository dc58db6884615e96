#!/usr/bin/env python3
"""Dequantization digests of every tensor of the test models, computed with gguf-py.

Requires: Python 3.8+, `pip install gguf numpy` (made with gguf 0.19.0, numpy 2.4.6).
Runtime: about 2.5 s for the 20 models in tests/fixtures/models (2-core x86-64); --compare ~2 s.

Modes
-----
Default (write the golden file)::

    python3 scripts/gguf_py_dequant_digests.py \
        [--models tests/fixtures/models] [--out tests/fixtures/golden/dequant-gguf-py.tsv]

  For every tensor of every ``*.gguf`` in --models (files sorted by name, tensors in file
  order) dequantize with ``gguf.quants.dequantize(t.data, t.tensor_type)``, convert to float32
  little-endian in the tensor's natural element order (ne0 fastest = flat order of the data)
  and write one TAB-separated line:

    model_file  tensor_name  ggml_type_name  n_elements  sha256_hex_of_f32_bytes
    sum_as_float64_repr  max_abs

  * model_file: file name only, e.g. ``tiny-codellama.q4_k_m.gguf``
  * ggml_type_name: gguf-py's ``GGMLQuantizationType`` name (F32, F16, BF16, Q4_0, ..., Q6_K)
  * sha256: lowercase hex of SHA-256 over the n_elements*4 bytes
  * sum: ``repr(math.fsum(values as float64))``, the correctly rounded sum (Python repr,
    shortest round-trip; parse as f64)
  * max_abs: ``repr(float(max |v|))``; an f64 literal that is exactly an f32 value

  Lines starting with ``#`` are comments (the first one names the columns, the second the
  gguf-py / numpy versions).

``--write-f32 DIR``
  Also write gguf-py's dequantized values as ``DIR/<model_file>/<tensor_name>.f32`` (raw
  little-endian f32, nothing else). Used to self-test --compare.

``--compare DIR``
  Read ``DIR/<model_file>/<tensor_name>.f32`` (raw little-endian f32, as llamette's tool
  writes them), dequantize the same tensor with gguf-py, and print per ggml type: the number of
  tensors, how many are bit-identical, how many are missing/wrong-sized, the max absolute
  difference and the max difference in ulps (f32 bit patterns mapped to a monotonic integer
  line; +0 and -0 count as equal, NaN vs anything non-NaN counts as 2**32). Exit status 0 iff
  every tensor is present and bit-identical. --models selects the models compared; only
  models whose directory exists in DIR are compared unless --all-models is given.
"""

import argparse
import hashlib
import math
import os
import sys
from collections import defaultdict

import numpy as np
import gguf
from gguf import GGUFReader
from gguf.quants import dequantize

try:
    from importlib.metadata import version as _pkg_version
    GGUF_VERSION = _pkg_version("gguf")
except Exception:  # pragma: no cover
    GGUF_VERSION = "unknown"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "golden", "dequant-gguf-py.tsv")

HEADER = ("#model_file\ttensor_name\tggml_type_name\tn_elements\tsha256_hex_of_f32_bytes"
          "\tsum_as_float64_repr\tmax_abs")


def model_files(models_dir):
    return sorted(f for f in os.listdir(models_dir) if f.endswith(".gguf"))


def dequant_f32(t):
    """gguf-py dequantization of tensor t as a flat little-endian float32 array."""
    v = dequantize(t.data, t.tensor_type)
    v = np.ascontiguousarray(v, dtype="<f4").reshape(-1)
    assert v.size == int(t.n_elements), (t.name, v.size, t.n_elements)
    return v


def iter_tensors(models_dir, names=None):
    for mf in model_files(models_dir):
        if names is not None and mf not in names:
            continue
        r = GGUFReader(os.path.join(models_dir, mf))
        for t in r.tensors:
            yield mf, t


def ordered(bits_u32):
    """Map f32 bit patterns to int64 so that adjacent floats differ by 1 (-0 == +0)."""
    i = bits_u32.astype(np.int64)
    neg = i >= 0x80000000
    return np.where(neg, 0x80000000 - i, i)


def write_digests(args):
    lines = [HEADER,
             f"#made by scripts/gguf_py_dequant_digests.py with gguf-py {GGUF_VERSION}, "
             f"numpy {np.__version__}; values = gguf.quants.dequantize(t.data, t.tensor_type) "
             f"as <f4 flat (ne0 fastest); sum = math.fsum in float64; max_abs = max |v|"]
    for mf, t in iter_tensors(args.models):
        v = dequant_f32(t)
        b = v.tobytes()
        s = math.fsum(v.astype(np.float64).tolist())
        ma = float(np.max(np.abs(v))) if v.size else 0.0
        lines.append("\t".join([mf, t.name, t.tensor_type.name, str(v.size),
                                hashlib.sha256(b).hexdigest(), repr(s), repr(ma)]))
        if args.write_f32:
            d = os.path.join(args.write_f32, mf)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, t.name + ".f32"), "wb") as fh:
                fh.write(b)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines) - 2} tensors to {args.out}")


def compare(args):
    d = args.compare
    names = None
    if not args.all_models:
        names = {mf for mf in model_files(args.models) if os.path.isdir(os.path.join(d, mf))}
        if not names:
            print(f"no model directories under {d}", file=sys.stderr)
            return 2
    stats = defaultdict(lambda: {"n": 0, "ident": 0, "missing": 0, "maxabs": 0.0, "maxulp": 0})
    worst = []
    for mf, t in iter_tensors(args.models, names):
        st = stats[t.tensor_type.name]
        st["n"] += 1
        path = os.path.join(d, mf, t.name + ".f32")
        ref = dequant_f32(t)
        try:
            got = np.fromfile(path, dtype="<f4")
        except FileNotFoundError:
            st["missing"] += 1
            worst.append((mf, t.name, "missing"))
            continue
        if got.size != ref.size:
            st["missing"] += 1
            worst.append((mf, t.name, f"size {got.size} != {ref.size}"))
            continue
        rb, gb = ref.view("<u4"), got.view("<u4")
        if np.array_equal(rb, gb):
            st["ident"] += 1
            continue
        rn, gn = np.isnan(ref), np.isnan(got)
        both = rn & gn
        ulp = np.abs(ordered(rb) - ordered(gb))
        ulp = np.where(both, 0, np.where(rn | gn, 2 ** 32, ulp))
        with np.errstate(invalid="ignore", over="ignore"):
            ad = np.abs(ref.astype(np.float64) - got.astype(np.float64))
        ad = np.where(both, 0.0, np.where(rn | gn, np.inf, ad))
        st["maxabs"] = max(st["maxabs"], float(ad.max()))
        mu = int(ulp.max())
        st["maxulp"] = max(st["maxulp"], mu)
        worst.append((mf, t.name, f"max_abs {float(ad.max()):.3e} max_ulp {mu} "
                                  f"n_diff {int(np.count_nonzero(ulp))}/{ref.size}"))
    print(f"# compare {d} against gguf-py {GGUF_VERSION}")
    print(f"{'type':6} {'tensors':>7} {'bit-identical':>13} {'missing':>7} "
          f"{'max_abs_diff':>12} {'max_ulp':>10}")
    ok = True
    for ty in sorted(stats):
        st = stats[ty]
        print(f"{ty:6} {st['n']:7d} {st['ident']:13d} {st['missing']:7d} "
              f"{st['maxabs']:12.4e} {st['maxulp']:10d}")
        ok &= st["ident"] == st["n"]
    for mf, name, msg in worst[: args.show]:
        print(f"  {mf} {name}: {msg}")
    if len(worst) > args.show:
        print(f"  ... and {len(worst) - args.show} more differing tensors")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--write-f32", metavar="DIR")
    ap.add_argument("--compare", metavar="DIR")
    ap.add_argument("--all-models", action="store_true",
                    help="with --compare: treat models absent from DIR as missing")
    ap.add_argument("--show", type=int, default=20, help="differing tensors listed")
    args = ap.parse_args()
    if args.compare:
        sys.exit(compare(args))
    write_digests(args)


if __name__ == "__main__":
    main()
