// Transformer essentials on CUDA (spec §4).
//
// Gated MLPs (swiglu, geglu, their bias variants and VJPs) are elementwise
// over the two halves of x: gate = x[..., :D] and up = x[..., D:] are two
// views of the same rows (up is gate shifted by D elements, same stride),
// so zk_cuda_map drives them as maps of two (forward) or three (VJP)
// inputs.  A VJP that also wants dbias = Σ_rows dx (from the f32 dx, before
// rounding) runs a column-tiled row-block kernel instead: each thread keeps
// the running sums of its columns over a fixed range of rows in registers,
// writes them as one partial row, and zk_cuda_column_sums adds the partial
// rows in block order.  No atomics: the same bits on every run.
//
// The residual + norm fusions and rms_norm_dropout map onto the row engine
// of norms.cuh exactly as the CPU maps them onto its engine.
//
// Dropout runs Philox once per four consecutive elements: a vector kernel
// where rows allow 16-byte vectors, zk_cuda_map otherwise; p = 0 is a byte
// copy, so it is the identity bit for bit.
#include "map.cuh"
#include "norms.cuh"
#include "rows.cuh"

namespace {

// ------------------------------------------------------------ gated MLPs

// The gate activation, and the activation with its derivative from one
// shared sigmoid (the formulas of the CPU backend's silu_and_deriv and
// gelu_and_deriv): the VJP then pays one exp and one division per element,
// where act and zk_*_deriv_f separately would pay two of each (tanhf in
// zk_gelu_tanh_deriv_f), which makes the bf16 VJPs compute-bound.
struct Silu {
  static __device__ __forceinline__ float act(float a) { return zk_silu_f(a); }
  static __device__ __forceinline__ float act_and_deriv(float a, float &d) {
    float s = zk_sigmoid_f(a);
    d = s * (1.0f + a * (1.0f - s));  // zk_silu_deriv_f
    return a * s;                     // zk_silu_f
  }
};
// gelu_tanh(a) = a·σ(2u) as zk_gelu_tanh_f; with t = tanh u = 2σ(2u) - 1,
// 1 - t² = 4σ(1 - σ), so gelu' = ½(1 + t) + ½a(1 - t²)u' = σ + 2a·σ(1 - σ)·u'.
struct GeluTanh {
  static __device__ __forceinline__ float act(float a) { return zk_gelu_tanh_f(a); }
  static __device__ __forceinline__ float act_and_deriv(float a, float &d) {
    float u = ZK_GELU_C0 * (a + ZK_GELU_C1 * a * a * a);
    float s = zk_sigmoid_f(2.0f * u);
    d = s + 2.0f * a * s * (1.0f - s) * ZK_GELU_C0 * (1.0f + 3.0f * ZK_GELU_C1 * a * a);
    return a * s;
  }
};

// t [..., 2D] as its halves [..., :D] and [..., D:].  An absent tensor
// gives two absent halves.
void split_halves(const zk_rows *t, zk_rows half[2]) {
  half[0] = *t;
  half[0].cols = t->cols / 2;
  half[1] = half[0];
  if (zk_present(t)) half[1].data = (char *)t->data + half[0].cols * zk_dtype_size(t->dtype);
}

// The [2D] bias of both halves in its own dtype, or none (data NULL).
struct GluBias {
  const void *data;
  zk_dtype dtype;
  int64_t D;
  __device__ __forceinline__ float at(int64_t k) const { return zk_ld_param(data, dtype, k); }
  // a += bias_j, b += bias_{D+j}.  Nothing without a bias: adding 0 would
  // turn a -0 into +0.
  __device__ __forceinline__ void apply(int64_t j, float &a, float &b) const {
    if (!data) return;
    a += at(j);
    b += at(D + j);
  }
};

GluBias glu_bias(const zk_rows *bias, int64_t D) {
  if (!bias || !zk_present(bias)) return GluBias{nullptr, ZK_F32, D};
  return GluBias{bias->data, bias->dtype, D};
}

// in: gate, up; out: y = act(a)·b with a = gate (+ bias_j) and
// b = up (+ bias_{D+j}).
template <typename Act>
struct GluFwd {
  GluBias bias;
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[2], int64_t, int64_t j) const {
    float a = in[0], b = in[1];
    bias.apply(j, a, b);
    out[0] = Act::act(a) * b;
  }
};

