// Fused elementwise ops on CUDA (spec §9).
//
// The forwards and the dx-only gradients are elementwise maps through
// zk_cuda_map: one 16-byte read of each input and one 16-byte write per
// vector, so they run at copy bandwidth.  add, mul and add_bias are one f32
// operation each (no contraction is possible), rounded once on the store:
// the same bits as the CPU backend.  Position-independent maps (add, mul,
// silu·mul and its VJP) first flatten compact views into one row, so a
// short or odd D still takes the vector path.  A bias in x's dtype is a
// second input with row stride 0 (one row broadcast: vector loads, L1/L2
// hits); a bias in another dtype is read per column in its own dtype.
//
// dbias = Σ_rows dx needs a column sum, so the bias gradients with dbias
// run a column-tiled kernel: each thread owns EPV adjacent columns (its
// bias values stay in registers), walks the rows of one row block, writes
// dx and accumulates the f32 dx before rounding.  The row lanes of a block
// are combined in lane order, the row blocks in block order by a second
// kernel: no atomics, and the partition depends on the shape only.
//
// Entry points follow the slots of src/api/fused.c.
#include "map.cuh"

namespace {

// ------------------------------------------------------------ functors

struct Add {
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[2], int64_t, int64_t) const {
    out[0] = in[0] + in[1];
  }
};

struct Mul {
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[2], int64_t, int64_t) const {
    out[0] = in[0] * in[1];
  }
};

struct SiluMul {
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[2], int64_t, int64_t) const {
    out[0] = zk_silu_f(in[0]) * in[1];
  }
};

// da = dy·b·silu'(a) and/or db = dy·silu(a); in = {a, b, dy}.
template <bool DA, bool DB>
struct SiluMulVjp {
  __device__ __forceinline__ void operator()(float (&out)[DA + DB], const float (&in)[3], int64_t, int64_t) const {
    float a = in[0], b = in[1], dy = in[2];
    if constexpr (DA) out[0] = dy * b * zk_silu_deriv_f(a);
    if constexpr (DB) out[DA ? 1 : 0] = dy * zk_silu_f(a);
  }
};

// The activation of a bias op and its derivative.
struct Identity {
  static __device__ __forceinline__ float f(float v) { return v; }
};
struct GeluTanh {
  static __device__ __forceinline__ float f(float v) { return zk_gelu_tanh_f(v); }
  static __device__ __forceinline__ float d(float v) { return zk_gelu_tanh_deriv_f(v); }
};
struct Silu {
  static __device__ __forceinline__ float f(float v) { return zk_silu_f(v); }
  static __device__ __forceinline__ float d(float v) { return zk_silu_deriv_f(v); }
};

// y = Act(x + bias): in = {x, bias as a broadcast row}.
template <typename Act>
struct BiasRowFwd {
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[2], int64_t, int64_t) const {
    out[0] = Act::f(in[0] + in[1]);
  }
};

// y = Act(x + bias_j) with the bias in its own dtype: in = {x}.
template <typename Act>
struct BiasParamFwd {
  const void *bias;
  zk_dtype bt;
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[1], int64_t, int64_t j) const {
    out[0] = Act::f(in[0] + zk_ld_param(bias, bt, j));
  }
};

// dx = dy·Act'(x + bias): in = {x, dy, bias as a broadcast row}.
template <typename Act>
struct BiasRowGrad {
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[3], int64_t, int64_t) const {
    out[0] = in[1] * Act::d(in[0] + in[2]);
  }
};

// dx = dy·Act'(x + bias_j), bias in its own dtype: in = {x, dy}.
template <typename Act>
struct BiasParamGrad {
  const void *bias;
  zk_dtype bt;
  __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[2], int64_t, int64_t j) const {
    out[0] = in[1] * Act::d(in[0] + zk_ld_param(bias, bt, j));
  }
};

// The [C] bias as R rows of row stride 0.
zk_rows broadcast_rows(const zk_rows *bias, int64_t rows) {
  zk_rows b = *bias;
  b.rows = rows;
  b.stride = 0;
  return b;
}

template <typename Act>
zk_status bias_forward(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  const zk_rows *x = &a->t[0], *bias = &a->t[1];
  const zk_rows *out[1] = {&a->t[2]};
  if (bias->dtype == x->dtype) {
    zk_rows row = broadcast_rows(bias, x->rows);
    const zk_rows *in[2] = {x, &row};
    return zk_cuda_map(ctx, call, in, out, BiasRowFwd<Act>{});
  }
  const zk_rows *in[1] = {x};
  return zk_cuda_map(ctx, call, in, out, BiasParamFwd<Act>{bias->data, bias->dtype});
}

