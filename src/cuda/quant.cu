// Dequantisation on CUDA (spec §12).
//
// One grid-stride loop over "units" of a row: E consecutive codes giving
// one 16-byte store of y (4 f32 or 8 f16/bf16 values; int8 loads E bytes,
// int4 E/2), so each warp's stores cover one contiguous 512-byte run and
// its loads a contiguous run of codes.  Where the rows do not allow that,
// 4-value units (8-byte stores of f16/bf16), else one value (int8) or one
// byte (int4) per unit.  Each unit fetches the
// scales (and zero points) its values use: one value for the per-tensor
// and per-row modes, and for groups the group of its first value plus a
// step at each group boundary inside the unit, so any group size works
// without a division per value.  Scales are tiny and stay in L1/L2.
//
// Bitwise (int8, int4): the f32 operations are exactly the CPU's and the
// spec's, one product (int8) or one difference then one product (int4),
// spelled with __fmul_rn / __fsub_rn so no contraction can change them,
// then one rounding into y's dtype.  Codes become floats without I2F (see
// code_float).  dequantize_silu_int8 applies silu_ex2 (EW).
//
// Entry points follow the slots of src/api/quant.c.

#include "common.cuh"

namespace {

// A scale or zero-point tensor: a flat row of n elements of any float
// dtype; the count picks the mode (1: per tensor, g = 0: per row, else
// per group of g values).
struct Grouping {
  const void *data;  // null: absent (zero point 0)
  zk_dtype dtype;
  int64_t n;
};

struct QuantJob {
  const void *x;
  void *y;
  int64_t x_stride, y_stride;  // x in bytes (elements of 1 byte), y in elements
  int64_t rows, D;             // D: logical values per row
  int64_t g, groups_per_row;   // group_size and D / g (g > 0)
  Grouping scale, zp;
  uint32_t nibble_flip;        // int4: 0x08 in every byte when signed (see int4_kernel), else 0
};

// The f32 values of grouping s for logical values j0 .. j0+E-1 of row r.
template <int E>
__device__ __forceinline__ void group_values(const Grouping &s, const QuantJob &j, int64_t r, int64_t j0,
                                             float (&out)[E]) {
  if (!s.data) {
#pragma unroll
    for (int k = 0; k < E; k++) out[k] = 0.0f;
    return;
  }
  if (s.n == 1 || j.g == 0) {
    float v = zk_ld_param(s.data, s.dtype, s.n == 1 ? 0 : r);
#pragma unroll
    for (int k = 0; k < E; k++) out[k] = v;
    return;
  }
  int64_t grp = zk_idiv(j0, j.g), base = r * j.groups_per_row;
  int64_t left = (grp + 1) * j.g - j0;  // values of the unit still in group grp
  float v = zk_ld_param(s.data, s.dtype, base + grp);
#pragma unroll
  for (int k = 0; k < E; k++) {
    if (k == left) {  // crossed into the next group (g < E)
      grp++;
      left += j.g;
      v = zk_ld_param(s.data, s.dtype, base + grp);
    }
    out[k] = v;
  }
}

// N bytes at p as little-endian 32-bit words (one access, aligned to N,
// for N = 16, 8, 4, 2; N = 1 a single byte).
template <int N>
__device__ __forceinline__ void load_words(const uint8_t *p, uint32_t (&w)[(N + 3) / 4]) {
  if constexpr (N == 16) {
    uint4 v = *reinterpret_cast<const uint4 *>(p);
    w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
  } else if constexpr (N == 8) {
    uint2 v = *reinterpret_cast<const uint2 *>(p);
    w[0] = v.x, w[1] = v.y;
  } else if constexpr (N == 4) {
    w[0] = *reinterpret_cast<const uint32_t *>(p);
  } else if constexpr (N == 2) {
    w[0] = *reinterpret_cast<const uint16_t *>(p);
  } else {
    static_assert(N == 1, "units of 16, 8, 4, 2 or 1 bytes");
    w[0] = *p;
  }
}

// Byte k of `word` (0..255) minus `offset`, exactly, as f32: the byte
// placed under the exponent of 2^23 (one PRMT) reads as 2^23 + byte, and
// one subtraction of 2^23 + bias leaves byte - bias.  I2F, the plain
// conversion, is a quarter-rate instruction on sm_90 that the 16-bit
// outputs' issue rate could not afford once per code.
__device__ __forceinline__ float code_float(uint32_t word, int k, float offset) {
  return __fsub_rn(__int_as_float(__byte_perm(word, 0x4B000000u, 0x7440u | (unsigned)k)), offset);
}

constexpr float kMagic = 8388608.0f;  // 2^23

// E outputs at y: one span access when VEC (aligned for zk_st_span), else
// element by element.
template <typename To, int E, bool VEC>
__device__ __forceinline__ void store_values(To *y, const float (&v)[E]) {
  if constexpr (VEC) {
    zk_st_span<To, E>(y, v);
  } else {
#pragma unroll
    for (int k = 0; k < E; k++) zk_st(y + k, v[k]);
  }
}

// silu as the shared zk_silu_f computes it, v·σ(v) from e^-|v|, but with
// e^-|v| as one ex2.approx (zk_exp_shifted) where libdevice's expf costs
// about eight instructions and its range checks: the silu of a 16-bit
// output was issue-bound (65% of copy).  Relative error about
// |v|·2^-24 + 2^-22 (under 1e-6 for |v| < 12), within EW's 1e-5; an e^-|v|
// below 2^-126 (|v| > 87) is flushed to 0, an absolute error under 1e-36.
__device__ __forceinline__ float silu_ex2(float v) {
  float e = zk_exp_shifted(-fabsf(v), 0.0f);
  float s = zk_rcp_1to2_f(1.0f + e);
  return v * (v >= 0.0f ? s : e * s);
}

// The grid-stride walk over units of NBYTES code bytes each (unit u of row
// r starts at byte u·NBYTES): body(r, u, words) for each.  The next unit's
// codes are loaded before body converts the current one, so every thread
// keeps a load in flight while it computes (ncu: the one-unit loop stalled
// on its loads at 47% compute).
template <int NBYTES, typename Body>
__device__ __forceinline__ void for_each_unit(const QuantJob &j, int64_t per_row, Body body) {
  constexpr int NW = (NBYTES + 3) / 4;
  const int64_t total = j.rows * per_row, step = (int64_t)gridDim.x * blockDim.x;
  int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  auto codes_at = [&](int64_t r, int64_t u) { return (const uint8_t *)j.x + r * j.x_stride + u * NBYTES; };
  if (q >= total) return;
  int64_t r = zk_idiv(q, per_row), u = q - r * per_row;
  uint32_t w[NW];
  load_words<NBYTES>(codes_at(r, u), w);
  for (;;) {
    const int64_t next = q + step;
    const bool more = next < total;
    int64_t r_next = 0, u_next = 0;
    uint32_t w_next[NW] = {};
    if (more) {
      r_next = zk_idiv(next, per_row), u_next = next - r_next * per_row;
      load_words<NBYTES>(codes_at(r_next, u_next), w_next);
    }
    body(r, u, w);
    if (!more) return;
    q = next, r = r_next, u = u_next;
#pragma unroll
    for (int i = 0; i < NW; i++) w[i] = w_next[i];
  }
}

// The values of E int8 codes (little-endian words w): q·s[k], then silu.
template <int E, bool SILU>
__device__ __forceinline__ void int8_values(uint32_t (&w)[(E + 3) / 4], const float (&s)[E], float (&v)[E]) {
  // Flipping the sign bit maps the int8 code q to the byte q + 128.
#pragma unroll
  for (int i = 0; i < (E + 3) / 4; i++) w[i] ^= 0x80808080u;
#pragma unroll
  for (int k = 0; k < E; k++) {
    v[k] = __fmul_rn(code_float(w[k / 4], k % 4, kMagic + 128.0f), s[k]);
    if constexpr (SILU) v[k] = silu_ex2(v[k]);
  }
}

// The values of NB bytes of int4 codes (2·NB values; byte i holds value
// 2i in its low nibble and 2i + 1 in its high one): (q - z[k])·s[k].
// nibble_flip: 0x08 in every byte when signed, else 0.
template <int NB>
__device__ __forceinline__ void int4_values(const uint32_t (&w)[(NB + 3) / 4], uint32_t nibble_flip,
                                            const float (&s)[2 * NB], const float (&z)[2 * NB],
                                            float (&v)[2 * NB]) {
  constexpr int NW = (NB + 3) / 4;
  // The low and the high nibbles of four bytes at once, each a byte for
  // code_float.  Signed: flipping bit 3 maps q = nibble - 16·[nibble >= 8]
  // to the byte q + 8.
  uint32_t lo[NW], hi[NW];
#pragma unroll
  for (int i = 0; i < NW; i++) {
    lo[i] = (w[i] & 0x0F0F0F0Fu) ^ nibble_flip;
    hi[i] = ((w[i] >> 4) & 0x0F0F0F0Fu) ^ nibble_flip;
  }
  const float offset = kMagic + (float)(nibble_flip & 15);
#pragma unroll
  for (int b = 0; b < NB; b++) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
      float code = code_float(h ? hi[b / 4] : lo[b / 4], b % 4, offset);
      int k = 2 * b + h;
      v[k] = __fmul_rn(__fsub_rn(code, z[k]), s[k]);
    }
  }
}