// The VJP of one (gate, up) pair: da = g·b·act'(a), db = g·act(a).
template <typename Act>
__device__ __forceinline__ void glu_vjp(float a, float b, float g, float &da, float &db) {
  float d, v = Act::act_and_deriv(a, d);
  da = g * b * d;
  db = g * v;
}

// in: gate, up, dy; out: dgate, dup.  dx may alias x: the map reads every
// input of (r, j) before it writes the outputs of (r, j).
template <typename Act>
struct GluBwd {
  GluBias bias;
  __device__ __forceinline__ void operator()(float (&out)[2], const float (&in)[3], int64_t, int64_t j) const {
    float a = in[0], b = in[1];
    bias.apply(j, a, b);
    glu_vjp<Act>(a, b, in[2], out[0], out[1]);
  }
};

template <typename Act>
zk_status glu_forward(zk_ctx *ctx, const zk_call *call, const zk_rows *x, const zk_rows *bias, const zk_rows *y) {
  zk_rows half[2];
  split_halves(x, half);
  const zk_rows *const in[2] = {&half[0], &half[1]};
  const zk_rows *const out[1] = {y};
  return zk_cuda_map(ctx, call, in, out, GluFwd<Act>{glu_bias(bias, y->cols)});
}

// E consecutive elements of a row as f32: one 16-byte vector or a scalar.
template <typename T, int E>
__device__ __forceinline__ void load_span(const T *p, float (&v)[E]) {
  if constexpr (E > 1) {
    zk_vec<T> w;
    w.load(p);
#pragma unroll
    for (int e = 0; e < E; e++) v[e] = w.get(e);
  } else {
    v[0] = zk_ld(p);
  }
}

template <typename T, int E>
__device__ __forceinline__ void store_span(T *p, const float (&v)[E]) {
  if constexpr (E > 1) {
    zk_vec<T> w;
    zk_vec_set_all(w, v);
    w.store(p);
  } else {
    zk_st(p, v[0]);
  }
}

struct GluGradParams {
  const void *x, *dy;
  void *dx;  // NULL: dx not stored
  int64_t sx, sdy, sdx;
  int64_t rows, D, rows_per_block;
  GluBias bias;    // present: dbias belongs to the bias variants
  float *partial;  // [gridDim.y][2D]: row block b's sums of dgate | dup
};

constexpr int kDbiasThreads = 256;
// __launch_bounds__ keeps 3 blocks resident per SM (at most 85 registers),
// so sm_count·3 blocks are one full wave of equal work.
constexpr int kDbiasBlocksPerSm = 3;

// Block (cx, ry) owns columns [cx·blockDim·E, (cx+1)·blockDim·E) of each
// half and rows [ry·rpb, (ry+1)·rpb).  Thread t walks its E columns down
// the rows, accumulating dgate and dup in f32 registers in row order.
template <typename T, bool VEC, typename Act>
__global__ void __launch_bounds__(kDbiasThreads, kDbiasBlocksPerSm) glu_grad_dbias_kernel(GluGradParams p) {
  constexpr int E = VEC ? zk_vec<T>::EPV : 1;
  int64_t j0 = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * E;
  if (j0 >= p.D) return;  // no block-level synchronisation below
  int64_t r0 = (int64_t)blockIdx.y * p.rows_per_block, r1 = r0 + p.rows_per_block;
  if (r1 > p.rows) r1 = p.rows;
  float ba[E], bb[E], sa[E], sb[E];
#pragma unroll
  for (int e = 0; e < E; e++) {
    ba[e] = p.bias.at(j0 + e);
    bb[e] = p.bias.at(p.D + j0 + e);
    sa[e] = sb[e] = 0.0f;
  }
  for (int64_t r = r0; r < r1; r++) {
    const T *xr = (const T *)p.x + r * p.sx;
    float a[E], b[E], g[E], da[E], db[E];
    load_span<T, E>(xr + j0, a);
    load_span<T, E>(xr + p.D + j0, b);
    load_span<T, E>((const T *)p.dy + r * p.sdy + j0, g);
#pragma unroll
    for (int e = 0; e < E; e++) {
      glu_vjp<Act>(a[e] + ba[e], b[e] + bb[e], g[e], da[e], db[e]);
      sa[e] += da[e];
      sb[e] += db[e];
    }
    if (p.dx) {
      // dx may alias x: this thread has read these elements of row r.
      T *dxr = (T *)p.dx + r * p.sdx;
      store_span<T, E>(dxr + j0, da);
      store_span<T, E>(dxr + p.D + j0, db);
    }
  }
  float *part = p.partial + (int64_t)blockIdx.y * 2 * p.D;
#pragma unroll
  for (int e = 0; e < E; e++) {
    part[j0 + e] = sa[e];
    part[p.D + j0 + e] = sb[e];
  }
}

