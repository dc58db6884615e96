// Golden generator for llamette's scalar float kernels (src/kernels/reference/{float,math}.rs).
//
// Calls the *installed* llama.cpp CPU backend (libggml-cpu.so / libggml-base.so from
// llama-cpp-python 0.3.36, llama.cpp commit 0c1e570, x86-64 AVX2+FMA+F16C build) and records
// inputs plus exact outputs of:
//
//   kind 1  ggml_vec_dot_f32    (exported, vec.cpp)           direct call
//   kind 2  ggml_vec_dot_f16    (exported, vec.cpp)           direct call
//   kind 3  ggml_vec_dot_bf16   (exported, vec.cpp)           direct call
//   kind 4  tinyBLAS<8,__m256,__m256,float,float,float>      GGML_OP_MUL_MAT graph, m=4 n=2
//   kind 5  tinyBLAS<8,__m256,__m256,fp16,fp16,float>        GGML_OP_MUL_MAT graph, m=4 n=2
//   kind 6  tinyBLAS<8,__m256,__m256,bf16,bf16,float>        GGML_OP_MUL_MAT graph, m=4 n=2
//   kind 7  ggml_v_expf (one lane)  via ggml_vec_soft_max_f32(n % 8 == 0, max = 0)
//   kind 8  ggml_compute_forward_soft_max_f32   GGML_OP_SOFT_MAX graph (F32 mask 0 / -inf)
//   kind 9  ggml_vec_swiglu_f32 (exported, vec.cpp)           direct call
//   kind 10 ggml_compute_forward_rope_flt<float>  GGML_OP_ROPE graph (NORMAL / NEOX)
//
// The file format is documented in tests/fixtures/golden/README.md ("x86-float-kernels.bin").
// All inputs are built from integer PRNG output (bit patterns, exact int->float conversions and
// power-of-two scalings), so regeneration is bit-identical regardless of compiler flags.
//
// Usage: harness OUT_FILE

#include "ggml.h"
#include "ggml-cpu.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" {
// Exported by libggml-cpu.so (vec.cpp); not declared in the public headers.
void ggml_vec_dot_f32(int n, float * s, size_t bs, const float * x, size_t bx, const float * y, size_t by, int nrc);
void ggml_vec_dot_f16(int n, float * s, size_t bs, uint16_t * x, size_t bx, uint16_t * y, size_t by, int nrc);
void ggml_vec_dot_bf16(int n, float * s, size_t bs, uint16_t * x, size_t bx, uint16_t * y, size_t by, int nrc);
double ggml_vec_soft_max_f32(const int n, float * y, const float * x, float max);
void ggml_vec_swiglu_f32(const int n, float * y, const float * x, const float * g);
}

// ---------------------------------------------------------------------------------------------
// deterministic PRNG (splitmix64) and float construction from bits

static uint64_t g_state = 0x6c6c616d65747465ull; // "llamette"

