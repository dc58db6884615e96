#!/usr/bin/env python3
"""Read tests/fixtures/golden/quantize-ref.bin and check it against a numpy model of
llama.cpp's quantize_row_q8_0_ref / q8_1_ref / q8_K_ref (the model doubles as an executable
spec for the Rust side). With --x86, also model ggml-cpu's x86 AVX2 quantize_row_q8_0/q8_1
(127/amax and round-half-to-even) and print how many quants would differ.

Requires: Python 3.8+, numpy (`pip install numpy`). Runtime: well under 1 s.
Usage: scripts/check_quant_golden.py [FILE] [--x86]
"""

import os
import struct
import sys

import numpy as np

F32 = np.float32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_golden(path):
    b = open(path, "rb").read()
    assert b[:8] == b"LMQ8REF1", "bad magic"
    version, n_rows = struct.unpack_from("<II", b, 8)
    assert version == 1
    off, rows = 16, []
    for _ in range(n_rows):
        n, ll = struct.unpack_from("<II", b, off)
        off += 8
        label = b[off:off + ll].decode("ascii")
        off += ll
        x = np.frombuffer(b, "<f4", n, off)
        off += 4 * n
        parts = []
        for size in (n // 32 * 34, n // 32 * 36, n // 256 * 292):
            parts.append(b[off:off + size])
            off += size
        rows.append((label, x, *parts))
    assert off == len(b), "trailing bytes"
    return rows


def roundf(v):  # C roundf: half away from zero
    a = np.abs(v)
    f = np.floor(a)
    return np.copysign(f + (a - f >= F32(0.5)), v)


def f16_bytes(v):  # IEEE binary16, round to nearest even (overflow -> inf), little-endian
    with np.errstate(over="ignore"):
        return np.asarray(v, F32).astype("<f2").reshape(-1, 1).view(np.uint8)


def q8_0(x, x86=False):
    blk = x.reshape(-1, 32).astype(F32)
    amax = np.abs(blk).max(axis=1)
    d = (amax / F32(127)).astype(F32)
    with np.errstate(divide="ignore"):
        if x86:   # ggml-cpu arch/x86/quants.c
            ide = np.where(amax != 0, F32(127) / amax, F32(0)).astype(F32)
        else:     # ggml-quants.c _ref
            ide = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    prod = (blk * ide[:, None]).astype(F32)
    q = (np.rint(prod) if x86 else roundf(prod)).astype(np.int8)
    return d, q


def enc_q8_0(x, x86=False):
    d, q = q8_0(x, x86)
    return np.concatenate([f16_bytes(d), q.view(np.uint8)], axis=1).tobytes()


def enc_q8_1(x, x86=False):
    d, q = q8_0(x, x86)
    s = (q.astype(np.int32).sum(axis=1).astype(F32) * d).astype(F32)
    return np.concatenate([f16_bytes(d), f16_bytes(s), q.view(np.uint8)], axis=1).tobytes()


def enc_q8_K(x):
    out = bytearray()
    for blk in x.reshape(-1, 256).astype(F32):
        ab = np.abs(blk)
        amax = ab.max()
        if amax == 0:  # ggml: d = 0, qs = 0, bsums unwritten (stored as 0 in the golden)
            out += bytes(292)
            continue
        mx = blk[int(np.argmax(ab))]            # first element with the largest |x|
        iscale = F32(F32(-127) / mx)
        v = np.rint((iscale * blk).astype(F32))  # nearest_int: round half to even
        q = np.minimum(v, 127).astype(np.int8)
        bsums = q.reshape(16, 16).astype(np.int16).sum(axis=1).astype("<i2")
        out += np.array([F32(1) / iscale], "<f4").tobytes() + q.tobytes() + bsums.tobytes()
    return bytes(out)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = args[0] if args else os.path.join(ROOT, "tests", "fixtures", "golden", "quantize-ref.bin")
    rows = read_golden(path)
    bad = 0
    for label, x, b0, b1, bk in rows:
        for name, want, got in (("q8_0", b0, enc_q8_0(x)), ("q8_1", b1, enc_q8_1(x)),
                                ("q8_K", bk, enc_q8_K(x))):
            if want != got:
                bad += 1
                print(f"MISMATCH {label} {name}")
        if "--x86" in sys.argv:
            q_ref = np.frombuffer(b0, np.uint8).reshape(-1, 34)[:, 2:].view(np.int8)
            q_x86 = q8_0(x, x86=True)[1]
            print(f"  {label:32s} x86 model: {int(np.count_nonzero(q_ref != q_x86))}/{x.size} q8_0 quants differ")
    print(f"{len(rows)} rows, {sum(r[1].size for r in rows)} values: "
          + ("numpy model matches every byte" if not bad else f"{bad} mismatches"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