template <typename T, typename Act>
void launch_dbias(const GluGradParams &p, bool vec, dim3 grid, int threads, cudaStream_t stream) {
  if (vec) glu_grad_dbias_kernel<T, true, Act><<<grid, threads, 0, stream>>>(p);
  else glu_grad_dbias_kernel<T, false, Act><<<grid, threads, 0, stream>>>(p);
}

// x [R, 2D], bias, dy [R, D] -> dx? [R, 2D], dbias [2D] (both present).
template <typename Act>
zk_status glu_backward_dbias(zk_ctx *ctx, const zk_call *call, const zk_rows *x, const zk_rows *bias,
                             const zk_rows *dy, const zk_rows *dx, const zk_rows *dbias) {
  cudaStream_t stream;
  {
    zk_status s = zk_cuda_enter(ctx, call, &stream);
    if (s != ZK_OK) return s;
  }
  int64_t R = x->rows, D = dy->cols;
  zk_rows xh[2], dxh[2];
  split_halves(x, xh);
  split_halves(dx, dxh);
  bool store = zk_present(dx);
  bool vec = zk_rows_vec_ok(&xh[0]) && zk_rows_vec_ok(&xh[1]) && zk_rows_vec_ok(dy) &&
             (!store || (zk_rows_vec_ok(&dxh[0]) && zk_rows_vec_ok(&dxh[1])));
  int E = vec ? 16 / zk_dtype_size(x->dtype) : 1;
  // Column tiles of up to 256 threads, and row blocks to fill one wave.
  // The row partition depends on the shape and the SM count only.
  int64_t lanes = (D + E - 1) / E;
  int threads = lanes >= kDbiasThreads ? kDbiasThreads : (int)((lanes + 31) / 32 * 32);
  int64_t col_tiles = (lanes + threads - 1) / threads;
  int64_t row_blocks = (int64_t)zk_cuda(ctx)->sm_count * kDbiasBlocksPerSm / col_tiles;
  int64_t cap = ((int64_t)64 << 20) / (2 * D * 4);  // at most 64 MiB of partial sums
  if (row_blocks > cap) row_blocks = cap;
  if (row_blocks < 1) row_blocks = 1;
  if (row_blocks > R) row_blocks = R;
  int64_t per = R ? (R + row_blocks - 1) / row_blocks : 0;
  if (R) row_blocks = (R + per - 1) / per;
  zk_status s;
  float *partial = (float *)zk_cuda_workspace(ctx, call, (size_t)(row_blocks > 0 ? row_blocks : 1) * 2 * D * 4, &s);
  if (!partial) return s;
  if (row_blocks > 0) {
    GluGradParams p = {};
    p.x = x->data;
    p.dy = dy->data;
    p.dx = store ? dx->data : nullptr;
    p.sx = x->stride;
    p.sdy = dy->stride;
    p.sdx = store ? dx->stride : 0;
    p.rows = R;
    p.D = D;
    p.rows_per_block = per;
    p.bias = glu_bias(bias, D);
    p.partial = partial;
    dim3 grid((unsigned)col_tiles, (unsigned)row_blocks);
    switch (x->dtype) {
      case ZK_F32: launch_dbias<float, Act>(p, vec, grid, threads, stream); break;
      case ZK_F16: launch_dbias<__half, Act>(p, vec, grid, threads, stream); break;
      default: launch_dbias<__nv_bfloat16, Act>(p, vec, grid, threads, stream); break;
    }
    s = ZK_CUDA_LAUNCHED(call);
    if (s != ZK_OK) return s;
  }
  // R = 0 sums no partial rows: dbias = 0.
  return zk_cuda_column_sums(call, stream, partial, row_blocks, 2 * D, dbias);
}

// x [R, 2D], bias?, dy [R, D] -> dx? [R, 2D], dbias? [2D].
template <typename Act>
zk_status glu_backward(zk_ctx *ctx, const zk_call *call, const zk_rows *x, const zk_rows *bias, const zk_rows *dy,
                       const zk_rows *dx, const zk_rows *dbias) {
  if (dbias && zk_present(dbias)) return glu_backward_dbias<Act>(ctx, call, x, bias, dy, dx, dbias);
  zk_rows xh[2], dxh[2];
  split_halves(x, xh);
  split_halves(dx, dxh);
  const zk_rows *const in[3] = {&xh[0], &xh[1], dy};
  const zk_rows *const out[2] = {&dxh[0], &dxh[1]};
  return zk_cuda_map(ctx, call, in, out, GluBwd<Act>{glu_bias(bias, dy->cols)});
}