// ------------------------------------------------- bias gradient with dbias

constexpr int kColThreads = 256;

// The launch shape of the column-sum kernel, from (R, C, EPV) only, so the
// summation order of dbias never depends on addresses or the device.  A
// block is tx column units (EPV columns each) × ty row lanes; the grid is
// tiles × blocks, each block owning rows_per_block rows.  About 2048
// blocks in all fill any GPU, and at least 32 rows a block keep the f32
// partials a few percent of the traffic.
struct ColPlan {
  int tx, ty;
  int64_t tiles, rows_per_block, blocks;
};

ColPlan col_plan(int64_t R, int64_t C, int epv) {
  ColPlan p;
  int64_t units = (C + epv - 1) / epv;
  p.tx = 1;
  while (p.tx < units && p.tx < kColThreads) p.tx *= 2;
  p.ty = kColThreads / p.tx;
  p.tiles = (units + p.tx - 1) / p.tx;
  int64_t target = p.tiles < 2048 ? 2048 / p.tiles : 1;
  int64_t per = (R + target - 1) / target;
  if (per < 32) per = 32;
  if (per < p.ty) per = p.ty;
  p.rows_per_block = per;
  p.blocks = R > 0 ? (R + per - 1) / per : 0;
  return p;
}

struct ColParams {
  const void *x, *dy, *bias;
  void *dx;       // NULL: not written
  void *dbias;    // written directly when there is one row block
  float *partial; // [blocks][C] otherwise
  zk_dtype bt, dbt;
  int64_t sx, sdy, sdx;
  int64_t rows, cols, rows_per_block;
  int tx;
};

// EPV elements of a row from column j0: one vector, or guarded scalars.
template <typename T, bool VEC>
__device__ __forceinline__ void load_unit(const T *row, int64_t j0, int64_t cols, float (&v)[zk_vec<T>::EPV]) {
  constexpr int E = zk_vec<T>::EPV;
  if constexpr (VEC) {
    zk_vec<T> w;
    w.load(row + j0);
#pragma unroll
    for (int e = 0; e < E; e++) v[e] = w.get(e);
  } else {
#pragma unroll
    for (int e = 0; e < E; e++) v[e] = j0 + e < cols ? zk_ld(row + j0 + e) : 0.0f;
  }
}

template <typename T, bool VEC>
__device__ __forceinline__ void store_unit(T *row, int64_t j0, int64_t cols, const float (&v)[zk_vec<T>::EPV]) {
  constexpr int E = zk_vec<T>::EPV;
  if constexpr (VEC) {
    zk_vec<T> w;
#pragma unroll
    for (int e = 0; e < E; e++) w.set(e, v[e]);
    w.store(row + j0);
  } else {
#pragma unroll
    for (int e = 0; e < E; e++)
      if (j0 + e < cols) zk_st(row + j0 + e, v[e]);
  }
}

// One row of a thread's unit: dx = dy·Act'(x + b), stored (when wanted) and
// added to acc.  Columns past C hold zeros and add nothing.
template <typename T, bool VEC, typename Act>
__device__ __forceinline__ void grad_unit(const ColParams &p, int64_t r, int64_t j0, const float (&x)[zk_vec<T>::EPV],
                                          const float (&dy)[zk_vec<T>::EPV], const float (&b)[zk_vec<T>::EPV],
                                          float (&acc)[zk_vec<T>::EPV]) {
  constexpr int E = zk_vec<T>::EPV;
  float g[E];
#pragma unroll
  for (int e = 0; e < E; e++) {
    g[e] = dy[e] * Act::d(x[e] + b[e]);
    if (VEC || j0 + e < p.cols) acc[e] += g[e];
  }
  if (p.dx) store_unit<T, VEC>((T *)p.dx + r * p.sdx, j0, p.cols, g);
}