// int8: E codes per unit (E = 16, 8, 4 or 1).
template <typename To, int E, bool VEC, bool SILU>
__global__ void int8_kernel(QuantJob j) {
  for_each_unit<E>(j, j.D / E, [&](int64_t r, int64_t u, uint32_t (&w)[(E + 3) / 4]) {
    const int64_t j0 = u * E;
    float s[E], v[E];
    group_values<E>(j.scale, j, r, j0, s);
    int8_values<E, SILU>(w, s, v);
    store_values<To, E, VEC>((To *)j.y + r * j.y_stride + j0, v);
  });
}

// int4: NB bytes (2·NB codes; NB = 8, 4, 2 or 1) per unit.
template <typename To, int NB, bool VEC>
__global__ void int4_kernel(QuantJob j) {
  constexpr int E = 2 * NB, NW = (NB + 3) / 4;
  for_each_unit<NB>(j, j.D / E, [&](int64_t r, int64_t u, const uint32_t (&w)[NW]) {
    const int64_t j0 = u * E;
    float s[E], z[E], v[E];
    group_values<E>(j.scale, j, r, j0, s);
    group_values<E>(j.zp, j, r, j0, z);
    int4_values<NB>(w, j.nibble_flip, s, z, v);
    store_values<To, E, VEC>((To *)j.y + r * j.y_stride + j0, v);
  });
}

