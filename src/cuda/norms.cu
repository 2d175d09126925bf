// Norms on CUDA (spec §3) through the row engine of norms.cuh, which the
// transformer family's residual and dropout fusions use too.
//
// One block per row.  Each pass walks the row with 16-byte vectors; the
// first pass brings the row into L1/L2, so later passes are cache hits and
// DRAM sees one read of x (and x2, dy) and one write of each output.
// Statistics are fixed-order block reductions; LayerNorm uses the shifted
// mean in two steps (exact zero for constant rows, f32 precision for rows
// with a large mean; see row_stats).  Parameter gradients
// sum over rows through per-block partial rows in a fixed row partition,
// reduced in block order by a second kernel: no atomics, same bits on
// every run.
#include "norms.cuh"
#include "rows.cuh"

namespace {

struct FwdParams {
  const void *x, *x2;
  void *y, *h;
  const void *w, *b;
  zk_dtype wt, bt;
  bool w_vec, b_vec;  // stored like x and 16-byte aligned: vector loads
  int64_t sx, sx2, sy, sh;
  int64_t rows, D;
  float eps;
  int layer;
  int drop;
  float p, scale;
  uint64_t seed, offset;
};

// At most 512 threads a row: enough 16-byte loads in flight, and a register
// budget (64K / 512 = 128) that never fails a launch.
constexpr int kNormThreads = 512;

// Rows are walked in chunks: one 16-byte vector per thread and step when
// every view allows it (VEC), one element otherwise.  Every pass loads its
// inputs as whole chunks; passes after the first hit L1/L2.
template <typename T, bool VEC>
struct chunk {
  static constexpr int N = VEC ? zk_vec<T>::EPV : 1;
  static __device__ __forceinline__ void load(const T *p, float (&v)[N]) {
    if constexpr (VEC) {
      zk_vec<T> q;
      q.load(p);
#pragma unroll
      for (int e = 0; e < N; e++) v[e] = q.get(e);
    } else {
      v[0] = zk_ld(p);
    }
  }
  static __device__ __forceinline__ void store(T *p, const float (&v)[N]) {
    if constexpr (VEC) {
      zk_vec<T> q;
      zk_vec_set_all(q, v);
      q.store(p);
    } else {
      zk_st(p, v[0]);
    }
  }
  // The row's input chunk at j0: x, or h = round_T(x + x2).
  static __device__ __forceinline__ void input(const T *xr, const T *x2r, int64_t j0, float (&v)[N]) {
    load(xr + j0, v);
    if (!x2r) return;
    float w[N];
    load(x2r + j0, w);
#pragma unroll
    for (int e = 0; e < N; e++) v[e] = zk_type<T>::load(zk_type<T>::store(v[e] + w[e]));
  }
  // A parameter's chunk at j0: one vector when it is stored like T and
  // aligned (vec), else element by element in its own dtype.
  static __device__ __forceinline__ void param(const void *p, zk_dtype t, bool vec, int64_t j0, float (&v)[N]) {
    if (VEC && vec) {
      load((const T *)p + j0, v);
    } else {
#pragma unroll
      for (int e = 0; e < N; e++) v[e] = zk_ld_param(p, t, j0 + e);
    }
  }
  // p[j0 .. j0+N) += add, on a block-private f32 partial row (aligned to
  // 16 bytes at every chunk when VEC).
  static __device__ __forceinline__ void accumulate(float *p, int64_t j0, const float (&add)[N]) {
    if constexpr (VEC && N % 4 == 0) {
#pragma unroll
      for (int k = 0; k < N / 4; k++) {
        float4 q = *reinterpret_cast<float4 *>(p + j0 + 4 * k);
        q.x += add[4 * k], q.y += add[4 * k + 1], q.z += add[4 * k + 2], q.w += add[4 * k + 3];
        *reinterpret_cast<float4 *>(p + j0 + 4 * k) = q;
      }
    } else {
#pragma unroll
      for (int e = 0; e < N; e++) p[j0 + e] += add[e];
    }
  }
};

// f(j0) for every chunk of a row this thread owns.
template <typename T, bool VEC, typename F>
__device__ __forceinline__ void for_chunks(int64_t D, F f) {
  constexpr int N = chunk<T, VEC>::N;
  for (int64_t q = threadIdx.x; q * N < D; q += blockDim.x) f(q * N);
}

// Row statistics.  LayerNorm centres in three steps, as the CPU engine
// does: c = (x - x0) - m1 with m1 the mean of x - x0 (a constant row gives
// exactly 0), then the small remaining mean m2 of c and the variance
// Σc²/D - m2² (nothing cancels: m2 is tiny next to the spread), so rows
// with a large mean keep f32 precision.  RMS: x0 = m1 = m2 = 0.
struct row_stat {
  float x0, m1, m2, rstd;
  __device__ __forceinline__ float centered(float v) const { return ((v - x0) - m1) - m2; }
};

template <typename T, bool VEC>
__device__ __forceinline__ row_stat row_stats(const T *xr, const T *x2r, int64_t D, int layer, float eps,
                                              float *red) {
  using C = chunk<T, VEC>;
  float v[C::N];
  row_stat st = {0.0f, 0.0f, 0.0f, 0.0f};
  float inv_d = 1.0f / (float)D, var;
  if (!layer) {
    float ss = 0.0f;
    for_chunks<T, VEC>(D, [&](int64_t j0) {
      C::input(xr, x2r, j0, v);
#pragma unroll
      for (int e = 0; e < C::N; e++) ss += v[e] * v[e];
    });
    var = zk_block_sum(ss, red) * inv_d;
  } else {
    C::input(xr, x2r, 0, v);
    st.x0 = v[0];
    float s = 0.0f;
    for_chunks<T, VEC>(D, [&](int64_t j0) {
      C::input(xr, x2r, j0, v);
#pragma unroll
      for (int e = 0; e < C::N; e++) s += v[e] - st.x0;
    });
    st.m1 = zk_block_sum(s, red) * inv_d;
    float s2 = 0.0f, sq = 0.0f;
    for_chunks<T, VEC>(D, [&](int64_t j0) {
      C::input(xr, x2r, j0, v);
#pragma unroll
      for (int e = 0; e < C::N; e++) {
        float c = (v[e] - st.x0) - st.m1;
        s2 += c;
        sq += c * c;
      }
    });
    st.m2 = zk_block_sum(s2, red) * inv_d;
    var = zk_block_sum(sq, red) * inv_d - st.m2 * st.m2;
  }
  /* a NaN variance stays NaN (it must poison the row); negatives clamp */
  st.rstd = 1.0f / sqrtf((var < 0.0f ? 0.0f : var) + eps);
  return st;
}

template <typename T, bool VEC>
__global__ void __launch_bounds__(kNormThreads) norm_forward_kernel(FwdParams a) {
  using C = chunk<T, VEC>;
  __shared__ float red[33];
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const T *xr = (const T *)a.x + r * a.sx;
    const T *x2r = a.x2 ? (const T *)a.x2 + r * a.sx2 : nullptr;
    float v[C::N];
    if (a.h) {
      T *hr = (T *)a.h + r * a.sh;
      // h first: the statistics are taken from the stored h.  When h
      // aliases x2 (in-place residual), each chunk of x2 is read by the
      // thread that overwrites it; the barrier orders the later passes.
      for_chunks<T, VEC>(a.D, [&](int64_t j0) {
        C::input(xr, x2r, j0, v);
        C::store(hr + j0, v);
      });
      __syncthreads();
      xr = hr;
      x2r = nullptr;
    }
    row_stat st = row_stats<T, VEC>(xr, x2r, a.D, a.layer, a.eps, red);
    T *yr = (T *)a.y + r * a.sy;
    zk_drop_stream ds = {a.seed, 0, {0, 0, 0, 0}, false};
    uint64_t base = a.offset + (uint64_t)(r * a.D);
    // When y aliases x, each chunk is read by the thread that then writes
    // it, after every statistic is final.
    for_chunks<T, VEC>(a.D, [&](int64_t j0) {
      C::input(xr, x2r, j0, v);
      float wv[C::N], bv[C::N];
      if (a.w) C::param(a.w, a.wt, a.w_vec, j0, wv);
      if (a.b) C::param(a.b, a.bt, a.b_vec, j0, bv);
#pragma unroll
      for (int e = 0; e < C::N; e++) {
        float n = st.centered(v[e]) * st.rstd;
        if (a.w) n *= wv[e];
        if (a.b) n += bv[e];
        if (a.drop) n = zk_dropout_drops(ds.at(base + (uint64_t)(j0 + e)), a.p) ? 0.0f : n * a.scale;
        v[e] = n;
      }
      C::store(yr + j0, v);
    });
    __syncthreads();  // red[] is reused by the next row
  }
}