static uint64_t next_u64() {
    uint64_t z = (g_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint32_t next_u32() { return (uint32_t)(next_u64() >> 32); }
static uint32_t below(uint32_t n) { return (uint32_t)(((uint64_t)next_u32() * n) >> 32); }

static float f32_from_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static uint32_t bits_of(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

// random f32 with unbiased exponent in [lo, hi] (normal numbers), random sign and mantissa
static float rand_f32(int lo, int hi) {
    const uint32_t sign = next_u32() & 0x80000000u;
    const int e = lo + (int)below((uint32_t)(hi - lo + 1));
    const uint32_t mant = next_u32() & 0x7fffffu;
    return f32_from_bits(sign | ((uint32_t)(e + 127) << 23) | mant);
}
// random f16 bits with unbiased exponent in [lo, hi], lo >= -15 (-15 gives subnormals), hi <= 15
static uint16_t rand_f16(int lo, int hi) {
    const uint16_t sign = (uint16_t)(next_u32() & 0x8000u);
    const int e = lo + (int)below((uint32_t)(hi - lo + 1));
    const uint16_t mant = (uint16_t)(next_u32() & 0x3ffu);
    return (uint16_t)(sign | ((uint16_t)(e + 15) << 10) | mant);
}
// random bf16 bits with unbiased exponent in [lo, hi]
static uint16_t rand_bf16(int lo, int hi) {
    const uint16_t sign = (uint16_t)(next_u32() & 0x8000u);
    const int e = lo + (int)below((uint32_t)(hi - lo + 1));
    const uint16_t mant = (uint16_t)(next_u32() & 0x7fu);
    return (uint16_t)(sign | ((uint16_t)(e + 127) << 7) | mant);
}
// uniform-ish value in [-a, a) with 24 significant bits: an exact int->float conversion scaled
// by a power of two (exact), so no rounding happens anywhere.
static float rand_uniform(int log2_a) {
    const int32_t i = (int32_t)(next_u32() >> 8) - (1 << 23); // [-2^23, 2^23)
    return ldexpf((float)i, log2_a - 23);
}

// exponent ranges cycled through to get mixed magnitudes
struct Range { int lo, hi; };
static const Range F32_RANGES[] = { {-3, 3}, {-12, 6}, {-24, 12}, {-1, 0}, {-40, 20} };
static const Range F16_RANGES[] = { {-4, 3}, {-15, 7}, {-8, 8}, {-1, 0}, {-12, 4} };
static const Range BF16_RANGES[] = { {-3, 3}, {-12, 6}, {-24, 12}, {-1, 0}, {-40, 20} };

// ---------------------------------------------------------------------------------------------
// output buffer

static std::vector<uint8_t> g_out;
static void put_u32(uint32_t v) { for (int i = 0; i < 4; i++) g_out.push_back((uint8_t)(v >> (8 * i))); }
static void put_f32(float f) { put_u32(bits_of(f)); }
static void put_u16(uint16_t v) { g_out.push_back((uint8_t)v); g_out.push_back((uint8_t)(v >> 8)); }

struct Section { size_t hdr; uint32_t n_cases; };
static Section begin_section(uint32_t kind) {
    put_u32(kind);
    Section s { g_out.size(), 0 };
    put_u32(0); // n_cases, patched
    put_u32(0); // payload bytes, patched
    return s;
}
static void end_section(const Section & s) {
    const uint32_t bytes = (uint32_t)(g_out.size() - s.hdr - 8);
    for (int i = 0; i < 4; i++) g_out[s.hdr + i] = (uint8_t)(s.n_cases >> (8 * i));
    for (int i = 0; i < 4; i++) g_out[s.hdr + 4 + i] = (uint8_t)(bytes >> (8 * i));
}

static uint32_t g_n_sections = 0;

// ---------------------------------------------------------------------------------------------
// lengths used for the ggml_vec_dot_* cases

static std::vector<int> dot_lengths() {
    std::vector<int> v;
    for (int n = 1; n <= 70; n++) v.push_back(n);
    const int extra[] = { 95, 96, 97, 127, 128, 129, 256, 768 };
    for (int n : extra) v.push_back(n);
    return v;
}

static void gen_dot_f32() {
    Section s = begin_section(1);
    for (int n : dot_lengths()) {
        const Range r = F32_RANGES[s.n_cases % 5];
        std::vector<float> x(n), y(n);
        for (int i = 0; i < n; i++) { x[i] = rand_f32(r.lo, r.hi); y[i] = rand_f32(r.lo, r.hi); }
        float out = 0;
        ggml_vec_dot_f32(n, &out, 0, x.data(), 0, y.data(), 0, 1);
        put_u32((uint32_t)n);
        for (float f : x) put_f32(f);
        for (float f : y) put_f32(f);
        put_f32(out);
        s.n_cases++;
    }
    end_section(s); g_n_sections++;
}

static void gen_dot_16(uint32_t kind, bool bf) {
    Section s = begin_section(kind);
    for (int n : dot_lengths()) {
        const Range r = bf ? BF16_RANGES[s.n_cases % 5] : F16_RANGES[s.n_cases % 5];
        std::vector<uint16_t> x(n), y(n);
        for (int i = 0; i < n; i++) {
            x[i] = bf ? rand_bf16(r.lo, r.hi) : rand_f16(r.lo, r.hi);
            y[i] = bf ? rand_bf16(r.lo, r.hi) : rand_f16(r.lo, r.hi);
        }
        float out = 0;
        if (bf) ggml_vec_dot_bf16(n, &out, 0, x.data(), 0, y.data(), 0, 1);
        else    ggml_vec_dot_f16 (n, &out, 0, x.data(), 0, y.data(), 0, 1);
        put_u32((uint32_t)n);
        for (uint16_t h : x) put_u16(h);
        for (uint16_t h : y) put_u16(h);
        put_f32(out);
        s.n_cases++;
    }
    end_section(s); g_n_sections++;
}

// ---------------------------------------------------------------------------------------------
// tinyBLAS through GGML_OP_MUL_MAT: A = weights [k, m=4], B = activations [k, n=2] -> C [4, 2]

static ggml_context * new_ctx(size_t mb) {
    ggml_init_params p = { mb * 1024 * 1024, nullptr, false };
    ggml_context * ctx = ggml_init(p);
    if (!ctx) { fprintf(stderr, "ggml_init failed\n"); exit(1); }
    return ctx;
}

static void compute(ggml_context * ctx, ggml_tensor * out) {
    ggml_cgraph * gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    if (ggml_graph_compute_with_ctx(ctx, gf, 1) != GGML_STATUS_SUCCESS) {
        fprintf(stderr, "graph compute failed\n"); exit(1);
    }
}

static int g_tiny_differs_from_vec = 0; // how many tinyBLAS outputs differ from ggml_vec_dot_*

static void gen_tiny(uint32_t kind, ggml_type type) {
    const int ks_f32[] = { 8, 16, 24, 32, 40, 48, 56, 64, 72, 96, 128, 256 };
    const int ks_16[]  = { 8, 16, 24, 32, 40, 48, 56, 64, 72, 96, 128, 256, 768 };
    const int * ks = type == GGML_TYPE_F32 ? ks_f32 : ks_16;
    const int nk = type == GGML_TYPE_F32 ? 12 : 13;
    const int M = 4, N = 2;
    Section s = begin_section(kind);
    for (int ik = 0; ik < nk; ik++) {
        const int k = ks[ik];
        ggml_context * ctx = new_ctx(16);
        ggml_tensor * A = ggml_new_tensor_2d(ctx, type, k, M);
        ggml_tensor * B = ggml_new_tensor_2d(ctx, type, k, N);
        const Range r = type == GGML_TYPE_F32 ? F32_RANGES[ik % 5]
                      : type == GGML_TYPE_F16 ? F16_RANGES[ik % 5] : BF16_RANGES[ik % 5];
        for (ggml_tensor * t : { A, B }) {
            const int64_t ne = ggml_nelements(t);
            for (int64_t i = 0; i < ne; i++) {
                if (type == GGML_TYPE_F32) ((float *) t->data)[i] = rand_f32(r.lo, r.hi);
                else if (type == GGML_TYPE_F16) ((uint16_t *) t->data)[i] = rand_f16(r.lo, r.hi);
                else ((uint16_t *) t->data)[i] = rand_bf16(r.lo, r.hi);
            }
        }
        ggml_tensor * C = ggml_mul_mat(ctx, A, B);
        compute(ctx, C);
        put_u32((uint32_t)k); put_u32(M); put_u32(N);
        for (ggml_tensor * t : { A, B }) {
            const int64_t ne = ggml_nelements(t);
            for (int64_t i = 0; i < ne; i++) {
                if (type == GGML_TYPE_F32) put_f32(((float *) t->data)[i]);
                else put_u16(((uint16_t *) t->data)[i]);
            }
        }
        for (int j = 0; j < N; j++) {
            for (int i = 0; i < M; i++) {
                const float c = ((float *) C->data)[j * M + i];
                put_f32(c);
                float v = 0;
                if (type == GGML_TYPE_F32) {
                    ggml_vec_dot_f32(k, &v, 0, (float *) A->data + i * k, 0, (float *) B->data + j * k, 0, 1);
                } else if (type == GGML_TYPE_F16) {
                    ggml_vec_dot_f16(k, &v, 0, (uint16_t *) A->data + i * k, 0, (uint16_t *) B->data + j * k, 0, 1);
                } else {
                    ggml_vec_dot_bf16(k, &v, 0, (uint16_t *) A->data + i * k, 0, (uint16_t *) B->data + j * k, 0, 1);
                }
                if (bits_of(v) != bits_of(c)) g_tiny_differs_from_vec++;
            }
        }
        ggml_free(ctx);
        s.n_cases++;
    }
    end_section(s); g_n_sections++;
}

// ---------------------------------------------------------------------------------------------
// ggml_v_expf, one lane: ggml_vec_soft_max_f32(n, y, x, 0.0f) stores ggml_v_expf(x - 0) for
// every group of 8 (x - 0.0f == x exactly, also for -0.0f).

static void gen_expf() {
    std::vector<float> x;
    const float specials[] = {
        0.0f, -0.0f, INFINITY, -INFINITY, 1.0f, -1.0f, 0.5f, -0.5f,
        88.0f, 88.3762626647949f, 88.37627f, 88.72283f, 88.72284f, 89.0f, 100.0f, 1e30f, FLT_MAX,
        -87.0f, -87.33654f, -87.33655f, -88.0f, -100.0f, -103.0f, -103.97f, -103.98f, -104.0f,
        -110.0f, -130.0f, -150.0f, -1e30f, -FLT_MAX,
        87.33654f, 87.3365448f, 87.34f, 133.08f, 133.09f, -133.08f, -133.09f,
        1e-10f, -1e-10f, 1e-40f, -1e-40f, FLT_MIN, -FLT_MIN, 1e-45f, -1e-45f,
        0.34657359f, -0.34657359f, 0.69314718f, -0.69314718f, 2.0f, -2.0f, 10.0f, -10.0f,
    };
    for (float f : specials) x.push_back(f);
    // dense sweep of the interesting range [-110, 95): 24-bit values scaled into it
    while (x.size() < 1024) {
        const float v = rand_uniform(7); // [-128, 128)
        if (v >= -110.0f && v < 95.0f) x.push_back(v);
    }
    // moderate values (typical softmax / silu arguments)
    while (x.size() < 1536) x.push_back(rand_uniform(4)); // [-16, 16)
    // arbitrary finite bit patterns with exponent up to 2^8 (covers tiny and huge |x|)
    while (x.size() < 2048) x.push_back(rand_f32(-30, 8));
    // the boundary neighbourhoods of the special-case logic: |n| > 126 and |n| > 192
    // (n = round(x / ln 2)): x around +-126 ln2 = +-87.34 and +-192 ln2 = +-133.08
    const float edges[] = { 87.33654f, -87.33654f, 87.68312f, -87.68312f, 133.0843f, -133.0843f, 88.02969f, -88.02969f };
    for (float e : edges) {
        uint32_t b = bits_of(e);
        for (int d = -32; d < 32; d++) x.push_back(f32_from_bits(b + (uint32_t)d));
    }
    while (x.size() % 8) x.push_back(0.0f);

    const int n = (int) x.size();
    std::vector<float> y(n);
    ggml_vec_soft_max_f32(n, y.data(), x.data(), 0.0f);

    Section s = begin_section(7);
    put_u32((uint32_t)n);
    for (float f : x) put_f32(f);
    for (float f : y) put_f32(f);
    s.n_cases = 1;
    end_section(s); g_n_sections++;
}

// ---------------------------------------------------------------------------------------------
// soft_max through GGML_OP_SOFT_MAX: rows of width W (multiple of 256), F32 mask 0 on the
// prefix and -INF on the padding, like llama.cpp's KQ mask.

struct SmCase { std::vector<float> x; float scale; };

static void run_softmax_batch(const std::vector<SmCase> & cases, int W, float scale, Section & s) {
    const int R = (int) cases.size();
    if (R == 0) return;
    ggml_context * ctx = new_ctx(32);
    ggml_tensor * a = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, W, R);
    ggml_tensor * m = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, W, R);
    for (int r = 0; r < R; r++) {
        const int n = (int) cases[r].x.size();
        for (int i = 0; i < W; i++) {
            // padding values are arbitrary (the mask makes them -inf); use random ones
            ((float *) a->data)[r * W + i] = i < n ? cases[r].x[i] : rand_uniform(3);
            ((float *) m->data)[r * W + i] = i < n ? 0.0f : -INFINITY;
        }
    }
    ggml_tensor * out = ggml_soft_max_ext(ctx, a, m, scale, 0.0f);
    compute(ctx, out);
    for (int r = 0; r < R; r++) {
        const int n = (int) cases[r].x.size();
        for (int i = n; i < W; i++) {
            if (bits_of(((float *) out->data)[r * W + i]) != 0) { fprintf(stderr, "softmax padding not +0\n"); exit(1); }
        }
        put_u32((uint32_t)n); put_f32(scale); put_u32((uint32_t)W);
        for (int i = 0; i < n; i++) put_f32(cases[r].x[i]);
        for (int i = 0; i < n; i++) put_f32(((float *) out->data)[r * W + i]);
        s.n_cases++;
    }
    ggml_free(ctx);
}

static void gen_softmax() {
    Section s = begin_section(8);
    const float scales[] = { 0.125f, 1.0f, 0.088388346f /* 1/sqrt(128) */ };
    for (int is = 0; is < 3; is++) {
        const float scale = scales[is];
        std::vector<SmCase> w256, w512;
        // prefix lengths 1..70 spread over the three scales, plus long rows
        for (int n = 1 + is; n <= 70; n += 3) {
            SmCase c; c.scale = scale;
            const int flavour = n % 5;
            for (int i = 0; i < n; i++) {
                float v;
                switch (flavour) {
                    case 0:  v = rand_uniform(3); break;            // [-8, 8)
                    case 1:  v = rand_uniform(6); break;            // [-64, 64)
                    case 2:  v = rand_uniform(10); break;           // [-1024, 1024): deep underflow
                    case 3:  v = (below(4) == 0) ? -rand_f32(10, 60) : rand_uniform(4); break; // huge negatives
                    default: v = rand_uniform(1); break;            // [-2, 2)
                }
                c.x.push_back(v);
            }
            if (flavour == 3 && n >= 3) c.x[n / 2] = -INFINITY; // an already-masked entry inside
            w256.push_back(c);
        }
        // long rows
        const int longs[] = { 200, 256, 300, 511 };
        for (int n : longs) {
            if ((n + is) % 2) continue;
            SmCase c; c.scale = scale;
            for (int i = 0; i < n; i++) c.x.push_back(rand_uniform(5 + is));
            (n <= 256 ? w256 : w512).push_back(c);
        }
        run_softmax_batch(w256, 256, scale, s);
        run_softmax_batch(w512, 512, scale, s);
    }
    end_section(s); g_n_sections++;
}

// ---------------------------------------------------------------------------------------------
// swiglu: ggml_vec_swiglu_f32(n, y, gate, up) as called by ggml_compute_forward_swiglu_f32

static void gen_swiglu() {
    Section s = begin_section(9);
    std::vector<int> lengths;
    for (int n = 1; n <= 40; n++) lengths.push_back(n);
    lengths.push_back(768);
    lengths.push_back(1536);
    for (int n : lengths) {
        std::vector<float> g(n), u(n), y(n);
        for (int i = 0; i < n; i++) {
            // gate: mostly moderate, some large (exp underflow / overflow of exp(-x))
            g[i] = (below(8) == 0) ? rand_uniform(8) : rand_uniform(3);
            u[i] = rand_f32(-6, 3);
        }
        if (n == 40) { g[0] = 0.0f; g[1] = -0.0f; g[2] = 100.0f; g[3] = -100.0f; g[4] = -200.0f; g[5] = 89.0f; g[6] = -89.0f; g[7] = -87.5f; }
        ggml_vec_swiglu_f32(n, y.data(), g.data(), u.data());
        put_u32((uint32_t)n);
        for (float f : g) put_f32(f);
        for (float f : u) put_f32(f);
        for (float f : y) put_f32(f);
        s.n_cases++;
    }
    end_section(s); g_n_sections++;
}

// ---------------------------------------------------------------------------------------------
// rope through GGML_OP_ROPE. Row 0 of every token is the unit pair (1, 0) in every rotated pair,
// which comes out as exactly (cos, sin) of the rope cache in both the fused and the unfused
// rotation; rows 1..2 are random.

static void gen_rope_case(int mode, bool inplace, int n_dims, Section & s) {
    const int H = 3, T = 2;
    ggml_context * ctx = new_ctx(16);
    ggml_tensor * a = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, n_dims, H, T);
    ggml_tensor * pos = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
    ((int32_t *) pos->data)[0] = (int32_t) below(64);
    ((int32_t *) pos->data)[1] = 100 + (int32_t) below(4000);
    float * ad = (float *) a->data;
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < n_dims; i++) {
            // unit pair: NORMAL pairs (2i, 2i+1), NEOX pairs (i, i + n_dims/2)
            const bool first = mode == 0 ? (i % 2 == 0) : (i < n_dims / 2);
            ad[(t * H + 0) * n_dims + i] = first ? 1.0f : 0.0f;
        }
        for (int h = 1; h < H; h++) {
            for (int i = 0; i < n_dims; i++) ad[(t * H + h) * n_dims + i] = rand_f32(-6, 4);
        }
    }
    std::vector<float> input(ad, ad + (size_t) n_dims * H * T);
    ggml_tensor * out = inplace
        ? ggml_rope_ext_inplace(ctx, a, pos, nullptr, n_dims, mode, 0, 10000.0f, 1.0f, 0.0f, 1.0f, 32.0f, 1.0f)
        : ggml_rope_ext(ctx, a, pos, nullptr, n_dims, mode, 0, 10000.0f, 1.0f, 0.0f, 1.0f, 32.0f, 1.0f);
    compute(ctx, out);
    if (inplace && out->data != a->data) { fprintf(stderr, "inplace rope not in place\n"); exit(1); }
    const float * od = (const float *) out->data;
    for (int t = 0; t < T; t++) {
        put_u32((uint32_t) mode); put_u32(inplace ? 1u : 0u); put_u32((uint32_t) n_dims); put_u32((uint32_t)(H - 1));
        put_u32((uint32_t)((int32_t *) pos->data)[t]);
        // cache: cos/sin interleaved per pair, read off row 0
        for (int p = 0; p < n_dims / 2; p++) {
            const int i0 = mode == 0 ? 2 * p : p;
            const int i1 = mode == 0 ? 2 * p + 1 : p + n_dims / 2;
            put_f32(od[(t * H + 0) * n_dims + i0]);
            put_f32(od[(t * H + 0) * n_dims + i1]);
        }
        for (int h = 1; h < H; h++) for (int i = 0; i < n_dims; i++) put_f32(input[(t * H + h) * n_dims + i]);
        for (int h = 1; h < H; h++) for (int i = 0; i < n_dims; i++) put_f32(od[(t * H + h) * n_dims + i]);
        s.n_cases++;
    }
    ggml_free(ctx);
}

