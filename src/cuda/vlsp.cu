// The vlsp family on CUDA (spec §5).
//
// silu_mul_residual, the depth gate and their grads are elementwise maps
// (zk_cuda_flat_map: 16-byte vectors, one read of each input and one write
// of each output, so they run at copy bandwidth), evaluating the shared
// scalar code of src/common/zk_math.h.
//
// fused_recurrent_step runs a block per row: a first pass over the row
// (16-byte vectors where every view allows) for Σh², a fixed-order block
// sum, then a second pass (L1/L2 hits for h) that writes out.  Its VJP adds
// a third pass for dh after the block sum Σ dn·w·ĥ; dw_norm = Σ_rows dn·ĥ
// goes through per-block partial rows over a fixed row partition, reduced
// in block order by zk_cuda_column_sums: no atomics, the same bits on every
// run.  grpo_advantage_norm runs a warp per group (a block for groups
// longer than 2048): the shifted mean and the sum of squares are fixed
// shuffle trees.
//
// Entry points follow the slots of src/api/vlsp.c.
#include "map.cuh"
#include "norms.cuh"
#include "rows.cuh"

namespace {

// -------------------------------------------------------- elementwise maps

struct SiluMulResidual {
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[3], int64_t, int64_t) const {
    out[0] = zk_silu_f(in[0]) * in[1] + in[2];
  }
};

// The outputs present (dgate, dup, dresidual), in slot order.
template <bool DG, bool DU, bool DR>
struct SiluMulResidualGrad {
  static constexpr int NOUT = DG + DU + DR;
  __device__ __forceinline__ void operator()(float (&out)[NOUT], const float (&in)[3], int64_t, int64_t) const {
    float g = in[0], u = in[1], dy = in[2];
    int k = 0;
    if (DG) out[k++] = dy * u * zk_silu_deriv_f(g);
    if (DU) out[k++] = dy * zk_silu_f(g);
    if (DR) out[k++] = dy;
  }
};

template <bool DG, bool DU, bool DR>
zk_status silu_mul_residual_grad(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  constexpr int NOUT = DG + DU + DR;
  const zk_rows *in[3] = {&a->t[0], &a->t[1], &a->t[2]};
  const zk_rows *out[NOUT];
  int k = 0;
  for (int s = 3; s < 6; s++)
    if (zk_present(&a->t[s])) out[k++] = &a->t[s];
  return zk_cuda_flat_map(ctx, call, in, out, SiluMulResidualGrad<DG, DU, DR>{});
}

struct DepthGate {
  float k;
  int ste;
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[1], int64_t, int64_t) const {
    out[0] = zk_depth_gate_f(in[0], k, ste);
  }
};

struct DepthGateGrad {
  float k;
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[2], int64_t, int64_t) const {
    out[0] = in[1] * k * zk_sigmoid_deriv_f(in[0]);
  }
};

// -------------------------------------------------------- row walking
// A row in chunks of N elements: one 16-byte vector per thread and step when
// every view allows (VEC), one element otherwise.

template <typename T, bool VEC>
struct chunk {
  static constexpr int N = VEC ? zk_vec<T>::EPV : 1;
  static __device__ __forceinline__ void load(const T *p, float (&v)[N]) {
    if constexpr (VEC) zk_ld_span<T, N>(p, v);
    else v[0] = zk_ld(p);
  }
  static __device__ __forceinline__ void store(T *p, const float (&v)[N]) {
    if constexpr (VEC) zk_st_span<T, N>(p, v);
    else zk_st(p, v[0]);
  }
};

template <typename T, bool VEC, typename F>
__device__ __forceinline__ void for_chunks(int64_t D, F f) {
  constexpr int N = chunk<T, VEC>::N;
  for (int64_t q = threadIdx.x; q * N < D; q += blockDim.x) f(q * N);
}