template <typename T, bool VEC, typename Act>
__global__ void __launch_bounds__(kColThreads) bias_grad_kernel(ColParams p) {
  constexpr int E = zk_vec<T>::EPV;
  __shared__ float lanes[kColThreads * E];
  const int lx = threadIdx.x % p.tx, ly = threadIdx.x / p.tx, ty = blockDim.x / p.tx;
  const int64_t j0 = ((int64_t)blockIdx.x * p.tx + lx) * E;
  const bool active = j0 < p.cols;
  const int64_t r0 = (int64_t)blockIdx.y * p.rows_per_block;
  const int64_t r1 = r0 + p.rows_per_block < p.rows ? r0 + p.rows_per_block : p.rows;
  float b[E], acc[E];
#pragma unroll
  for (int e = 0; e < E; e++) {
    b[e] = active && j0 + e < p.cols ? zk_ld_param(p.bias, p.bt, j0 + e) : 0.0f;
    acc[e] = 0.0f;
  }
  if (active) {
    // Two rows in flight: both rows' loads are issued before either dx is
    // stored.  dx may alias dy, but only element for element, and each
    // thread reads its elements before it writes them.
    for (int64_t r = r0 + ly; r < r1; r += 2 * ty) {
      const int64_t r2 = r + ty;
      float x[E], dy[E], x2[E], dy2[E];
      load_unit<T, VEC>((const T *)p.x + r * p.sx, j0, p.cols, x);
      load_unit<T, VEC>((const T *)p.dy + r * p.sdy, j0, p.cols, dy);
      if (r2 < r1) {
        load_unit<T, VEC>((const T *)p.x + r2 * p.sx, j0, p.cols, x2);
        load_unit<T, VEC>((const T *)p.dy + r2 * p.sdy, j0, p.cols, dy2);
      }
      grad_unit<T, VEC, Act>(p, r, j0, x, dy, b, acc);
      if (r2 < r1) grad_unit<T, VEC, Act>(p, r2, j0, x2, dy2, b, acc);
    }
  }
  // The row lanes of each column, combined in lane order.
  if (ty > 1) {
#pragma unroll
    for (int e = 0; e < E; e++) lanes[(ly * p.tx + lx) * E + e] = acc[e];
    __syncthreads();
    if (ly == 0) {
#pragma unroll
      for (int e = 0; e < E; e++) {
        float s = lanes[lx * E + e];
        for (int l = 1; l < ty; l++) s += lanes[(l * p.tx + lx) * E + e];
        acc[e] = s;
      }
    }
  }
  if (ly != 0 || !active) return;
#pragma unroll
  for (int e = 0; e < E; e++) {
    int64_t j = j0 + e;
    if (j >= p.cols) break;
    if (p.partial) p.partial[(int64_t)blockIdx.y * p.cols + j] = acc[e];
    else zk_st_param(p.dbias, p.dbt, j, acc[e]);
  }
}

// dbias[j] = Σ_b partial[b][j]: 32 columns × 8 lanes a block, lane l summing
// blocks l, l+8, ... in order, the lanes then in order.  blocks = 0 (no
// rows) writes zeros.
constexpr int kReduceLanes = 8;

__global__ void __launch_bounds__(32 * kReduceLanes)
    column_reduce_kernel(const float *partial, int64_t blocks, int64_t cols, void *out, zk_dtype t) {
  __shared__ float lanes[kReduceLanes][32];
  const int c = threadIdx.x & 31, l = threadIdx.x >> 5;
  const int64_t j = (int64_t)blockIdx.x * 32 + c;
  float s = 0.0f;
  // Unrolled so that several loads are in flight; the adds stay in order.
  if (j < cols)
#pragma unroll 8
    for (int64_t b = l; b < blocks; b += kReduceLanes) s += partial[b * cols + j];
  lanes[l][c] = s;
  __syncthreads();
  if (l != 0 || j >= cols) return;
  float total = lanes[0][c];
  for (int k = 1; k < kReduceLanes; k++) total += lanes[k][c];
  zk_st_param(out, t, j, total);
}

template <typename T, typename Act>
zk_status launch_bias_grad(const zk_call *call, cudaStream_t stream, const ColParams &p, const ColPlan &plan,
                           bool vec) {
  dim3 grid((unsigned)plan.tiles, (unsigned)plan.blocks);
  if (vec) bias_grad_kernel<T, true, Act><<<grid, kColThreads, 0, stream>>>(p);
  else bias_grad_kernel<T, false, Act><<<grid, kColThreads, 0, stream>>>(p);
  return ZK_CUDA_LAUNCHED(call);
}

