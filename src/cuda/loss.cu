// Softmax cross-entropy on CUDA (spec §11), through the row reduction of
// row_reduce.cuh (a warp or a block per row, 16-byte loads, fixed trees).
//
// Each thread folds its logits into the online pair (m, s = Σ e^(z - m))
// and Σ z, so the forward reads the logits once; the group's total gives
// lse = m + log s.  The forward writes loss_r (reduction none) or per-row
// losses into the workspace, which one block then adds in a fixed order.
// The grad's second pass re-reads each logit and writes its gradient from
// the same thread, after the whole row was read for the statistics, so
// dlogits = logits works.  A target outside [0, C) that is not
// ignore_index raises the context's error flag and its row is skipped.
#include "row_reduce.cuh"

namespace {

__device__ __forceinline__ int64_t target_at(const void *t, zk_dtype dt, int64_t i) {
  return dt == ZK_I32 ? (int64_t)((const int32_t *)t)[i] : ((const int64_t *)t)[i];
}

// e^(m - to) for m <= to; exactly 1 when equal (both -Inf included).
__device__ __forceinline__ float rescale(float m, float to) { return m == to ? 1.0f : expf(m - to); }

struct CeCommon {
  struct State {
    float m, s, z;  // max, Σ e^(z - m), Σ z
  };
  const void *targets;
  zk_dtype target_dtype;
  int64_t target_stride, cols, ignore_index;
  float eps;
  int *flag;
  __device__ State identity() const { return {-INFINITY, 0.0f, 0.0f}; }
  __device__ State start(float) const { return identity(); }
  // The chunk's maximum first, so s is rescaled at most once a chunk; then
  // one exponential an element (zk_exp_shifted: an ex2 and two flops).  A
  // NaN is never the maximum but makes s NaN through its term; lse() says
  // NaN for a +Inf maximum whatever s is.
  template <int E>
  __device__ void fold(State &st, const float (&v)[E], int64_t) const {
    float m = st.m;
#pragma unroll
    for (int e = 0; e < E; e++) m = v[e] > m ? v[e] : m;
    st.s *= rescale(st.m, m);
    st.m = m;
#pragma unroll
    for (int e = 0; e < E; e++) {
      if (v[e] != -INFINITY) st.s += zk_exp_shifted(v[e], m);
      st.z += v[e];
    }
  }
  __device__ State combine(const State &a, const State &b) const {
    const float m = a.m > b.m ? a.m : b.m;
    return {m, __fadd_rn(__fmul_rn(a.s, rescale(a.m, m)), __fmul_rn(b.s, rescale(b.m, m))), __fadd_rn(a.z, b.z)};
  }
  // Row r's target, or -1 (ignored) / -2 (out of range: flagged).
  __device__ int64_t target(int64_t r) const {
    const int64_t t = target_at(targets, target_dtype, r * target_stride);
    if (t == ignore_index) return -1;
    if (t < 0 || t >= cols) {
      atomicOr(flag, 1);
      return -2;
    }
    return t;
  }
  // lse, NaN for a row with a NaN or +Inf, -Inf for an all -Inf row.
  __device__ float lse(const State &st) const {
    if (st.m == INFINITY) return NAN;
    return st.m == -INFINITY ? -INFINITY : st.m + logf(st.s);
  }
};

template <typename T>
struct CeForward : CeCommon {
  const T *logits;
  int64_t logits_stride;
  void *loss;  // reduction none: loss_r, any float dtype
  zk_dtype loss_dtype;
  int64_t loss_stride;
  float *partial;  // reductions: rows per-row losses, then rows valid flags
  int64_t rows;
  __device__ void finish(const State &st, int64_t r, int tid, int) const {
    if (tid) return;
    const int64_t t = target(r);
    float l = 0.0f;
    if (t >= 0) {
      const float zt = zk_ld(logits + r * logits_stride + t);
      l = zk_cross_entropy_row(lse(st), zt, st.z, eps, cols);
    }
    if (partial) {
      partial[r] = l;
      partial[rows + r] = t >= 0 ? 1.0f : 0.0f;
    } else if (t != -2) {
      zk_st_param(loss, loss_dtype, r * loss_stride, l);
    }
  }
};

template <typename T>
struct CeGrad : CeCommon {
  const T *logits;
  int64_t logits_stride;
  T *dlogits;
  int64_t dlogits_stride;
  const void *dloss;
  zk_dtype dloss_dtype;
  int64_t dloss_stride;  // reduction none: per row; else one value
  int reduction;
  bool vec;              // logits and dlogits rows in 16-byte chunks
  const float *n_valid;  // mean: the rows not ignored
  __device__ void finish(const State &st, int64_t r, int tid, int group) const {
    const int64_t t = target(r);
    if (t == -2) return;
    T *out = dlogits + r * dlogits_stride;
    if (t == -1) {
      for (int64_t j = tid; j < cols; j += group) zk_st(out + j, 0.0f);
      return;
    }
    float c = zk_ld_param(dloss, dloss_dtype, reduction == ZK_REDUCTION_NONE ? r * dloss_stride : 0);
    if (reduction == ZK_REDUCTION_MEAN) c /= *n_valid;
    const float inv_s = st.m == INFINITY ? NAN : 1.0f / st.s, c_eps = c * (eps / (float)cols), c_s = c * inv_s;
    const T *z = logits + r * logits_stride;
    // Each gradient from its own logit, read by the thread that writes it
    // (dlogits = logits needs no barrier).
    auto grad = [&](float v, int64_t j) {
      const float p = zk_exp_shifted(v, st.m);
      return j == t ? c * ((p * inv_s - (1.0f - eps)) - eps / (float)cols) : c_s * p - c_eps;
    };
    if (vec) {  // 16-byte chunks, as the statistics pass read them
      constexpr int E = zk_vec<T>::EPV;
      for (int64_t q = tid; q < cols / E; q += group) {
        zk_vec<T> in, o;
        in.load(z + q * E);
        float g[E];
#pragma unroll
        for (int e = 0; e < E; e++) g[e] = grad(in.get(e), q * E + e);
        zk_vec_set_all(o, g);
        o.store(out + q * E);
      }
      return;
    }
    for (int64_t j = tid; j < cols; j += group) zk_st(out + j, grad(zk_ld(z + j), j));
  }
};

// One block, a fixed order.  With partial (the reduced forward): loss =
// Σ losses, or / Σ valid flags for the mean.  Without: *n_valid = the rows
// whose target is not ignore_index (the mean's grad).
__global__ void __launch_bounds__(1024) reduce_losses(const float *partial, int64_t rows, const void *targets,
                                                      zk_dtype target_dtype, int64_t target_stride,
                                                      int64_t ignore_index, int reduction, void *loss,
                                                      zk_dtype loss_dtype, float *n_valid) {
  __shared__ float scratch[33];
  float sum = 0.0f, count = 0.0f;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    if (partial) sum += partial[r], count += partial[rows + r];
    else count += target_at(targets, target_dtype, r * target_stride) != ignore_index ? 1.0f : 0.0f;
  }
  sum = zk_block_sum(sum, scratch);
  count = zk_block_sum(count, scratch);
  if (threadIdx.x) return;
  if (!partial) {
    *n_valid = count;
    return;
  }
  zk_st_param(loss, loss_dtype, 0, reduction == ZK_REDUCTION_MEAN ? sum / count : sum);  // no valid row: NaN
}