// ------------------------------------------------------------ flat kernel
// Where x and y hold their rows back to back (the usual weight tensor), the
// tensor is one run of values cut into vectors of EPV values (one 16-byte
// store of y each), and a warp takes kFlatVecs consecutive runs of 32
// vectors: lane l stores vectors l, l + 32, ..., so each store instruction
// of the warp is one contiguous 512-byte run and each code load one
// contiguous run of codes.  The unit kernels' 16-code units store 32 or 64
// contiguous bytes a thread in two or four instructions, each of which
// covers the warp's 1 or 2 KB in half-written sectors (int8 to f32 in those
// units measured 86 -> 54% of copy; int4, which has no better unit, 57%).
// A vector lies in one group (host check), so it needs one scale and one
// zero point, found by a division of its first value's index.

constexpr int kFlatVecs = 4;  // vectors a thread a tile: 4 code loads in flight

// n / d for 0 <= n < 2^31 and 1 <= d < 2^31 as a multiply-high, an add and a
// shift (Granlund-Montgomery, as CUTLASS's FastDivmod), where a 32-bit
// division is about twenty instructions.
struct FastDiv {
  uint32_t mul, shift;
  static FastDiv of(uint32_t d) {
    uint32_t l = 0;
    while ((1ull << l) < d) l++;
    return FastDiv{(uint32_t)(((1ull << 32) * ((1ull << l) - d)) / d + 1), l};
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const { return (__umulhi(n, mul) + n) >> shift; }
};

// A scale or zero-point tensor of the flat kernel: value e of the run uses
// element e / d of it (d = g, D or, per tensor, the whole run).
struct FlatGrouping {
  const void *data;  // null: absent (zero point 0)
  zk_dtype dtype;
  FastDiv per;
};

struct FlatJob {
  const void *x;
  void *y;
  uint32_t nvec;          // vectors of y (the run is under 2^31 values)
  FlatGrouping scale, zp;
  uint32_t nibble_flip;   // as QuantJob's
};

__device__ __forceinline__ float flat_group_value(const FlatGrouping &s, uint32_t e) {
  return s.data ? zk_ld_param(s.data, s.dtype, s.per.div(e)) : 0.0f;
}

// One 16-byte vector of y.  bf16 values known to hold no NaN take the
// packed conversion directly (zk_vec_set_all's fast branch without its
// eight NaN tests a vector).
template <typename To>
__device__ __forceinline__ void store_vector(To *p, const float (&v)[zk_vec<To>::EPV], bool nan_free) {
  zk_vec<To> out;
  if (nan_free) zk_vec_set_nan_free(out, v);
  else zk_vec_set_all(out, v);
  out.store(p);
}

// INT4: codes are int4 (EPV / 2 bytes a vector), else int8 (EPV bytes).
template <typename To, bool INT4, bool SILU>
__global__ void __launch_bounds__(256) flat_kernel(FlatJob j) {
  constexpr int EPV = zk_vec<To>::EPV, CB = INT4 ? EPV / 2 : EPV, NW = (CB + 3) / 4;
  const uint32_t thread = blockIdx.x * blockDim.x + threadIdx.x, lane = thread & 31;
  const uint32_t tile = 32 * kFlatVecs, step = (gridDim.x * blockDim.x / 32) * tile;
  for (uint32_t first = (thread / 32) * tile + lane; first < j.nvec; first += step) {
    uint32_t w[kFlatVecs][NW];
    float s[kFlatVecs], z[kFlatVecs];
    // Every load of the tile before the first use.
#pragma unroll
    for (int i = 0; i < kFlatVecs; i++) {
      const uint32_t vec = first + 32 * i;
      if (vec < j.nvec) {
        load_words<CB>((const uint8_t *)j.x + (size_t)vec * CB, w[i]);
        s[i] = flat_group_value(j.scale, vec * EPV);
        z[i] = INT4 ? flat_group_value(j.zp, vec * EPV) : 0.0f;
      }
    }
#pragma unroll
    for (int i = 0; i < kFlatVecs; i++) {
      const uint32_t vec = first + 32 * i;
      if (vec >= j.nvec) break;
      float sv[EPV], zv[EPV], v[EPV];
#pragma unroll
      for (int k = 0; k < EPV; k++) sv[k] = s[i], zv[k] = z[i];
      // No NaN comes out of finite s and z: q - z is finite, so the product
      // is finite or ±Inf; silu's input stays finite while |s| < 2^120.
      bool nan_free;
      if constexpr (INT4) {
        int4_values<CB>(w[i], j.nibble_flip, sv, zv, v);
        nan_free = isfinite(s[i]) && isfinite(z[i]);
      } else {
        int8_values<CB, SILU>(w[i], sv, v);
        nan_free = SILU ? fabsf(s[i]) < 0x1p120f : isfinite(s[i]);
      }
      store_vector<To>((To *)j.y + (size_t)vec * EPV, v, nan_free);
    }
  }
}

template <typename To, int E, bool VEC>
zk_status launch_int8(zk_ctx *ctx, const zk_call *call, const QuantJob &j, bool silu) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  unsigned grid = zk_grid_for(ctx, j.rows * (j.D / E), threads);
  if (silu) int8_kernel<To, E, VEC, true><<<grid, threads, 0, stream>>>(j);
  else int8_kernel<To, E, VEC, false><<<grid, threads, 0, stream>>>(j);
  return ZK_CUDA_LAUNCHED(call);
}

