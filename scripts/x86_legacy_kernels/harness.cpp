// harness.cpp: run llama.cpp's real x86 (AVX2) dot-product kernels for the legacy block formats
// on random blocks and write tests/fixtures/golden/x86-legacy-kernels.bin.
//
// Built and driven by scripts/x86_legacy_kernels/make_golden.sh (see there and README.md next
// to this file). It links, compiled from llama.cpp 0c1e570's sources with the flags of the
// golden build (-O3 -mavx -mavx2 -mfma -mf16c -mbmi2, gcc/g++, NDEBUG):
//   ggml/src/ggml-cpu/arch/x86/quants.c   ggml_vec_dot_{q4_0,q5_0,q8_0}_q8_0,
//                                         ggml_vec_dot_{q4_1,q5_1}_q8_1, quantize_row_q8_{0,1}
//   ggml/src/ggml-cpu/quants.c            the *_generic fallbacks arch/x86/quants.c refers to
//   ggml/src/ggml-cpu/llamafile/sgemm.cpp llamafile_sgemm (tinyBLAS_Q0_AVX), called as
//                                         ggml_compute_forward_mul_mat calls it
//   ggml/src/ggml-quants.c                the *_ref quantizers (referenced, not used here)
//
// Usage:
//   harness OUT.bin                 write the golden (deterministic: fixed PRNG seed)
//   harness OUT.bin --installed LIB also load LIB (an installed libggml-cpu.so) with dlopen and
//                                   check that its ggml_vec_dot_*, quantize_row_q8_* and
//                                   llamafile_sgemm give the same bits on every case
//
// Self-checks made on every run (exit status 1 if one fails):
//   * every tinyBLAS output equals ggml_vec_dot on the same (weight row, activation row),
//   * llamafile_sgemm gives the same bits when its work is split over 3 "threads" (ith 0..2
//     run one after the other),
//   * llamafile_sgemm declines (returns false) for n = 1 and for Q4_1/Q5_1 x Q8_1.

#include "ggml-cpu-impl.h"
#include "ggml-impl.h"
#include "ggml-quants.h"
#include "llamafile/sgemm.h"
#include "quants.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

// ---------------------------------------------------------------------------------------------
// Symbols the linked objects refer to that live in ggml.c / ggml-cpu.c (not compiled here).

extern "C" {
float ggml_table_f32_f16[1 << 16];
float ggml_table_f32_e8m0_half[1 << 8];
float ggml_table_f32_ue4m3[1 << 8];

void ggml_abort(const char * file, int line, const char * fmt, ...) {
    fprintf(stderr, "ggml_abort at %s:%d (%s)\n", file, line, fmt);
    abort();
}
void ggml_log_internal(enum ggml_log_level level, const char * format, ...) {
    (void) level;
    va_list args;
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
}
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void) type; (void) ne; abort(); }
const char * ggml_type_name(enum ggml_type type) { (void) type; abort(); }
size_t ggml_type_size(enum ggml_type type) { (void) type; abort(); }
// Only the F32/F16/BF16 tinyBLAS paths synchronise; the quantized ones never do.
void ggml_barrier(struct ggml_threadpool * tp) { (void) tp; abort(); }
void ggml_threadpool_chunk_set(struct ggml_threadpool * tp, int value) { (void) tp; (void) value; abort(); }
int ggml_threadpool_chunk_add(struct ggml_threadpool * tp, int value) { (void) tp; (void) value; abort(); }
}

// ---------------------------------------------------------------------------------------------

typedef void (*vec_dot_fn)(int, float *, size_t, const void *, size_t, const void *, size_t, int);
typedef void (*quant_fn)(const float *, void *, int64_t);
typedef bool (*sgemm_fn)(const struct ggml_compute_params *, int64_t, int64_t, int64_t, const void *, int64_t,
                         const void *, int64_t, void *, int64_t, int, int, int);

struct Kernels {
    vec_dot_fn dot_q4_0, dot_q4_1, dot_q5_0, dot_q5_1, dot_q8_0;
    quant_fn q8_0, q8_1;
    sgemm_fn sgemm;
};

static Kernels built_in() {
    return Kernels{ggml_vec_dot_q4_0_q8_0, ggml_vec_dot_q4_1_q8_1, ggml_vec_dot_q5_0_q8_0, ggml_vec_dot_q5_1_q8_1,
                   ggml_vec_dot_q8_0_q8_0, quantize_row_q8_0,      quantize_row_q8_1,      llamafile_sgemm};
}