// r = (Σh²/D + eps)^-1/2 of one row, on every thread of the block.
template <typename T, bool VEC>
__device__ __forceinline__ float rms_factor(const T *hr, int64_t D, float eps, float *red) {
  using C = chunk<T, VEC>;
  float ss = 0.0f;
  for_chunks<T, VEC>(D, [&](int64_t j0) {
    float v[C::N];
    C::load(hr + j0, v);
#pragma unroll
    for (int e = 0; e < C::N; e++) ss += v[e] * v[e];
  });
  return 1.0f / sqrtf(zk_block_sum(ss, red) * (1.0f / (float)D) + eps);
}

// -------------------------------------------------- fused recurrent step

struct RecurrentParams {
  const void *h, *gate, *dout, *w;
  void *out, *dh, *dgate;
  float *partial_w;  // [blocks, D] (grad with dw_norm), else null
  zk_dtype wt;
  int64_t sh, sgate, sdout, sout, sdh, sdgate;
  int64_t rows, D, rows_per_block;
  float alpha, eps;
};

template <typename T, bool VEC>
__global__ void __launch_bounds__(1024) recurrent_kernel(RecurrentParams p) {
  using C = chunk<T, VEC>;
  __shared__ float red[33];
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const T *hr = (const T *)p.h + r * p.sh, *gr = (const T *)p.gate + r * p.sgate;
    T *orow = (T *)p.out + r * p.sout;
    float rf = rms_factor<T, VEC>(hr, p.D, p.eps, red);
    for_chunks<T, VEC>(p.D, [&](int64_t j0) {
      float hv[C::N], gv[C::N], o[C::N];
      C::load(hr + j0, hv);
      C::load(gr + j0, gv);
#pragma unroll
      for (int e = 0; e < C::N; e++)
        o[e] = hv[e] + p.alpha * zk_silu_f(hv[e] * rf * zk_ld_param(p.w, p.wt, j0 + e)) * gv[e];
      C::store(orow + j0, o);
    });
  }
}

// Rows [b·per, (b+1)·per) for block b.  Pass 1: r.  Pass 2: dgate, the
// block's partial dw += dn·ĥ and c = Σ dn·w·ĥ / D.  Pass 3: dh = dout +
// r·(dn·w - ĥ·c).  Each thread owns the same chunks in every row, so its
// partial columns need no synchronisation.
template <typename T, bool VEC>
__global__ void __launch_bounds__(1024) recurrent_grad_kernel(RecurrentParams p) {
  using C = chunk<T, VEC>;
  constexpr int N = C::N;
  __shared__ float red[33];
  const int64_t D = p.D, r0 = (int64_t)blockIdx.x * p.rows_per_block;
  const int64_t r1 = r0 + p.rows_per_block < p.rows ? r0 + p.rows_per_block : p.rows;
  float *part = p.partial_w ? p.partial_w + (int64_t)blockIdx.x * D : nullptr;
  if (part) for_chunks<T, VEC>(D, [&](int64_t j0) {
#pragma unroll
      for (int e = 0; e < N; e++) part[j0 + e] = 0.0f;
    });
  // ĥ, n·w, dn and g = dn·w of one chunk.
  auto terms = [&](const T *hr, const T *gr, const T *dr, int64_t j0, float rf, float (&hat)[N], float (&dn)[N],
                   float (&g)[N], float (&s)[N], float (&dov)[N]) {
    float hv[N], gv[N];
    C::load(hr + j0, hv);
    C::load(gr + j0, gv);
    C::load(dr + j0, dov);
#pragma unroll
    for (int e = 0; e < N; e++) {
      float w = zk_ld_param(p.w, p.wt, j0 + e), nn;
      hat[e] = hv[e] * rf;
      nn = hat[e] * w;
      float da = dov[e] * p.alpha;
      dn[e] = da * gv[e] * zk_silu_deriv_f(nn);
      g[e] = dn[e] * w;
      s[e] = da * zk_silu_f(nn);
    }
  };
  for (int64_t r = r0; r < r1; r++) {
    const T *hr = (const T *)p.h + r * p.sh, *gr = (const T *)p.gate + r * p.sgate;
    const T *dr = (const T *)p.dout + r * p.sdout;
    float rf = rms_factor<T, VEC>(hr, D, p.eps, red), acc = 0.0f;
    for_chunks<T, VEC>(D, [&](int64_t j0) {
      float hat[N], dn[N], g[N], s[N], dov[N];
      terms(hr, gr, dr, j0, rf, hat, dn, g, s, dov);
      if (p.dgate) C::store((T *)p.dgate + r * p.sdgate + j0, s);
#pragma unroll
      for (int e = 0; e < N; e++) {
        acc += g[e] * hat[e];
        if (part) part[j0 + e] += dn[e] * hat[e];
      }
    });
    if (!p.dh) continue;  // uniform over the block
    float c = zk_block_sum(acc, red) * (1.0f / (float)D);
    for_chunks<T, VEC>(D, [&](int64_t j0) {
      float hat[N], dn[N], g[N], s[N], dov[N], o[N];
      terms(hr, gr, dr, j0, rf, hat, dn, g, s, dov);
#pragma unroll
      for (int e = 0; e < N; e++) {
        float cc = c;
        if (D == 1 && isfinite(hat[e])) {
          // One element: g - ĥ·c = g·eps·r² exactly (as the CPU backend).
          g[e] *= p.eps * rf * rf;
          cc = 0.0f;
        }
        o[e] = dov[e] + rf * (g[e] - hat[e] * cc);
      }
      C::store((T *)p.dh + r * p.sdh + j0, o);
    });
  }
}