template <typename To, int NB, bool VEC>
zk_status launch_int4(zk_ctx *ctx, const zk_call *call, const QuantJob &j) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  unsigned grid = zk_grid_for(ctx, j.rows * (j.D / (2 * NB)), threads);
  int4_kernel<To, NB, VEC><<<grid, threads, 0, stream>>>(j);
  return ZK_CUDA_LAUNCHED(call);
}

template <typename To, bool INT4>
zk_status launch_flat(zk_ctx *ctx, const zk_call *call, const FlatJob &f, bool silu) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int threads = 256;
  unsigned grid = zk_grid_for(ctx, zk_div_up(f.nvec, kFlatVecs), threads);
  if constexpr (INT4) flat_kernel<To, true, false><<<grid, threads, 0, stream>>>(f);
  else if (silu) flat_kernel<To, false, true><<<grid, threads, 0, stream>>>(f);
  else flat_kernel<To, false, false><<<grid, threads, 0, stream>>>(f);
  return ZK_CUDA_LAUNCHED(call);
}

// The flat kernel's grouping for s (value e of the run uses element e / d),
// or false when a vector of epv values could straddle two of its elements.
bool flat_grouping(const Grouping &s, const QuantJob &j, int epv, FlatGrouping *f) {
  const int64_t d = !s.data || s.n == 1 ? j.rows * j.D : j.g == 0 ? j.D : j.g;
  *f = FlatGrouping{s.data, s.dtype, FastDiv::of((uint32_t)d)};
  return d % epv == 0;
}