static void * sym(void * h, const char * name) {
    void * p = dlsym(h, name);
    if (!p) { fprintf(stderr, "installed library lacks %s\n", name); exit(2); }
    return p;
}

static Kernels installed(const char * path) {
    void * h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlopen %s: %s\n", path, dlerror()); exit(2); }
    // Fills the library's own fp16 table (ggml_table_f32_f16), which its kernels read.
    ((void (*)(void)) sym(h, "ggml_cpu_init"))();
    return Kernels{(vec_dot_fn) sym(h, "ggml_vec_dot_q4_0_q8_0"), (vec_dot_fn) sym(h, "ggml_vec_dot_q4_1_q8_1"),
                   (vec_dot_fn) sym(h, "ggml_vec_dot_q5_0_q8_0"), (vec_dot_fn) sym(h, "ggml_vec_dot_q5_1_q8_1"),
                   (vec_dot_fn) sym(h, "ggml_vec_dot_q8_0_q8_0"), (quant_fn) sym(h, "quantize_row_q8_0"),
                   (quant_fn) sym(h, "quantize_row_q8_1"),        (sgemm_fn) sym(h, "llamafile_sgemm")};
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (splitmix64).

static uint64_t rng_state = 0x6c6c616d65747465ull;  // "llamette"

static uint64_t rnd() {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t) (rnd() % n); }
static double rnd_unit() { return (double) (rnd() >> 11) * (1.0 / 9007199254740992.0); }

// Scale regimes for random f16 scales.
enum Scales { REALISTIC = 0, WIDE = 1 };

// A random finite f16 (bits).
//  REALISTIC: |d| in [2^-12, 2^-3), positive 7 times in 8 (typical weight/activation scales).
//  WIDE: any finite f16 magnitude: exponent field 1..30 uniform (2^-14 .. 65504), 1 in 16 a
//        subnormal, 1 in 32 a signed zero; random sign.
static uint16_t rnd_f16(Scales s) {
    const uint16_t mant = (uint16_t) rnd_below(1024);
    if (s == REALISTIC) {
        const uint16_t exp = (uint16_t) (15 - 12 + rnd_below(9));  // 2^-12 .. 2^-4
        const uint16_t sign = rnd_below(8) == 0 ? 0x8000 : 0;
        return (uint16_t) (sign | (exp << 10) | mant);
    }
    const uint16_t sign = (uint16_t) (rnd_below(2) << 15);
    const uint32_t r = rnd_below(32);
    if (r == 0) return sign;                      // +-0
    if (r <= 2) return (uint16_t) (sign | mant);  // subnormal (or zero)
    const uint16_t exp = (uint16_t) (1 + rnd_below(30));
    return (uint16_t) (sign | (exp << 10) | mant);
}

// ggml type ids and block sizes.
enum { T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8, T_Q8_1 = 9 };

static size_t block_size(int t) {
    switch (t) {
        case T_Q4_0: return 18;
        case T_Q4_1: return 20;
        case T_Q5_0: return 22;
        case T_Q5_1: return 24;
        case T_Q8_0: return 34;
        case T_Q8_1: return 36;
    }
    abort();
}

static void put_f16(uint8_t * p, uint16_t h) { p[0] = (uint8_t) h; p[1] = (uint8_t) (h >> 8); }

// n random weight blocks of type t: random quant bytes (every bit pattern, -128 included for
// Q8_0), random f16 d (and m for Q4_1/Q5_1; any sign).
static std::vector<uint8_t> random_blocks(int t, size_t n, Scales s) {
    const size_t bs = block_size(t);
    std::vector<uint8_t> v(n * bs);
    for (size_t b = 0; b < n; b++) {
        uint8_t * p = &v[b * bs];
        for (size_t i = 0; i < bs; i++) p[i] = (uint8_t) rnd();
        put_f16(p, rnd_f16(s));
        if (t == T_Q4_1 || t == T_Q5_1 || t == T_Q8_1) {
            // m (or q8_1's s): sign free, magnitude like d's.
            uint16_t m = rnd_f16(s);
            if (s == REALISTIC && rnd_below(2)) m ^= 0x8000;
            put_f16(p + 2, m);
        }
    }
    return v;
}