static void gen_rope() {
    Section s = begin_section(10);
    for (int d = 2; d <= 40; d += 2) gen_rope_case(0, false, d, s);
    gen_rope_case(0, false, 64, s);
    gen_rope_case(0, false, 128, s);
    const int inpl[] = { 2, 6, 10, 14, 64 };
    for (int d : inpl) gen_rope_case(0, true, d, s);
    const int neox[] = { 2, 4, 6, 10, 64, 128 };
    for (int d : neox) gen_rope_case(GGML_ROPE_TYPE_NEOX, false, d, s);
    end_section(s); g_n_sections++;
}

// ---------------------------------------------------------------------------------------------

int main(int argc, char ** argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s OUT_FILE\n", argv[0]); return 2; }
    ggml_cpu_init(); // fills ggml_table_f32_f16, used by the f16 dot's scalar tail

    for (int i = 0; i < 8; i++) g_out.push_back((uint8_t) "LMXFK001"[i]);
    put_u32(1);      // version
    put_u32(0);      // n_sections, patched

    gen_dot_f32();
    gen_dot_16(2, false);
    gen_dot_16(3, true);
    gen_tiny(4, GGML_TYPE_F32);
    gen_tiny(5, GGML_TYPE_F16);
    gen_tiny(6, GGML_TYPE_BF16);
    gen_expf();
    gen_softmax();
    gen_swiglu();
    gen_rope();

    for (int i = 0; i < 4; i++) g_out[12 + i] = (uint8_t)(g_n_sections >> (8 * i));

    FILE * f = fopen(argv[1], "wb");
    if (!f || fwrite(g_out.data(), 1, g_out.size(), f) != g_out.size() || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", argv[1]); return 1;
    }
    fprintf(stderr, "wrote %s: %zu bytes, %u sections; tinyBLAS outputs differing from ggml_vec_dot_*: %d of %d\n",
            argv[1], g_out.size(), g_n_sections, g_tiny_differs_from_vec, 8 * (12 + 13 + 13));
    return 0;
}