// ---------------------------------------------------------------- dropout
// Element (r, j) has the logical flat index i = r·cols + j and the counter
// n = offset + i (mod 2^64); four consecutive counters share one Philox
// block.  Rows that allow 16-byte vectors (cols a multiple of the vector
// width, so every vector starts at the same n mod 4) go through
// dropout_vec_kernel, which runs Philox once per block; other layouts
// through zk_cuda_map.  Both give the same bits.

// The element is dropped iff u = draw·2^-24 < p (zk_dropout_drops).  Both
// draw·2^-24 and p·2^24 are exact (power-of-two scalings of values in
// [0, 1]), so that is draw < p·2^24, i.e. draw < ceil(p·2^24): one integer
// compare per element instead of a convert, a multiply and a compare.
uint32_t drop_threshold(float p) { return (uint32_t)ceilf(p * 16777216.0f); }

// A kept element is round_T(x·s), a dropped one +0.  A kept NaN is passed
// on quietened rather than multiplied (the GPU's multiply returns its
// canonical NaN, the CPU's keeps the payload), so NaN payloads match the
// CPU backend as well.
__device__ __forceinline__ float dropout_value(float x, uint32_t draw, uint32_t threshold, float scale) {
  float kept = x != x ? __int_as_float(__float_as_int(x) | 0x00400000) : x * scale;
  return draw < threshold ? 0.0f : kept;
}

// The fallback's functor: zk_cuda_map walks these layouts one element per
// thread and step, so each element runs its own Philox.
struct DropoutOp {
  uint32_t threshold;
  float scale;
  uint64_t seed, offset;
  int64_t cols;
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[1], int64_t r, int64_t j) const {
    zk_drop_stream draws = {seed, 0, {0, 0, 0, 0}, false};
    out[0] = dropout_value(in[0], draws.at(offset + (uint64_t)(r * cols + j)), threshold, scale);
  }
};

struct DropoutParams {
  const void *x;
  void *y;
  int64_t sx, sy, rows, cols;
  uint32_t threshold;
  float scale;
  uint64_t seed, offset;
};

// One 16-byte vector per thread and step, over a 2-D grid (x: vectors of a
// row, y: rows).  A = offset mod 4 = n mod 4 of every vector's first
// element, so element e takes word A + e of the vector's NB Philox blocks:
// constant indices, the draws stay in registers.
template <typename T, int A>
__global__ void dropout_vec_kernel(DropoutParams p) {
  constexpr int E = zk_vec<T>::EPV, NB = (A + E + 3) / 4;
  int64_t per_row = p.cols / E;
  for (int64_t r = blockIdx.y; r < p.rows; r += gridDim.y) {
    const T *xr = (const T *)p.x + r * p.sx;
    T *yr = (T *)p.y + r * p.sy;
    for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < per_row; q += (int64_t)gridDim.x * blockDim.x) {
      zk_vec<T> v;
      v.load(xr + q * E);  // in flight while Philox runs
      // Block numbers wrap with the counter: n < 2^64, so n >> 2 < 2^62.
      uint64_t block0 = (p.offset + (uint64_t)(r * p.cols + q * E)) >> 2;
      uint32_t w[4 * NB];
#pragma unroll
      for (int b = 0; b < NB; b++) zk_dropout_draws(p.seed, (block0 + b) & (UINT64_MAX >> 2), w + 4 * b);
      float y[E];
#pragma unroll
      for (int e = 0; e < E; e++) y[e] = dropout_value(v.get(e), w[A + e], p.threshold, p.scale);
      zk_vec_set_all(v, y);
      v.store(yr + q * E);
    }
  }
}

template <typename T>
void launch_dropout_vec(const DropoutParams &p, dim3 grid, int threads, cudaStream_t stream) {
  switch (p.offset & 3) {
    case 0: dropout_vec_kernel<T, 0><<<grid, threads, 0, stream>>>(p); break;
    case 1: dropout_vec_kernel<T, 1><<<grid, threads, 0, stream>>>(p); break;
    case 2: dropout_vec_kernel<T, 2><<<grid, threads, 0, stream>>>(p); break;
    default: dropout_vec_kernel<T, 3><<<grid, threads, 0, stream>>>(p); break;
  }
}