// n activation blocks (Q8_0 or Q8_1) made by the real quantizer from random floats: each
// 32-block gets its own magnitude 10^U(-3,3) (REALISTIC: 10^U(-1.5,1.5)), values a sum of 3
// uniforms (roughly normal); 1 block in 8 is all-positive (offset), 1 in 16 all zero.
static std::vector<uint8_t> quantized_blocks(const Kernels & k, int t, size_t n, Scales s) {
    std::vector<float> x(n * 32);
    for (size_t b = 0; b < n; b++) {
        const double mag = pow(10.0, s == WIDE ? 6.0 * rnd_unit() - 3.0 : 3.0 * rnd_unit() - 1.5);
        const uint32_t kind = rnd_below(16);
        for (int j = 0; j < 32; j++) {
            double v = (rnd_unit() + rnd_unit() + rnd_unit() - 1.5) * mag;
            if (kind == 0) v = 0.0;
            if (kind == 1 || kind == 2) v = fabs(v) + 0.5 * mag;
            x[b * 32 + j] = (float) v;
        }
    }
    std::vector<uint8_t> y(n * block_size(t));
    (t == T_Q8_0 ? k.q8_0 : k.q8_1)(x.data(), y.data(), (int64_t) (n * 32));
    return y;
}

static vec_dot_fn dot_of(const Kernels & k, int wt) {
    switch (wt) {
        case T_Q4_0: return k.dot_q4_0;
        case T_Q4_1: return k.dot_q4_1;
        case T_Q5_0: return k.dot_q5_0;
        case T_Q5_1: return k.dot_q5_1;
        case T_Q8_0: return k.dot_q8_0;
    }
    abort();
}

static int act_type(int wt) { return (wt == T_Q4_1 || wt == T_Q5_1) ? T_Q8_1 : T_Q8_0; }

static float vec_dot(const Kernels & k, int wt, size_t nblocks, const uint8_t * x, const uint8_t * y) {
    float s = NAN;
    dot_of(k, wt)((int) (nblocks * 32), &s, 0, x, 0, y, 0, 1);
    return s;
}

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static int failures = 0;
static void check(bool ok, const char * what, int c) {
    if (!ok) { fprintf(stderr, "FAIL case %d: %s\n", c, what); failures++; }
}

// llamafile_sgemm as ggml_compute_forward_mul_mat calls it for a 2-D product: A = m weight
// rows of k blocks (lda = k), B = n activation rows (ldb = k), C column-major with ldc = m
// (C[j*m + i] = row i of A . row j of B). nth "threads" run one after the other.
static bool sgemm(const Kernels & kk, int nth, int64_t m, int64_t n, int64_t k, const uint8_t * A, const uint8_t * B,
                  float * C, int at, int bt) {
    bool all = true;
    for (int ith = 0; ith < nth; ith++) {
        struct ggml_compute_params p;
        memset(&p, 0, sizeof p);
        p.ith = ith;
        p.nth = nth;
        all = kk.sgemm(&p, m, n, k, A, k, B, k, C, m, at, bt, 0 /* GGML_TYPE_F32 */) && all;
    }
    return all;
}

// ---------------------------------------------------------------------------------------------
// Output.

static std::vector<uint8_t> out;
static void w8(uint8_t v) { out.push_back(v); }
static void w16(uint16_t v) { w8((uint8_t) v); w8((uint8_t) (v >> 8)); }
static void w32(uint32_t v) { w16((uint16_t) v); w16((uint16_t) (v >> 16)); }
static void wbytes(const std::vector<uint8_t> & v) { out.insert(out.end(), v.begin(), v.end()); }

enum { KIND_VEC = 0, KIND_TINY = 1 };
enum { FLAG_QUANTIZED_ACT = 1, FLAG_WIDE_SCALES = 2 };

static int n_cases = 0;

static void write_case(int kind, int wt, int flags, int m, int n, int k, const std::vector<uint8_t> & A,
                       const std::vector<uint8_t> & B, const std::vector<float> & C) {
    w8((uint8_t) kind);
    w8((uint8_t) wt);
    w8((uint8_t) act_type(wt));
    w8((uint8_t) flags);
    w16((uint16_t) m);
    w16((uint16_t) n);
    w16((uint16_t) k);
    w16(0);
    wbytes(A);
    wbytes(B);
    for (float f : C) w32(bits(f));
    n_cases++;
}

static std::vector<uint8_t> activations(const Kernels & k, int at, size_t nblocks, int flags) {
    const Scales s = (flags & FLAG_WIDE_SCALES) ? WIDE : REALISTIC;
    return (flags & FLAG_QUANTIZED_ACT) ? quantized_blocks(k, at, nblocks, s) : random_blocks(at, nblocks, s);
}

