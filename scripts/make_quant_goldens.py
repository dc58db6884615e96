#!/usr/bin/env python3
"""Write tests/fixtures/golden/quantize-ref.bin from llama.cpp's reference activation quantizers.

Normally run through scripts/make_quant_goldens.sh, which builds the C helper first.
Requires: Python 3.8+, numpy (`pip install numpy`); for --dequant-dir also gguf
(`pip install gguf`).

  make_quant_goldens.py --ref BIN [--cpu BIN] [--out FILE] [--dequant-dir DIR]

--ref BIN   ggml_quant_ref built against ggml-quants.c (quantize_row_q8_{0,1,K}_ref)
--cpu BIN   the same program built with -DWITH_GGML_CPU_X86 (ggml-cpu's x86 AVX2 quantizers);
            if given, report how many bytes/quants differ from the _ref output (not written)
--dequant-dir DIR
            also dequantize every tensor of tests/fixtures/models with ggml's C
            dequantize_row_* (via --ref BIN) into DIR/<model>/<tensor>.f32, for
            `gguf_py_dequant_digests.py --compare DIR`

File format: see tests/fixtures/golden/README.md (and write_golden below).
"""

import argparse
import os
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAGIC = b"LMQ8REF1"
VERSION = 1
SEED = 20240611


def _roundf(v):
    """C roundf (half away from zero) on float32 values."""
    a = np.abs(v)
    f = np.floor(a)
    return np.copysign(f + (a - f >= 0.5), v)


def id_sensitive_row(rng):
    """8 blocks of 32 whose q8_0/q8_1 quants depend on computing the inverse scale as
    1/(amax/127) (the _ref code) rather than 127/amax (ggml-cpu's x86 code): in each block
    element 0 is +-amax and 16 elements sit within an ulp or two of a rounding boundary such
    that roundf(x*(1/(amax/127))) != roundf(x*(127/amax)); the rest are normal noise."""
    f32 = np.float32
    blocks = []
    while len(blocks) < 8:
        amax = f32(rng.uniform(0.5, 20.0))
        d = f32(amax / f32(127))
        id1, id2 = f32(f32(1) / d), f32(f32(127) / amax)
        if id1 == id2:
            continue
        blk = (rng.standard_normal(32) * amax / 3).astype(np.float32).clip(-amax * 0.99, amax * 0.99)
        blk[0] = amax if len(blocks) % 2 == 0 else -amax
        found = []
        for k in rng.permutation(np.arange(-126, 126)):
            c = f32((k + 0.5) / float(id1))
            cand = c + np.arange(-8, 9, dtype=np.float32) * np.spacing(c)
            cand = cand[np.abs(cand) < amax]
            hit = cand[_roundf(cand * id1) != _roundf(cand * id2)]
            if hit.size:
                found.append(hit[0])
            if len(found) == 16:
                break
        if len(found) < 16:
            continue
        blk[1:17] = found
        blocks.append(blk)
    return np.concatenate(blocks).astype(np.float32)