static CeCommon common_of(zk_ctx *ctx, const zk_args *a) {
  CeCommon c;
  c.targets = a->t[1].data;
  c.target_dtype = a->t[1].dtype;
  c.target_stride = a->t[1].stride;
  c.cols = a->t[0].cols;
  c.ignore_index = a->i[1];
  c.eps = a->f[0];
  c.flag = zk_cuda(ctx)->error_flag;
  return c;
}

template <typename T>
static zk_status forward(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  const int64_t R = a->t[0].rows;
  CeForward<T> op;
  static_cast<CeCommon &>(op) = common_of(ctx, a);
  op.logits = (const T *)a->t[0].data;
  op.logits_stride = a->t[0].stride;
  op.loss = a->t[2].data;
  op.loss_dtype = a->t[2].dtype;
  op.loss_stride = a->t[2].stride;
  op.partial = nullptr;
  op.rows = R;
  const int reduction = (int)a->i[0];
  if (reduction != ZK_REDUCTION_NONE) {
    op.partial = (float *)zk_cuda_workspace(ctx, call, (size_t)(2 * R + 2) * sizeof(float), &s);
    if (!op.partial) return s;
  }
  ZK_CUDA_TRY(call, zk_reduce_rows<T>(ctx, stream, &a->t[0], op));
  if (reduction == ZK_REDUCTION_NONE) return ZK_OK;
  reduce_losses<<<1, 1024, 0, stream>>>(op.partial, R, nullptr, ZK_I64, 0, 0, reduction, op.loss, op.loss_dtype, nullptr);
  return ZK_CUDA_LAUNCHED(call);
}

template <typename T>
static zk_status backward(zk_ctx *ctx, const zk_call *call, const zk_args *a) {
  cudaStream_t stream;
  zk_status s = zk_cuda_enter(ctx, call, &stream);
  if (s != ZK_OK) return s;
  CeGrad<T> op;
  static_cast<CeCommon &>(op) = common_of(ctx, a);
  op.logits = (const T *)a->t[0].data;
  op.logits_stride = a->t[0].stride;
  op.dloss = a->t[2].data;
  op.dloss_dtype = a->t[2].dtype;
  op.dloss_stride = a->t[2].stride;
  op.dlogits = (T *)a->t[3].data;
  op.dlogits_stride = a->t[3].stride;
  op.reduction = (int)a->i[0];
  op.vec = zk_rows_vec_ok(&a->t[0]) && zk_rows_vec_ok(&a->t[3]);
  op.n_valid = nullptr;
  if (op.reduction == ZK_REDUCTION_MEAN) {
    float *n_valid = (float *)zk_cuda_workspace(ctx, call, 64, &s);
    if (!n_valid) return s;
    reduce_losses<<<1, 1024, 0, stream>>>(nullptr, a->t[0].rows, op.targets, op.target_dtype, op.target_stride,
                                          op.ignore_index, 0, nullptr, ZK_F32, n_valid);
    ZK_CUDA_TRY(call, cudaGetLastError());
    op.n_valid = n_valid;
  }
  return zk_cuda_check(call, zk_reduce_rows<T>(ctx, stream, &a->t[0], op), "kernel launch");
}

}  // namespace

// Slots follow include/zkern/loss.h (see src/api/loss.c).
extern "C" zk_status zk_cuda_softmax_cross_entropy(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, softmax_cross_entropy);
  switch (a->t[0].dtype) {
    case ZK_F32: return forward<float>(ctx, call, a);
    case ZK_F16: return forward<__half>(ctx, call, a);
    default: return forward<__nv_bfloat16>(ctx, call, a);
  }
}

extern "C" zk_status zk_cuda_softmax_cross_entropy_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, softmax_cross_entropy_grad);
  switch (a->t[0].dtype) {
    case ZK_F32: return backward<float>(ctx, call, a);
    case ZK_F16: return backward<__half>(ctx, call, a);
    default: return backward<__nv_bfloat16>(ctx, call, a);
  }
}