static void vec_case(const Kernels & k, const Kernels * other, int wt, int nb, int flags) {
    const int at = act_type(wt);
    const Scales s = (flags & FLAG_WIDE_SCALES) ? WIDE : REALISTIC;
    std::vector<uint8_t> A = random_blocks(wt, nb, s);
    std::vector<uint8_t> B = activations(k, at, nb, flags);
    const float r = vec_dot(k, wt, nb, A.data(), B.data());
    if (other) check(bits(r) == bits(vec_dot(*other, wt, nb, A.data(), B.data())), "installed vec_dot differs", n_cases);
    // n = 1: llamafile_sgemm must decline (prompt batches only).
    float c = NAN;
    check(!sgemm(k, 1, 1, 1, nb, A.data(), B.data(), &c, wt, at), "sgemm accepted n = 1", n_cases);
    write_case(KIND_VEC, wt, flags, 1, 1, nb, A, B, std::vector<float>{r});
}

static void tiny_case(const Kernels & k, const Kernels * other, int wt, int m, int n, int nb, int flags) {
    const int at = act_type(wt);
    const Scales s = (flags & FLAG_WIDE_SCALES) ? WIDE : REALISTIC;
    std::vector<uint8_t> A = random_blocks(wt, (size_t) m * nb, s);
    std::vector<uint8_t> B;
    for (int j = 0; j < n; j++) {
        // Mixed activation rows: quantized ones where the flag says so, else every other row.
        const int f = (flags & FLAG_QUANTIZED_ACT) || (j % 2) ? (flags | FLAG_QUANTIZED_ACT) : flags;
        std::vector<uint8_t> row = activations(k, at, nb, f);
        B.insert(B.end(), row.begin(), row.end());
    }
    std::vector<float> C((size_t) m * n, NAN), C3((size_t) m * n, NAN);
    const bool took = sgemm(k, 1, m, n, nb, A.data(), B.data(), C.data(), wt, at);
    check(took == (at == T_Q8_0), "sgemm acceptance", n_cases);
    if (!took) return;
    check(sgemm(k, 3, m, n, nb, A.data(), B.data(), C3.data(), wt, at), "sgemm nth=3", n_cases);
    const size_t wb = block_size(wt), ab = block_size(at);
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            const float c = C[(size_t) j * m + i];
            check(bits(c) == bits(C3[(size_t) j * m + i]), "nth=3 differs", n_cases);
            const float v = vec_dot(k, wt, nb, &A[(size_t) i * nb * wb], &B[(size_t) j * nb * ab]);
            check(bits(c) == bits(v), "tinyBLAS differs from vec_dot", n_cases);
        }
    }
    if (other) {
        std::vector<float> Ci((size_t) m * n, NAN);
        check(sgemm(*other, 1, m, n, nb, A.data(), B.data(), Ci.data(), wt, at), "installed sgemm declined", n_cases);
        check(memcmp(Ci.data(), C.data(), C.size() * 4) == 0, "installed sgemm differs", n_cases);
    }
    write_case(KIND_TINY, wt, flags, m, n, nb, A, B, C);
}

// The Q8_1 x Q4_1/Q5_1 pairs: llamafile_sgemm must decline for every shape.
static void check_declines(const Kernels & k) {
    std::vector<uint8_t> A = random_blocks(T_Q4_1, 4 * 2, REALISTIC), B = random_blocks(T_Q8_1, 4 * 2, REALISTIC);
    std::vector<float> C(16);
    check(!sgemm(k, 1, 4, 4, 2, A.data(), B.data(), C.data(), T_Q4_1, T_Q8_1), "sgemm took Q4_1", -1);
    check(!sgemm(k, 1, 4, 4, 2, A.data(), B.data(), C.data(), T_Q5_1, T_Q8_1), "sgemm took Q5_1", -1);
    // Even a Q8_0 activation type is refused for Q4_1 (Atype switch has no Q4_1 case).
    check(!sgemm(k, 1, 4, 4, 2, A.data(), B.data(), C.data(), T_Q4_1, T_Q8_0), "sgemm took Q4_1/Q8_0", -1);
}