zk_status dropout_vec(zk_ctx *ctx, const zk_call *call, const zk_rows *x, const zk_rows *y,
                      const zk_dropout_cfg *d) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  DropoutParams p = {x->data,  y->data,  x->stride, y->stride, x->rows,
                     x->cols,  drop_threshold(d->p), d->scale, d->seed, d->offset};
  const int threads = 256;
  int64_t per_row = x->cols / (16 / zk_dtype_size(x->dtype));
  unsigned total = zk_grid_for(ctx, x->rows * per_row, threads);  // blocks that fill the chip
  unsigned gx = zk_div_up(per_row, threads);
  if (gx > total) gx = total;
  int64_t gy = total / gx;
  if (gy > x->rows) gy = x->rows;
  if (gy > 65535) gy = 65535;
  if (gy < 1) gy = 1;
  dim3 grid(gx, (unsigned)gy);
  switch (x->dtype) {
    case ZK_F32: launch_dropout_vec<float>(p, grid, threads, stream); break;
    case ZK_F16: launch_dropout_vec<__half>(p, grid, threads, stream); break;
    default: launch_dropout_vec<__nv_bfloat16>(p, grid, threads, stream); break;
  }
  return ZK_CUDA_LAUNCHED(call);
}

// p = 0 is the identity bit for bit: a byte copy (nothing at all in place).
// Input rows that overlap (stride below the row length, e.g. 0 repeating
// one row) cannot go through a 2-D copy; there the kernels keep every
// element as round_T(x·1) = x, exact except for signalling NaN payloads.
bool copy_identity(const zk_rows *x, const zk_rows *y, cudaStream_t stream, cudaError_t *err) {
  size_t es = (size_t)zk_dtype_size(x->dtype), width = (size_t)x->cols * es;
  if (x->rows > 1 && x->stride < x->cols) return false;
  if (x->data == y->data && (x->rows <= 1 || x->stride == y->stride)) {
    *err = cudaSuccess;
    return true;
  }
  size_t spitch = x->rows > 1 ? (size_t)x->stride * es : width;
  size_t dpitch = y->rows > 1 ? (size_t)y->stride * es : width;
  if (spitch > INT32_MAX || dpitch > INT32_MAX) return false;
  *err = cudaMemcpy2DAsync(y->data, dpitch, x->data, spitch, width, (size_t)x->rows, cudaMemcpyDeviceToDevice, stream);
  return true;
}

zk_status dropout(zk_ctx *ctx, const zk_call *call, const zk_rows *x, const zk_rows *y, const zk_dropout_cfg *d) {
  if (d->p == 0.0f) {
    cudaStream_t stream;
    zk_status s = zk_cuda_enter(ctx, call, &stream);
    if (s != ZK_OK) return s;
    cudaError_t err;
    if (copy_identity(x, y, stream, &err)) return zk_cuda_check(call, err, "cudaMemcpy2DAsync");
  }
  if (zk_rows_vec_ok(x) && zk_rows_vec_ok(y)) return dropout_vec(ctx, call, x, y, d);
  const zk_rows *const in[1] = {x};
  const zk_rows *const out[1] = {y};
  DropoutOp op = {drop_threshold(d->p), d->scale, d->seed, d->offset, x->cols};
  return zk_cuda_map(ctx, call, in, out, op);
}

}  // namespace

// ------------------------------------------------------------ entry points
// Slots follow the public signatures (see src/api/transformer.c).

#define GLU_ENTRIES(name, Act)                                                                \
  extern "C" zk_status zk_cuda_##name(zk_ctx *ctx, const zk_args *a) {                       \
    ZK_CUDA_CALL(ctx, name);                                                                  \
    return glu_forward<Act>(ctx, call, &a->t[0], nullptr, &a->t[1]);                          \
  }                                                                                           \
  extern "C" zk_status zk_cuda_##name##_grad(zk_ctx *ctx, const zk_args *a) {                \
    ZK_CUDA_CALL(ctx, name##_grad);                                                           \
    return glu_backward<Act>(ctx, call, &a->t[0], nullptr, &a->t[1], &a->t[2], nullptr);      \
  }                                                                                           \
  extern "C" zk_status zk_cuda_bias_##name(zk_ctx *ctx, const zk_args *a) {                  \
    ZK_CUDA_CALL(ctx, bias_##name);                                                           \
    return glu_forward<Act>(ctx, call, &a->t[0], &a->t[1], &a->t[2]);                         \
  }                                                                                           \
  extern "C" zk_status zk_cuda_bias_##name##_grad(zk_ctx *ctx, const zk_args *a) {           \
    ZK_CUDA_CALL(ctx, bias_##name##_grad);                                                    \
    return glu_backward<Act>(ctx, call, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4]);    \
  }