// The flat kernel's job (vectors of epv values, code_bytes of codes each)
// where x and y hold their rows back to back, the run is under 2^31 values
// and a whole number of vectors, the data are aligned for the vectors and
// no vector straddles a group; false otherwise.
bool flat_job_of(const QuantJob &j, const zk_rows *x, const zk_rows *y, int epv, int code_bytes, FlatJob *f) {
  const int64_t total = j.rows * j.D;
  const bool back_to_back = j.rows <= 1 || (x->stride == x->cols && y->stride == y->cols);
  if (!back_to_back || total >= ((int64_t)1 << 31) || total % epv != 0 || (uintptr_t)x->data % code_bytes != 0 ||
      (uintptr_t)y->data % 16 != 0)
    return false;
  f->x = j.x;
  f->y = j.y;
  f->nvec = (uint32_t)(total / epv);
  f->nibble_flip = j.nibble_flip;
  return flat_grouping(j.scale, j, epv, &f->scale) && flat_grouping(j.zp, j, epv, &f->zp);
}

// The widest unit the views allow: the codes per unit divide D, the x rows
// are aligned for the unit's load and the y rows for its store.
bool unit_fits(const zk_rows *x, const zk_rows *y, int64_t D, int codes, int x_bytes) {
  int es = zk_dtype_size(y->dtype);
  return D % codes == 0 && zk_rows_aligned(x, x_bytes) && zk_rows_aligned(y, zk_span_align(codes * es, es));
}