def make_rows():
    """(label, float32 array) list. Fixed seed; every length is a multiple of 256."""
    rng = np.random.default_rng(SEED)
    rows = []

    def normal(n, sigma):
        return (rng.standard_normal(n) * sigma).astype(np.float32)

    rows.append(("normal_sigma1_n256", normal(256, 1.0)))
    rows.append(("normal_sigma0.01_n512", normal(512, 0.01)))
    rows.append(("normal_sigma100_n4096", normal(4096, 100.0)))
    rows.append(("normal_sigma1e-4_n256", normal(256, 1e-4)))  # fp16 d is subnormal
    rows.append(("normal_sigma1e-6_n256", normal(256, 1e-6)))  # fp16 d underflows to 0
    rows.append(("normal_sigma3_n4096", normal(4096, 3.0)))
    # every 32-block has its own scale 10^U(-3,3), some blocks with a mean offset
    x = normal(4096, 1.0).reshape(-1, 32)
    x = x * (10.0 ** rng.uniform(-3, 3, size=(x.shape[0], 1))).astype(np.float32)
    x[::5] += np.float32(2.0) * np.abs(x[::5]).max(axis=1, keepdims=True)
    rows.append(("mixed_block_scales_n4096", x.reshape(-1).astype(np.float32)))
    rows.append(("uniform_pm1_n4096", rng.uniform(-1, 1, 4096).astype(np.float32)))

    # exact .5 ties after scaling. amax 127 per 32-block -> d = 1, id = 1 (ref and x86), and for
    # q8_K iscale = -127/max = -+1: every other value is k + 0.5.
    x = (rng.integers(-127, 127, size=256) + 0.5).astype(np.float32)
    blk = x.reshape(-1, 32)
    blk[:, 0] = np.where(np.arange(blk.shape[0]) % 2 == 0, 127.0, -127.0)
    rows.append(("ties_amax127_n256", x))
    # amax 254 -> d = 2, id = 0.5; odd integers give ties. Superblock 0: +254 is the first
    # max-abs element; superblock 1: -254 first, +254 later (q8_K keeps the first).
    x = (2 * rng.integers(-127, 127, size=512) + 1).astype(np.float32)
    blk = x.reshape(-1, 32)
    blk[:, 3] = 254.0
    blk[8:, 3] = -254.0
    blk[8:, 20] = 254.0
    rows.append(("ties_amax254_signs_n512", x))
    # amax 63.5 -> d = 0.5, id = 2; quarter values k/2 + 1/4 give ties, mixed with integers.
    x = (rng.integers(-127, 127, size=512) / 2.0 + 0.25).astype(np.float32)
    x[1::3] = np.round(x[1::3])
    blk = x.reshape(-1, 32)
    blk[:, 31] = np.where(np.arange(blk.shape[0]) % 3 == 0, -63.5, 63.5)
    rows.append(("ties_amax63.5_n512", x))
    # d = amax/127 exactly halfway between two fp16 values: amax = 127*(1 + (2k+1)*2^-11)
    x = normal(256, 0.3)
    blk = x.reshape(-1, 32)
    for b in range(blk.shape[0]):
        amax = np.float32(127.0 * (1.0 + (2 * b + 1) * 2.0 ** -11))
        blk[b] = np.clip(blk[b] * np.float32(40.0), -amax * 0.99, amax * 0.99)
        blk[b, (5 * b) % 32] = amax if b % 2 == 0 else -amax
    rows.append(("f16_tie_d_n256", x))

    rows.append(("id_sensitive_n256", id_sensitive_row(rng)))

    rows.append(("zeros_n256", np.zeros(256, dtype=np.float32)))
    # first superblock all zeros (q8_K d = 0 path), then normal data with one zero 32-block
    x = normal(512, 1.0)
    x[:256] = 0.0
    x[320:352] = 0.0
    x[400] = -0.0
    rows.append(("zero_superblock_and_block_n512", x))
    x = normal(512, 1.0)
    x[100] = 1.0e6
    rows.append(("huge_single_1e6_n512", x))
    # d = 3e38/127 overflows fp16 -> q8_0/q8_1 d = +inf, q8_1 s = -inf; q8_K d stays finite
    x = normal(256, 1.0)
    x[37] = -3.0e38
    rows.append(("huge_single_-3e38_n256", x))

    for label, r in rows:
        assert r.dtype == np.float32 and r.size % 256 == 0 and np.all(np.isfinite(r)), label
    return rows


def run_quant_raw(binary, mode, rows, fill):
    inp = bytearray(struct.pack("<I", len(rows)))
    for _, r in rows:
        inp += struct.pack("<I", r.size) + r.astype("<f4").tobytes()
    return subprocess.run([binary, "quant", mode, str(fill)],
                          input=bytes(inp), stdout=subprocess.PIPE, check=True).stdout