struct BwdParams {
  const void *x, *x2, *dy, *dh;
  void *dx;
  const void *w;
  zk_dtype wt;
  bool w_vec;
  int64_t sx, sx2, sdy, sdh, sdx;
  int64_t rows, D, rows_per_block;
  float eps;
  int layer;
  int drop;
  float p, scale;
  uint64_t seed, offset;
  float *partial_w, *partial_b;  // [gridDim.x][D] each, or NULL
};

template <typename T, bool VEC>
__global__ void __launch_bounds__(kNormThreads) norm_backward_kernel(BwdParams a) {
  using C = chunk<T, VEC>;
  __shared__ float red[33];
  int64_t r0 = (int64_t)blockIdx.x * a.rows_per_block, r1 = r0 + a.rows_per_block;
  if (r1 > a.rows) r1 = a.rows;
  float *pw = a.partial_w ? a.partial_w + (int64_t)blockIdx.x * a.D : nullptr;
  float *pb = a.partial_b ? a.partial_b + (int64_t)blockIdx.x * a.D : nullptr;
  for (int64_t j = threadIdx.x; j < a.D; j += blockDim.x) {
    if (pw) pw[j] = 0.0f;
    if (pb) pb[j] = 0.0f;
  }
  float v[C::N], g[C::N];
  for (int64_t r = r0; r < r1; r++) {
    const T *xr = (const T *)a.x + r * a.sx;
    const T *x2r = a.x2 ? (const T *)a.x2 + r * a.sx2 : nullptr;
    const T *dyr = (const T *)a.dy + r * a.sdy;
    uint64_t base = a.offset + (uint64_t)(r * a.D);
    zk_drop_stream ds = {a.seed, 0, {0, 0, 0, 0}, false};
    // dy' = dy·keep·s (dropout) into d[], and g = dy'·w.
    auto cotangent = [&](int64_t j0, float (&d)[C::N], float (&gg)[C::N]) {
      C::load(dyr + j0, d);
      float wv[C::N];
      if (a.w) C::param(a.w, a.wt, a.w_vec, j0, wv);
#pragma unroll
      for (int e = 0; e < C::N; e++) {
        if (a.drop) d[e] = zk_dropout_drops(ds.at(base + (uint64_t)(j0 + e)), a.p) ? 0.0f : d[e] * a.scale;
        gg[e] = a.w ? d[e] * wv[e] : d[e];
      }
    };
    row_stat st = row_stats<T, VEC>(xr, x2r, a.D, a.layer, a.eps, red);
    // One pass: Σg and Σg·x̂.
    float sg = 0.0f, sgx = 0.0f, d[C::N];
    for_chunks<T, VEC>(a.D, [&](int64_t j0) {
      C::input(xr, x2r, j0, v);
      cotangent(j0, d, g);
#pragma unroll
      for (int e = 0; e < C::N; e++) {
        sg += g[e];
        sgx += g[e] * (st.centered(v[e]) * st.rstd);
      }
    });
    sg = a.layer ? zk_block_sum(sg, red) : 0.0f;
    sgx = zk_block_sum(sgx, red);
    float rstd = st.rstd, c_mean = sg / (float)a.D, c_xhat = sgx / (float)a.D;
    // A one-element RMS row: g - x̂·c = g·(1 - x̂²) = g·eps·r² exactly; the
    // general form gets there by cancellation (as the CPU engine).
    bool one_rms = a.D == 1 && !a.layer;
    const T *dhr = a.dh ? (const T *)a.dh + r * a.sdh : nullptr;
    T *dxr = a.dx ? (T *)a.dx + r * a.sdx : nullptr;
    // dx (which may alias dy: each chunk is read by the thread that writes
    // it) and this block's partial sums, which only this thread touches.
    for_chunks<T, VEC>(a.D, [&](int64_t j0) {
      C::input(xr, x2r, j0, v);
      cotangent(j0, d, g);
      float h[C::N];
      if (dhr) C::load(dhr + j0, h);
      float dwx[C::N];
#pragma unroll
      for (int e = 0; e < C::N; e++) {
        float xhat = st.centered(v[e]) * rstd;
        dwx[e] = d[e] * xhat;
        float dx = one_rms && isfinite(xhat) ? rstd * (g[e] * (a.eps * rstd * rstd))
                                             : rstd * (g[e] - c_mean - xhat * c_xhat);
        v[e] = dhr ? dx + h[e] : dx;
      }
      if (pw) C::accumulate(pw, j0, dwx);
      if (pb) C::accumulate(pb, j0, d);
      if (dxr) C::store(dxr + j0, v);
    });
    __syncthreads();
  }
}