bool vec_ok(const zk_rows *const *ts, int n) {
  for (int i = 0; i < n; i++)
    if (ts[i] && zk_present(ts[i]) && !zk_rows_vec_ok(ts[i])) return false;
  return true;
}

const zk_rows *present(const zk_rows *t) { return zk_present(t) ? t : nullptr; }

template <typename T>
void launch_recurrent(cudaStream_t stream, const RecurrentParams &p, bool grad, bool vec, unsigned grid, int threads) {
  if (grad) {
    if (vec) recurrent_grad_kernel<T, true><<<grid, threads, 0, stream>>>(p);
    else recurrent_grad_kernel<T, false><<<grid, threads, 0, stream>>>(p);
  } else {
    if (vec) recurrent_kernel<T, true><<<grid, threads, 0, stream>>>(p);
    else recurrent_kernel<T, false><<<grid, threads, 0, stream>>>(p);
  }
}

// At most 512 threads a row (as the norms): enough 16-byte loads in flight.
int row_threads(const zk_rows *h) {
  int t = zk_row_threads(h->cols, zk_dtype_size(h->dtype));
  return t > 512 ? 512 : t;
}

zk_status recurrent(zk_ctx *ctx, const zk_call *call, const zk_args *a, bool grad) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const zk_rows *h = &a->t[0], *gate = &a->t[2];
  const zk_rows *out = grad ? nullptr : &a->t[3], *dout = grad ? &a->t[3] : nullptr;
  const zk_rows *dh = grad ? present(&a->t[4]) : nullptr, *dw = grad ? present(&a->t[5]) : nullptr;
  const zk_rows *dg = grad ? present(&a->t[6]) : nullptr;
  int64_t R = h->rows, D = h->cols, blocks = R < 65535 * 16 ? R : 65535 * 16, per = 1;
  RecurrentParams p = {};
  if (grad) {
    // Fixed row partition (shapes only): at most 528 blocks and 64 MiB of partials.
    blocks = R < 528 ? R : 528;
    int64_t cap = ((int64_t)64 << 20) / (D * 4);
    if (dw && blocks > cap) blocks = cap > 1 ? cap : 1;
    per = blocks ? (R + blocks - 1) / blocks : 0;
    if (dw) {
      p.partial_w = (float *)zk_cuda_workspace(ctx, call, (size_t)(blocks > 0 ? blocks : 1) * D * 4, &s);
      if (!p.partial_w) return s;
    }
  }
  p.h = h->data, p.sh = h->stride;
  p.gate = gate->data, p.sgate = gate->stride;
  p.w = a->t[1].data, p.wt = a->t[1].dtype;
  if (out) p.out = out->data, p.sout = out->stride;
  if (dout) p.dout = dout->data, p.sdout = dout->stride;
  if (dh) p.dh = dh->data, p.sdh = dh->stride;
  if (dg) p.dgate = dg->data, p.sdgate = dg->stride;
  p.rows = R, p.D = D, p.rows_per_block = per;
  p.alpha = a->f[0], p.eps = a->f[1];
  const zk_rows *views[] = {h, gate, out, dout, dh, dg};
  bool vec = vec_ok(views, 6);
  if (blocks > 0) {
    switch (h->dtype) {
      case ZK_F32: launch_recurrent<float>(stream, p, grad, vec, (unsigned)blocks, row_threads(h)); break;
      case ZK_F16: launch_recurrent<__half>(stream, p, grad, vec, (unsigned)blocks, row_threads(h)); break;
      default: launch_recurrent<__nv_bfloat16>(stream, p, grad, vec, (unsigned)blocks, row_threads(h)); break;
    }
    s = ZK_CUDA_LAUNCHED(call);
    if (s != ZK_OK) return s;
  }
  return dw ? zk_cuda_column_sums(call, stream, p.partial_w, blocks, D, dw) : ZK_OK;
}