// V: the values of one 16-byte store of To.  Sixteen codes a unit where
// the views allow (16 or 8 bytes of codes, 32 or 64 bytes of values),
// except int8 to f32: measured on the H100 (8192 x 8192), 16-bit int8
// went from 76 to 79% of copy (silu 58 to 65), int4 from 38 to 43 (bf16)
// and 47 to 64% (f32), but int8 to f32 fell from 86 to 54%.
template <typename To>
zk_status run_int8(zk_ctx *ctx, const zk_call *call, const QuantJob &j, const zk_rows *x, const zk_rows *y,
                   bool silu) {
  constexpr int V = zk_vec<To>::EPV;
  FlatJob f;
  if (flat_job_of(j, x, y, V, V, &f)) return launch_flat<To, false>(ctx, call, f, silu);
  if (V != 4 && unit_fits(x, y, j.D, 16, 16)) return launch_int8<To, 16, true>(ctx, call, j, silu);
  if (unit_fits(x, y, j.D, V, V)) return launch_int8<To, V, true>(ctx, call, j, silu);
  if (V != 4 && unit_fits(x, y, j.D, 4, 4)) return launch_int8<To, 4, true>(ctx, call, j, silu);
  return launch_int8<To, 1, false>(ctx, call, j, silu);
}

template <typename To>
zk_status run_int4(zk_ctx *ctx, const zk_call *call, const QuantJob &j, const zk_rows *x, const zk_rows *y) {
  constexpr int V = zk_vec<To>::EPV;
  FlatJob f;
  if (flat_job_of(j, x, y, V, V / 2, &f)) return launch_flat<To, true>(ctx, call, f, false);
  if (unit_fits(x, y, j.D, 16, 8)) return launch_int4<To, 8, true>(ctx, call, j);
  if (unit_fits(x, y, j.D, V, V / 2)) return launch_int4<To, V / 2, true>(ctx, call, j);
  if (V != 4 && unit_fits(x, y, j.D, 4, 2)) return launch_int4<To, 2, true>(ctx, call, j);
  return launch_int4<To, 1, false>(ctx, call, j);
}

Grouping grouping_of(const zk_rows *t) {
  Grouping s = {zk_present(t) ? t->data : nullptr, t->dtype, t->cols};
  return s;
}

QuantJob job_of(const zk_rows *x, const zk_rows *scale, const zk_rows *zp, const zk_rows *y, int64_t D, int64_t g,
                bool is_signed) {
  QuantJob j;
  j.x = x->data;
  j.y = y->data;
  j.x_stride = x->stride;
  j.y_stride = y->stride;
  j.rows = x->rows;
  j.D = D;
  j.g = g;
  j.groups_per_row = g > 0 ? D / g : 0;
  j.scale = grouping_of(scale);
  Grouping none = {nullptr, ZK_F32, 0};
  j.zp = zp ? grouping_of(zp) : none;
  j.nibble_flip = is_signed ? 0x08080808u : 0u;
  return j;
}

zk_status int8_entry(zk_ctx *ctx, const zk_call *call, const zk_args *a, bool silu) {
  const zk_rows *x = &a->t[0], *y = &a->t[2];
  QuantJob j = job_of(x, &a->t[1], nullptr, y, x->cols, a->i[0], false);
  if (j.rows == 0 || j.D == 0) return ZK_OK;
  switch (y->dtype) {
    case ZK_F32: return run_int8<float>(ctx, call, j, x, y, silu);
    case ZK_F16: return run_int8<__half>(ctx, call, j, x, y, silu);
    default: return run_int8<__nv_bfloat16>(ctx, call, j, x, y, silu);
  }
}

}  // namespace

extern "C" zk_status zk_cuda_dequantize_int8(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, dequantize_int8);
  return int8_entry(ctx, call, a, false);
}

extern "C" zk_status zk_cuda_dequantize_silu_int8(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, dequantize_silu_int8);
  return int8_entry(ctx, call, a, true);
}

extern "C" zk_status zk_cuda_dequantize_int4(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, dequantize_int4);
  const zk_rows *x = &a->t[0], *y = &a->t[3];
  QuantJob j = job_of(x, &a->t[1], &a->t[2], y, 2 * x->cols, a->i[0], a->i[1] != 0);
  if (j.rows == 0 || j.D == 0) return ZK_OK;
  switch (y->dtype) {
    case ZK_F32: return run_int4<float>(ctx, call, j, x, y);
    case ZK_F16: return run_int4<__half>(ctx, call, j, x, y);
    default: return run_int4<__nv_bfloat16>(ctx, call, j, x, y);
  }
}