// sums[j] = Σ_b partial[b][j] in block order, stored in the parameter
// dtype.  The partial rows are split into 8 contiguous ranges, one per
// warp: warp w sums its range for 32 adjacent columns (128-byte rows), and
// the 8 range sums are added in range order.  Enough loads in flight to
// read the partials at memory speed even when D is a few thousand columns,
// where one thread per column is latency-bound.
constexpr int kColumnWarps = 8;

__global__ void __launch_bounds__(32 * kColumnWarps) column_sums_kernel(const float *partial, int64_t blocks,
                                                                        int64_t D, void *out, zk_dtype t) {
  __shared__ float range_sum[kColumnWarps][32];
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  int64_t j = (int64_t)blockIdx.x * 32 + lane;
  int64_t per = (blocks + kColumnWarps - 1) / kColumnWarps, b0 = w * per, b1 = b0 + per;
  if (b1 > blocks) b1 = blocks;
  float s = 0.0f;
  if (j < D) {
#pragma unroll 8
    for (int64_t b = b0; b < b1; b++) s += partial[b * D + j];
  }
  range_sum[w][lane] = s;
  __syncthreads();
  if (w == 0 && j < D) {
    float v = range_sum[0][lane];
#pragma unroll
    for (int k = 1; k < kColumnWarps; k++) v += range_sum[k][lane];
    zk_st_param(out, t, j, v);
  }
}