// --------------------------------------------------------------- GRPO
// A group of G_THREADS threads per row (a warp, or the whole block): the
// shifted mean m = Σ(v - v0)/G, then Σ((v - v0) - m)², each a fixed shuffle
// tree, then A = ((v - v0) - m)/denominator, with 0/0 taken as 0 (a
// constant group with eps = 0).

struct GrpoParams {
  const void *x;
  void *y;
  int64_t sx, sy, rows, G;
  float eps;
  int ddof, add_to_std;
};

template <bool WARP>
__device__ __forceinline__ float group_sum(float v, float *red) {
  return WARP ? zk_warp_sum(v) : zk_block_sum(v, red);
}

template <typename T, bool WARP>
__global__ void __launch_bounds__(256) grpo_kernel(GrpoParams p) {
  __shared__ float red[33];
  const int group = WARP ? 32 : blockDim.x, tid = WARP ? threadIdx.x & 31 : threadIdx.x;
  const int per_block = WARP ? blockDim.x / 32 : 1, sub = WARP ? threadIdx.x / 32 : 0;
  const int64_t G = p.G;
  // Uniform over the block (barriers in block mode; whole warps in warp mode).
  for (int64_t base = (int64_t)blockIdx.x * per_block; base < p.rows; base += (int64_t)gridDim.x * per_block) {
    const int64_t r = base + sub;
    const bool live = r < p.rows;
    const T *xr = (const T *)p.x + (live ? r : 0) * p.sx;
    const float v0 = zk_ld(xr);
    float s = 0.0f;
    if (live)
      for (int64_t j = tid; j < G; j += group) s += zk_ld(xr + j) - v0;
    const float m = group_sum<WARP>(s, red) / (float)G;
    float ss = 0.0f;
    if (live)
      for (int64_t j = tid; j < G; j += group) {
        float d = (zk_ld(xr + j) - v0) - m;
        ss += d * d;
      }
    ss = group_sum<WARP>(ss, red);
    const float var = G - p.ddof > 0 ? ss / (float)(G - p.ddof) : 0.0f;
    const float denom = p.add_to_std ? sqrtf(var) + p.eps : sqrtf(var + p.eps);
    if (!live) continue;
    T *yr = (T *)p.y + r * p.sy;
    for (int64_t j = tid; j < G; j += group) {
      float d = (zk_ld(xr + j) - v0) - m;
      zk_st(yr + j, d == 0.0f && denom == 0.0f ? 0.0f : d / denom);
    }
  }
}

