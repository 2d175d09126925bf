// Softmax on CUDA (spec §2): softmax and log_softmax over the last dim and
// their VJPs, through the row engine of softmax_rows.cuh (one read of each
// input, one write, a fixed-order reduction per row).
//
// Grad states: Σ y·dy (softmax, in the engine header), and Σ dy with an
// "any y > -Inf" flag (log_softmax, here).
#include "softmax_rows.cuh"

namespace {

// log_softmax grad: inputs y, dy; state a = 1 when some y is not -Inf
// (NaN counts), b = Σ dy.  A row whose y is all -Inf gets dx = 0.
struct LogSoftmaxGrad : RowOpBase {
  static constexpr int NIN = 2;
  static constexpr int kmax(int W) { return W == 1 ? 4 : W == 8 ? 16 : 8; }
  struct Out {
    float sum;
    bool masked;
  };
  static __device__ __forceinline__ float neutral(int k) { return k == 0 ? -INFINITY : 0.0f; }
  static __device__ __forceinline__ Pair identity() { return {0.0f, 0.0f}; }
  static __device__ __forceinline__ Pair combine(Pair x, Pair y) { return {fmaxf(x.a, y.a), x.b + y.b}; }
  template <int K>
  static __device__ __forceinline__ void accumulate(Pair &st, float (&v)[2][K]) {
#pragma unroll
    for (int k = 0; k < K; k++) {
      if (!(v[0][k] == -INFINITY)) st.a = 1.0f;
      st.b += v[1][k];
    }
  }
  __device__ __forceinline__ Out finish(Pair total, Pair, const Row &) const { return {total.b, total.a == 0.0f}; }
  template <bool CACHED, int W, int K, class B>
  __device__ __forceinline__ float output(const Out &o, const float (&v)[2][K], const B &, int j) const {
    return o.masked ? 0.0f : v[1][j] - zk_exp_f(v[0][j]) * o.sum;
  }
};

}  // namespace

// ------------------------------------------------------------ entry points
// Slots follow include/zkern/softmax.h: forwards t[0] = x, t[1] = y; grads
// t[0] = y, t[1] = dy, t[2] = dx.

extern "C" zk_status zk_cuda_softmax_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, softmax_lastdim);
  const zk_rows *in[] = {&a->t[0]};
  return run<SoftmaxFwd<false>>(ctx, call, in, &a->t[1]);
}

extern "C" zk_status zk_cuda_log_softmax_lastdim(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, log_softmax_lastdim);
  const zk_rows *in[] = {&a->t[0]};
  return run<SoftmaxFwd<true>>(ctx, call, in, &a->t[1]);
}

extern "C" zk_status zk_cuda_softmax_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, softmax_grad);
  const zk_rows *in[] = {&a->t[0], &a->t[1]};
  return run<SoftmaxGrad<>>(ctx, call, in, &a->t[2]);
}

extern "C" zk_status zk_cuda_log_softmax_lastdim_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CUDA_CALL(ctx, log_softmax_lastdim_grad);
  const zk_rows *in[] = {&a->t[0], &a->t[1]};
  return run<LogSoftmaxGrad>(ctx, call, in, &a->t[2]);
}