const zk_rows *present(const zk_rows *t) { return t && zk_present(t) ? t : nullptr; }

template <typename T>
zk_status launch_forward(const zk_call *call, cudaStream_t stream, const FwdParams &p, bool vec, unsigned grid,
                         int threads) {
  if (vec) norm_forward_kernel<T, true><<<grid, threads, 0, stream>>>(p);
  else norm_forward_kernel<T, false><<<grid, threads, 0, stream>>>(p);
  return ZK_CUDA_LAUNCHED(call);
}

template <typename T>
zk_status launch_backward(const zk_call *call, cudaStream_t stream, const BwdParams &p, bool vec, unsigned grid,
                          int threads) {
  if (vec) norm_backward_kernel<T, true><<<grid, threads, 0, stream>>>(p);
  else norm_backward_kernel<T, false><<<grid, threads, 0, stream>>>(p);
  return ZK_CUDA_LAUNCHED(call);
}

bool all_vec_ok(const zk_rows *const *ts, int n) {
  for (int i = 0; i < n; i++)
    if (ts[i] && !zk_rows_vec_ok(ts[i])) return false;
  return true;
}

}  // namespace

zk_status zk_cuda_norm_forward(zk_ctx *ctx, const zk_call *call, const zk_cuda_norm_fwd *f) {
  cudaStream_t stream;
  {
    zk_status s = zk_cuda_enter(ctx, call, &stream);
    if (s != ZK_OK) return s;
  }
  const zk_rows *w = present(f->weight), *b = present(f->bias);
  FwdParams p = {};
  p.x = f->x->data;
  p.x2 = f->x2 ? f->x2->data : nullptr;
  p.y = f->y->data;
  p.h = f->h ? f->h->data : nullptr;
  p.w = w ? w->data : nullptr;
  p.b = b ? b->data : nullptr;
  p.wt = w ? w->dtype : ZK_F32;
  p.bt = b ? b->dtype : ZK_F32;
  p.sx = f->x->stride;
  p.sx2 = f->x2 ? f->x2->stride : 0;
  p.sy = f->y->stride;
  p.sh = f->h ? f->h->stride : 0;
  p.rows = f->x->rows;
  p.D = f->x->cols;
  p.eps = f->eps;
  p.layer = f->kind == ZK_CUDA_LAYER;
  if (f->drop) {
    p.drop = 1;
    p.p = f->drop->p;
    p.scale = f->drop->scale;
    p.seed = f->drop->seed;
    p.offset = f->drop->offset;
  }
  const zk_rows *views[] = {f->x, f->x2, f->y, f->h};
  bool vec = all_vec_ok(views, 4);
  p.w_vec = w && w->dtype == f->x->dtype && zk_rows_vec_ok(w);
  p.b_vec = b && b->dtype == f->x->dtype && zk_rows_vec_ok(b);
  int threads = zk_row_threads(p.D, zk_dtype_size(f->x->dtype));
  if (threads > kNormThreads) threads = kNormThreads;
  unsigned grid = (unsigned)(p.rows < 65535 * 16 ? p.rows : 65535 * 16);
  switch (f->x->dtype) {
    case ZK_F32: return launch_forward<float>(call, stream, p, vec, grid, threads);
    case ZK_F16: return launch_forward<__half>(call, stream, p, vec, grid, threads);
    default: return launch_forward<__nv_bfloat16>(call, stream, p, vec, grid, threads);
  }
}