def run_quant(binary, mode, rows, report=False):
    """Per row [q8_0 bytes, q8_1 bytes, q8_K bytes]. Run twice with output buffers pre-filled
    with 0xAA and 0x55: bytes the quantizer does not write differ between the runs and are set
    to 0 (only q8_K bsums of all-zero blocks, see README)."""
    a = np.frombuffer(run_quant_raw(binary, mode, rows, 0xAA), np.uint8)
    b = np.frombuffer(run_quant_raw(binary, mode, rows, 0x55), np.uint8)
    unwritten = a != b
    out = np.where(unwritten, 0, a).astype(np.uint8).tobytes()
    res, off = [], 0
    for label, r in rows:
        n = r.size
        sizes = (n // 32 * 34, n // 32 * 36, n // 256 * 292)
        parts = []
        for kind, s in zip(("q8_0", "q8_1", "q8_K"), sizes):
            nu = int(np.count_nonzero(unwritten[off:off + s]))
            if nu and report:
                print(f"  {label} {kind}: {nu} bytes left unwritten by {mode} quantizer -> stored as 0")
            parts.append(out[off:off + s])
            off += s
        res.append(parts)
    assert off == len(out), (off, len(out))
    return res


def write_golden(path, rows, outs):
    buf = bytearray(MAGIC + struct.pack("<II", VERSION, len(rows)))
    for (label, r), (q0, q1, qk) in zip(rows, outs):
        lb = label.encode("ascii")
        buf += struct.pack("<II", r.size, len(lb)) + lb
        buf += r.astype("<f4").tobytes() + q0 + q1 + qk
    with open(path, "wb") as fh:
        fh.write(buf)
    return len(buf)


def qs_views(n, q0, q1, qk):
    """int8 quants (flat, element order) and scale bytes of the three formats."""
    a0 = np.frombuffer(q0, np.uint8).reshape(-1, 34)
    a1 = np.frombuffer(q1, np.uint8).reshape(-1, 36)
    ak = np.frombuffer(qk, np.uint8).reshape(-1, 292)
    return {
        "q8_0": (a0[:, 2:].view(np.int8).reshape(-1), a0[:, :2]),
        "q8_1": (a1[:, 4:].view(np.int8).reshape(-1), a1[:, :4]),
        "q8_K": (ak[:, 4:260].view(np.int8).reshape(-1), np.concatenate([ak[:, :4], ak[:, 260:]], 1)),
    }


def compare_cpu(rows, ref, cpu):
    print("ggml-cpu x86 (AVX2) quantize_row_q8_* vs *_ref, per row: quants differing / total, "
          "max |diff|, blocks whose header (d, s or bsums) differs")
    tot = {k: [0, 0, 0, 0] for k in ("q8_0", "q8_1", "q8_K")}
    for (label, r), a, b in zip(rows, ref, cpu):
        va, vb = qs_views(r.size, *a), qs_views(r.size, *b)
        cols = []
        for k in ("q8_0", "q8_1", "q8_K"):
            qa, ha = va[k]
            qb, hb = vb[k]
            nd = int(np.count_nonzero(qa != qb))
            md = int(np.abs(qa.astype(int) - qb.astype(int)).max())
            hd = int(np.count_nonzero(np.any(ha != hb, axis=1)))
            t = tot[k]
            t[0] += nd; t[1] += qa.size; t[2] = max(t[2], md); t[3] += hd
            cols.append(f"{k} {nd:4d}/{qa.size:<4d} max {md} hdr {hd}")
        print(f"  {label:32s} " + " | ".join(cols))
    for k, (nd, n, md, hd) in tot.items():
        print(f"  TOTAL {k}: {nd}/{n} quants differ (max |diff| {md}), {hd} block headers differ")


def dump_ggml_dequant(binary, out_dir):
    from gguf import GGUFReader
    mdir = os.path.join(ROOT, "tests", "fixtures", "models")
    count = 0
    for mf in sorted(f for f in os.listdir(mdir) if f.endswith(".gguf")):
        r = GGUFReader(os.path.join(mdir, mf))
        os.makedirs(os.path.join(out_dir, mf), exist_ok=True)
        for t in r.tensors:
            raw = np.ascontiguousarray(t.data).view(np.uint8).tobytes()
            out = subprocess.run([binary, "dequant", t.tensor_type.name, str(int(t.n_elements))],
                                 input=raw, stdout=subprocess.PIPE, check=True).stdout
            with open(os.path.join(out_dir, mf, t.name + ".f32"), "wb") as fh:
                fh.write(out)
            count += 1
    print(f"wrote ggml C dequantization of {count} tensors under {out_dir}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True)
    ap.add_argument("--cpu")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "golden", "quantize-ref.bin"))
    ap.add_argument("--dequant-dir")
    args = ap.parse_args()

    rows = make_rows()
    ref = run_quant(args.ref, "ref", rows, report=True)
    size = write_golden(args.out, rows, ref)
    print(f"wrote {args.out}: {len(rows)} rows, {sum(r.size for _, r in rows)} values, {size} bytes")
    if args.cpu:
        compare_cpu(rows, ref, run_quant(args.cpu, "cpu", rows))
    if args.dequant_dir:
        dump_ggml_dequant(args.ref, args.dequant_dir)


if __name__ == "__main__":
    sys.exit(main())