template <typename Act>
zk_status bias_grad_with_sum(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const zk_rows *x = &a->t[0], *bias = &a->t[1], *dy = &a->t[2], *dbias = &a->t[4];
  const zk_rows *dx = zk_present(&a->t[3]) ? &a->t[3] : nullptr;
  const int64_t R = x->rows, C = x->cols;
  const ColPlan plan = col_plan(R, C, 16 / zk_dtype_size(x->dtype));
  float *partial = nullptr;
  if (plan.blocks > 1) {
    partial = (float *)zk_cuda_workspace(ctx, call, (size_t)(plan.blocks * C) * sizeof(float), &s);
    if (!partial) return s;
  }
  ColParams p = {};
  p.x = x->data;
  p.dy = dy->data;
  p.bias = bias->data;
  p.dx = dx ? dx->data : nullptr;
  p.dbias = dbias->data;
  p.partial = partial;
  p.bt = bias->dtype;
  p.dbt = dbias->dtype;
  p.sx = x->stride;
  p.sdy = dy->stride;
  p.sdx = dx ? dx->stride : 0;
  p.rows = R;
  p.cols = C;
  p.rows_per_block = plan.rows_per_block;
  p.tx = plan.tx;
  if (plan.blocks > 0) {
    bool vec = zk_rows_vec_ok(x) && zk_rows_vec_ok(dy) && (!dx || zk_rows_vec_ok(dx));
    switch (x->dtype) {
      case ZK_F32: s = launch_bias_grad<float, Act>(call, stream, p, plan, vec); break;
      case ZK_F16: s = launch_bias_grad<__half, Act>(call, stream, p, plan, vec); break;
      default: s = launch_bias_grad<__nv_bfloat16, Act>(call, stream, p, plan, vec); break;
    }
    if (s != ZK_OK || plan.blocks == 1) return s;  // one row block wrote dbias itself
  }
  column_reduce_kernel<<<zk_div_up(C, 32), 32 * kReduceLanes, 0, stream>>>(partial, plan.blocks, C, dbias->data,
                                                                           dbias->dtype);
  return ZK_CUDA_LAUNCHED(call);
}

// dx alone is an elementwise map; with dbias, the column-sum kernel.
template <typename Act>
zk_status bias_grad(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  if (zk_present(&a->t[4])) return bias_grad_with_sum<Act>(ctx, call, a);
  const zk_rows *x = &a->t[0], *bias = &a->t[1], *dy = &a->t[2];
  const zk_rows *out[1] = {&a->t[3]};
  if (bias->dtype == x->dtype) {
    zk_rows row = broadcast_rows(bias, x->rows);
    const zk_rows *in[3] = {x, dy, &row};
    return zk_cuda_map(ctx, call, in, out, BiasRowGrad<Act>{});
  }
  const zk_rows *in[2] = {x, dy};
  return zk_cuda_map(ctx, call, in, out, BiasParamGrad<Act>{bias->data, bias->dtype});
}

// a, b -> y.
template <typename Op>
zk_status binary(zk_ctx *ctx, const zk_call *call, const zk_args *a, const Op &op) {
  const zk_rows *in[2] = {&a->t[0], &a->t[1]}, *out[1] = {&a->t[2]};
  return zk_cuda_flat_map(ctx, call, in, out, op);
}

}  // namespace

// ------------------------------------------------------------ entry points

extern "C" zk_status zk_cuda_add(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, add);
  return binary(ctx, call, a, Add{});
}

extern "C" zk_status zk_cuda_mul(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, mul);
  return binary(ctx, call, a, Mul{});
}

extern "C" zk_status zk_cuda_silu_mul_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, silu_mul_grad);
  return binary(ctx, call, a, SiluMul{});
}

extern "C" zk_status zk_cuda_add_bias(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, add_bias);
  return bias_forward<Identity>(ctx, call, a);
}

extern "C" zk_status zk_cuda_bias_gelu_tanh(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, bias_gelu_tanh);
  return bias_forward<GeluTanh>(ctx, call, a);
}

extern "C" zk_status zk_cuda_bias_silu(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, bias_silu);
  return bias_forward<Silu>(ctx, call, a);
}

extern "C" zk_status zk_cuda_bias_gelu_tanh_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, bias_gelu_tanh_grad);
  return bias_grad<GeluTanh>(ctx, call, a);
}

extern "C" zk_status zk_cuda_bias_silu_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, bias_silu_grad);
  return bias_grad<Silu>(ctx, call, a);
}

// Absent outputs are left out of the map; when both are wanted one thread
// writes both of an element after reading its inputs, so either may alias dy.
extern "C" zk_status zk_cuda_silu_mul_grad_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, silu_mul_grad_grad);
  const zk_rows *in[3] = {&a->t[0], &a->t[1], &a->t[2]}, *da = &a->t[3], *db = &a->t[4];
  if (zk_present(da) && zk_present(db)) {
    const zk_rows *out[2] = {da, db};
    return zk_cuda_flat_map(ctx, call, in, out, SiluMulVjp<true, true>{});
  }
  const zk_rows *out[1] = {zk_present(da) ? da : db};
  if (zk_present(da)) return zk_cuda_flat_map(ctx, call, in, out, SiluMulVjp<true, false>{});
  return zk_cuda_flat_map(ctx, call, in, out, SiluMulVjp<false, true>{});
}