zk_status zk_cuda_norm_backward(zk_ctx *ctx, const zk_call *call, const zk_cuda_norm_bwd *b) {
  cudaStream_t stream;
  {
    zk_status s = zk_cuda_enter(ctx, call, &stream);
    if (s != ZK_OK) return s;
  }
  const zk_rows *w = present(b->weight), *dw = present(b->dweight), *db = present(b->dbias);
  const zk_rows *dx = present(b->dx), *dh = present(b->dh);
  int64_t R = b->x->rows, D = b->x->cols;
  // Fixed row partition (shapes only): at most 528 blocks, and at most
  // 64 MiB of partial sums.
  int nsums = (dw != nullptr) + (db != nullptr);
  int64_t blocks = R < 528 ? R : 528;
  if (nsums) {
    int64_t cap = ((int64_t)64 << 20) / (D * 4 * nsums);
    if (cap < 1) cap = 1;
    if (blocks > cap) blocks = cap;
  }
  int64_t per = blocks ? (R + blocks - 1) / blocks : 0;
  float *partial = nullptr;
  if (nsums) {
    zk_status s;
    partial = (float *)zk_cuda_workspace(ctx, call, (size_t)(blocks > 0 ? blocks : 1) * D * 4 * nsums, &s);
    if (!partial) return s;
  }
  BwdParams p = {};
  p.x = b->x->data;
  p.x2 = b->x2 ? b->x2->data : nullptr;
  p.dy = b->dy->data;
  p.dh = dh ? dh->data : nullptr;
  p.dx = dx ? dx->data : nullptr;
  p.w = w ? w->data : nullptr;
  p.wt = w ? w->dtype : ZK_F32;
  p.sx = b->x->stride;
  p.sx2 = b->x2 ? b->x2->stride : 0;
  p.sdy = b->dy->stride;
  p.sdh = dh ? dh->stride : 0;
  p.sdx = dx ? dx->stride : 0;
  p.rows = R;
  p.D = D;
  p.rows_per_block = per;
  p.eps = b->eps;
  p.layer = b->kind == ZK_CUDA_LAYER;
  if (b->drop) {
    p.drop = 1;
    p.p = b->drop->p;
    p.scale = b->drop->scale;
    p.seed = b->drop->seed;
    p.offset = b->drop->offset;
  }
  p.partial_w = dw ? partial : nullptr;
  p.partial_b = db ? partial + (dw ? blocks * D : 0) : nullptr;
  const zk_rows *views[] = {b->x, b->x2, b->dy, dh, dx};
  bool vec = all_vec_ok(views, 5);
  p.w_vec = w && w->dtype == b->x->dtype && zk_rows_vec_ok(w);
  int threads = zk_row_threads(D, zk_dtype_size(b->x->dtype));
  if (threads > kNormThreads) threads = kNormThreads;
  if (blocks > 0) {
    zk_status s;
    switch (b->x->dtype) {
      case ZK_F32: s = launch_backward<float>(call, stream, p, vec, (unsigned)blocks, threads); break;
      case ZK_F16: s = launch_backward<__half>(call, stream, p, vec, (unsigned)blocks, threads); break;
      default: s = launch_backward<__nv_bfloat16>(call, stream, p, vec, (unsigned)blocks, threads); break;
    }
    if (s != ZK_OK) return s;
  }
  const zk_rows *outs[2] = {dw, db};
  float *parts[2] = {p.partial_w, p.partial_b};
  for (int k = 0; k < 2; k++) {
    if (!outs[k]) continue;
    zk_status s = zk_cuda_column_sums(call, stream, parts[k], blocks, D, outs[k]);
    if (s != ZK_OK) return s;
  }
  return ZK_OK;
}