template <typename T>
void launch_grpo(zk_ctx *ctx, cudaStream_t stream, const GrpoParams &p) {
  const int threads = 256;
  const bool warp = p.G <= 2048;
  int64_t per_block = warp ? threads / 32 : 1, blocks = (p.rows + per_block - 1) / per_block;
  const int64_t cap = (int64_t)zk_cuda(ctx)->sm_count * 32;
  if (blocks > cap) blocks = cap;
  if (warp) grpo_kernel<T, true><<<(unsigned)blocks, threads, 0, stream>>>(p);
  else grpo_kernel<T, false><<<(unsigned)blocks, threads, 0, stream>>>(p);
}

}  // namespace

// ------------------------------------------------------------ entry points

extern "C" zk_status zk_cuda_silu_mul_residual(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, silu_mul_residual);
  const zk_rows *in[3] = {&a->t[0], &a->t[1], &a->t[2]}, *out[1] = {&a->t[3]};
  return zk_cuda_flat_map(ctx, call, in, out, SiluMulResidual{});
}

extern "C" zk_status zk_cuda_silu_mul_residual_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, silu_mul_residual_grad);
  int want = zk_present(&a->t[3]) | zk_present(&a->t[4]) << 1 | zk_present(&a->t[5]) << 2;
  switch (want) {
    case 1: return silu_mul_residual_grad<true, false, false>(ctx, call, a);
    case 2: return silu_mul_residual_grad<false, true, false>(ctx, call, a);
    case 3: return silu_mul_residual_grad<true, true, false>(ctx, call, a);
    case 4: return silu_mul_residual_grad<false, false, true>(ctx, call, a);
    case 5: return silu_mul_residual_grad<true, false, true>(ctx, call, a);
    case 6: return silu_mul_residual_grad<false, true, true>(ctx, call, a);
    case 7: return silu_mul_residual_grad<true, true, true>(ctx, call, a);
    default: return ZK_OK;
  }
}

extern "C" zk_status zk_cuda_depth_gate_sigmoid(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, depth_gate_sigmoid);
  const zk_rows *in[1] = {&a->t[0]}, *out[1] = {&a->t[1]};
  return zk_cuda_flat_map(ctx, call, in, out, DepthGate{(float)a->i[0], a->i[1] != 0});
}

extern "C" zk_status zk_cuda_depth_gate_sigmoid_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, depth_gate_sigmoid_grad);
  const zk_rows *in[2] = {&a->t[0], &a->t[1]}, *out[1] = {&a->t[2]};
  return zk_cuda_flat_map(ctx, call, in, out, DepthGateGrad{(float)a->i[0]});
}

extern "C" zk_status zk_cuda_fused_recurrent_step(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, fused_recurrent_step);
  return recurrent(ctx, call, a, false);
}

extern "C" zk_status zk_cuda_fused_recurrent_step_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, fused_recurrent_step_grad);
  return recurrent(ctx, call, a, true);
}

extern "C" zk_status zk_cuda_grpo_advantage_norm(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, grpo_advantage_norm);
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  GrpoParams p = {a->t[0].data, a->t[1].data, a->t[0].stride, a->t[1].stride, a->t[0].rows, a->t[0].cols,
                  a->f[0], (int)a->i[0], a->i[1] == 1};
  switch (a->t[0].dtype) {
    case ZK_F32: launch_grpo<float>(ctx, stream, p); break;
    case ZK_F16: launch_grpo<__half>(ctx, stream, p); break;
    default: launch_grpo<__nv_bfloat16>(ctx, stream, p); break;
  }
  return ZK_CUDA_LAUNCHED(call);
}