static void check_quantizers(const Kernels & k, const Kernels & o) {
    for (int t : {T_Q8_0, T_Q8_1}) {
        for (int rep = 0; rep < 50; rep++) {
            const uint64_t save = rng_state;
            std::vector<uint8_t> a = quantized_blocks(k, t, 16, rep % 2 ? WIDE : REALISTIC);
            rng_state = save;
            std::vector<uint8_t> b = quantized_blocks(o, t, 16, rep % 2 ? WIDE : REALISTIC);
            check(a == b, "installed quantize_row_q8_x differs", -1);
        }
    }
}

int main(int argc, char ** argv) {
    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--installed") == 0)) {
        fprintf(stderr, "usage: %s OUT.bin [--installed libggml-cpu.so]\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < (1 << 16); i++) ggml_table_f32_f16[i] = GGML_COMPUTE_FP16_TO_FP32((ggml_fp16_t) i);

    const Kernels k = built_in();
    Kernels inst{};
    const Kernels * other = nullptr;
    if (argc == 4) {
        inst = installed(argv[3]);
        other = &inst;
    }

    out.insert(out.end(), {'L', 'M', 'X', '8', '6', 'L', 'G', '1'});
    w32(1);  // version
    const size_t count_at = out.size();
    w32(0);  // n_cases, patched below

    const int wtypes[5] = {T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q8_0};

    // vec_dot: 1..20 blocks, plus 24 and 48 (both activation sources for those two).
    for (int wt : wtypes) {
        int idx = 0;
        for (int nb = 1; nb <= 20; nb++, idx++) {
            const int flags = (idx % 2 ? FLAG_QUANTIZED_ACT : 0) | (idx % 4 >= 2 ? FLAG_WIDE_SCALES : 0);
            vec_case(k, other, wt, nb, flags);
        }
        for (int nb : {8, 24, 48}) {
            vec_case(k, other, wt, nb, FLAG_QUANTIZED_ACT);
            vec_case(k, other, wt, nb, FLAG_WIDE_SCALES);
        }
    }

    // tinyBLAS_Q0_AVX: shapes chosen so that mnpack (16 vector registers: AVX2 without AVX512)
    // reaches every tile kernel: gemm4xN<2>, gemm4xN<1>, gemmMx4<2>, gemmMx4<1>, gemm<3,2>,
    // gemm<2,3>, gemm<2,2>, gemm<3,1>, gemm<1,3>, gemm<2,1>, gemm<1,2>, gemm<1,1>.
    struct Shape { int m, n, k; };
    const Shape shapes[] = {
        {5, 3, 4},   // 4x2 (gemm4xN<2>), 1x2, 4x1 (gemm4xN<1>), 1x1
        {3, 5, 3},   // 2x4 (gemmMx4<2>), 1x4 (gemmMx4<1>), 3x1
        {3, 3, 2},   // 3x2, 3x1
        {2, 3, 5},   // 2x3
        {2, 2, 1},   // 2x2
        {2, 5, 6},   // 2x4, 2x1
        {1, 3, 7},   // 1x3
        {1, 2, 8},   // 1x2
        {9, 7, 3},   // mixed
        {6, 2, 20},  // 4x2, 2x2
        {4, 2, 48},  // 4x2, long rows
        {3, 4, 24},  // 2x4, 1x4
    };
    const int qtypes[3] = {T_Q4_0, T_Q5_0, T_Q8_0};
    for (int wt : qtypes) {
        int idx = 0;
        for (const Shape & s : shapes) {
            const int flags = (idx % 2 ? FLAG_QUANTIZED_ACT : 0) | (idx % 3 == 2 ? FLAG_WIDE_SCALES : 0);
            tiny_case(k, other, wt, s.m, s.n, s.k, flags);
            idx++;
        }
    }
    check_declines(k);
    if (other) {
        check_declines(*other);
        check_quantizers(k, *other);
    }

    out[count_at + 0] = (uint8_t) n_cases;
    out[count_at + 1] = (uint8_t) (n_cases >> 8);
    out[count_at + 2] = (uint8_t) (n_cases >> 16);
    out[count_at + 3] = (uint8_t) (n_cases >> 24);

    if (failures) {
        fprintf(stderr, "%d check(s) failed; nothing written\n", failures);
        return 1;
    }
    FILE * f = fopen(argv[1], "wb");
    if (!f || fwrite(out.data(), 1, out.size(), f) != out.size() || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", argv[1]);
        return 1;
    }
    fprintf(stderr, "%d cases, %zu bytes -> %s%s\n", n_cases, out.size(), argv[1],
            other ? " (installed library agrees on every case)" : "");
    return 0;
}