zk_status zk_cuda_column_sums(const zk_call *call, cudaStream_t stream, const float *partial, int64_t blocks,
                              int64_t D, const zk_rows *dst) {
  if (D <= 0) return ZK_OK;
  column_sums_kernel<<<zk_div_up(D, 32), 32 * kColumnWarps, 0, stream>>>(partial, blocks, D, dst->data, dst->dtype);
  return ZK_CUDA_LAUNCHED(call);
}

// ------------------------------------------------------------ entry points
// Slots follow the public signatures in include/zkern/norms.h.

#define NORM_FWD(name, kind, x, w, b, y, drop)                                             \
  extern "C" zk_status zk_cuda_##name(zk_ctx *ctx, const zk_args *a) {                    \
    ZK_CUDA_CALL(ctx, name);                                                               \
    zk_cuda_norm_fwd f = {kind, x, nullptr, y, nullptr, w, b, a->f[0], drop};              \
    return zk_cuda_norm_forward(ctx, call, &f);                                            \
  }
#define NORM_BWD(name, kind, x, w, dy, dx, dw, db, drop)                                   \
  extern "C" zk_status zk_cuda_##name(zk_ctx *ctx, const zk_args *a) {                    \
    ZK_CUDA_CALL(ctx, name);                                                               \
    zk_cuda_norm_bwd b = {kind, x, nullptr, dy, nullptr, dx, w, dw, db, a->f[0], drop};    \
    return zk_cuda_norm_backward(ctx, call, &b);                                           \
  }

NORM_FWD(rmsnorm, ZK_CUDA_RMS, &a->t[0], &a->t[1], nullptr, &a->t[2], nullptr)
NORM_BWD(rmsnorm_grad, ZK_CUDA_RMS, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], nullptr, nullptr)
NORM_FWD(rms_norm_no_weight, ZK_CUDA_RMS, &a->t[0], nullptr, nullptr, &a->t[1], nullptr)
NORM_BWD(rms_norm_no_weight_grad, ZK_CUDA_RMS, &a->t[0], nullptr, &a->t[1], &a->t[2], nullptr, nullptr, nullptr)
NORM_FWD(layernorm, ZK_CUDA_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], nullptr)
NORM_BWD(layernorm_grad, ZK_CUDA_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], &a->t[5], nullptr)
NORM_FWD(layer_norm_no_weight, ZK_CUDA_LAYER, &a->t[0], nullptr, nullptr, &a->t[1], nullptr)
NORM_BWD(layer_norm_no_weight_grad, ZK_CUDA_LAYER, &a->t[0], nullptr, &a->t[1], &a->t[2], nullptr, nullptr, nullptr)
NORM_FWD(layer_norm_dropout, ZK_CUDA_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->drop)
NORM_BWD(layer_norm_dropout_grad, ZK_CUDA_LAYER, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], &a->t[5], &a->drop)