GLU_ENTRIES(swiglu, Silu)
GLU_ENTRIES(geglu, GeluTanh)

// zk_cuda_norm_fwd: kind, x, x2, y, h, weight, bias, eps, drop.
#define NORM_FWD(name, kind, x, x2, w, b, y, h, drop)                                         \
  extern "C" zk_status zk_cuda_##name(zk_ctx *ctx, const zk_args *a) {                       \
    ZK_CUDA_CALL(ctx, name);                                                                  \
    zk_cuda_norm_fwd f = {kind, x, x2, y, h, w, b, a->f[0], drop};                            \
    return zk_cuda_norm_forward(ctx, call, &f);                                               \
  }
// zk_cuda_norm_bwd: kind, x, x2, dy, dh, dx, weight, dweight, dbias, eps, drop.
#define NORM_BWD(name, kind, x, x2, w, dy, dh, dx, dw, db, drop)                              \
  extern "C" zk_status zk_cuda_##name(zk_ctx *ctx, const zk_args *a) {                       \
    ZK_CUDA_CALL(ctx, name);                                                                  \
    zk_cuda_norm_bwd b = {kind, x, x2, dy, dh, dx, w, dw, db, a->f[0], drop};                 \
    return zk_cuda_norm_backward(ctx, call, &b);                                              \
  }

// x, residual, weight, normed, h
NORM_FWD(rmsnorm_residual, ZK_CUDA_RMS, &a->t[0], &a->t[1], &a->t[2], nullptr, &a->t[3], &a->t[4], nullptr)
// h, weight, dnormed, dh?, dx?, dweight?
NORM_BWD(rmsnorm_residual_grad, ZK_CUDA_RMS, &a->t[0], nullptr, &a->t[1], &a->t[2], &a->t[3], &a->t[4], &a->t[5],
         nullptr, nullptr)
// x, residual, gamma, beta?, normed, h
NORM_FWD(layernorm_residual, ZK_CUDA_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], &a->t[5], nullptr)
// h, gamma, dnormed, dh?, dx?, dgamma?, dbeta?
NORM_BWD(layernorm_residual_grad, ZK_CUDA_LAYER, &a->t[0], nullptr, &a->t[1], &a->t[2], &a->t[3], &a->t[4],
         &a->t[5], &a->t[6], nullptr)
// x1, x2, weight, normed
NORM_FWD(fused_add_rmsnorm, ZK_CUDA_RMS, &a->t[0], &a->t[1], &a->t[2], nullptr, &a->t[3], nullptr, nullptr)
// x1, x2, weight, dnormed, dx?, dweight?
NORM_BWD(fused_add_rmsnorm_grad, ZK_CUDA_RMS, &a->t[0], &a->t[1], &a->t[2], &a->t[3], nullptr, &a->t[4], &a->t[5],
         nullptr, nullptr)
// x1, x2, gamma, beta?, normed
NORM_FWD(fused_add_layernorm, ZK_CUDA_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], nullptr, nullptr)
// x1, x2, gamma, dnormed, dx?, dgamma?, dbeta?
NORM_BWD(fused_add_layernorm_grad, ZK_CUDA_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], nullptr, &a->t[4],
         &a->t[5], &a->t[6], nullptr)
// x, weight, y
NORM_FWD(rms_norm_dropout, ZK_CUDA_RMS, &a->t[0], nullptr, &a->t[1], nullptr, &a->t[2], nullptr, &a->drop)
// x, weight, dy, dx?, dweight?
NORM_BWD(rms_norm_dropout_grad, ZK_CUDA_RMS, &a->t[0], nullptr, &a->t[1], &a->t[2], nullptr, &a->t[3], &a->t[4],
         nullptr, &a->drop)

// x, y (dropout) and dy, dx (dropout_grad: bitwise zk_dropout(dy)).
extern "C" zk_status zk_cuda_dropout(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, dropout);
  return dropout(ctx, call, &a->t[0], &a->t[1], &a->drop);
}

extern "C" zk_status zk_cuda_dropout_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, dropout_grad);
  return dropout(ctx, call, &a->t[0], &a->t[1], &a->drop);
}
