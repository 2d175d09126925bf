// Activations on CUDA (spec §1): every op is one elementwise map through
// zk_cuda_map, with a functor that evaluates the shared scalar code of
// src/common/zk_math.h, the same formulas as the CPU backend (on the
// device zk_exp_f, zk_log_f, zk_log1p_f, zk_expm1_f and zk_tanh_f are the
// accurate library functions expf, logf, log1pf, expm1f and tanhf).
//
// Entry points follow the slots of src/api/activations.c: forwards
// t[0] = x -> t[1] = y; grads t[0] = x, t[1] = dy -> t[2] = dx; f[] = the
// op's scalars (softplus: beta, threshold; elu: alpha).
//
// The ops are memory-bound.  Views are first flattened: when every view is
// compact, the tensor is one row of R·D elements, so a short or odd D still
// takes the 16-byte vector path, and a large flat tensor whose length is
// not a multiple of the vector width runs its aligned prefix vectorized and
// the last few elements in a second, scalar launch.
#include "map.cuh"

namespace {

// Runs op over the NIN inputs at x[0..NIN) -> out (zk_cuda_flat_map: one
// flat row when the views are compact).  All views share rows × cols
// (checked by the API).
template <int NIN, typename Op>
zk_status act_map(zk_ctx *ctx, const zk_call *call, const zk_rows *x, const zk_rows *out, const Op &op) {
  const zk_rows *in[NIN], *outs[1] = {out};
  for (int k = 0; k < NIN; k++) in[k] = &x[k];
  return zk_cuda_flat_map(ctx, call, in, outs, op);
}

}  // namespace

// One functor and one entry point per op.  p[] holds the op's scalars;
// (r, j) are unused: activations do not depend on the position.
#define ZK_CUDA_ACT_FWD(name, EXPR)                                                                     \
  namespace {                                                                                           \
  struct name##_fwd {                                                                                   \
    float p[2];                                                                                         \
    __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[1], int64_t,          \
                                               int64_t) const {                                         \
      float x = in[0];                                                                                  \
      out[0] = (EXPR);                                                                                  \
    }                                                                                                   \
  };                                                                                                    \
  }                                                                                                     \
  extern "C" zk_status zk_cuda_##name(zk_ctx *ctx, const zk_args *a) {                                  \
    ZK_CUDA_CALL(ctx, name);                                                                            \
    return act_map<1>(ctx, call, &a->t[0], &a->t[1], name##_fwd{{a->f[0], a->f[1]}});                   \
  }

// dx = EXPR(x, dy); inputs t[0] = x and t[1] = dy (adjacent slots).
#define ZK_CUDA_ACT_GRAD(name, EXPR)                                                                    \
  namespace {                                                                                           \
  struct name##_grad {                                                                                  \
    float p[2];                                                                                         \
    __device__ __forceinline__ void operator()(float (&out)[1], const float (&in)[2], int64_t,          \
                                               int64_t) const {                                         \
      float x = in[0], dy = in[1];                                                                      \
      out[0] = (EXPR);                                                                                  \
    }                                                                                                   \
  };                                                                                                    \
  }                                                                                                     \
  extern "C" zk_status zk_cuda_##name##_grad(zk_ctx *ctx, const zk_args *a) {                           \
    ZK_CUDA_CALL(ctx, name##_grad);                                                                     \
    return act_map<2>(ctx, call, &a->t[0], &a->t[2], name##_grad{{a->f[0], a->f[1]}});                  \
  }

ZK_CUDA_ACT_FWD(exp, zk_exp_f(x))
ZK_CUDA_ACT_FWD(log, zk_log_f(x))
ZK_CUDA_ACT_FWD(tanh, zk_tanh_f(x))
ZK_CUDA_ACT_FWD(sigmoid, zk_sigmoid_f(x))
ZK_CUDA_ACT_FWD(relu, zk_relu_f(x))
ZK_CUDA_ACT_FWD(silu, zk_silu_f(x))
ZK_CUDA_ACT_FWD(gelu_tanh, zk_gelu_tanh_f(x))
// beta = 1 (the default) as a literal: x/1 is exact, so the compiler drops
// softplus's IEEE division (a third of its instructions) for the same bits.
ZK_CUDA_ACT_FWD(softplus, p[0] == 1.0f ? zk_softplus_f(x, 1.0f, p[1]) : zk_softplus_f(x, p[0], p[1]))
ZK_CUDA_ACT_FWD(mish, zk_mish_f(x))
ZK_CUDA_ACT_FWD(elu, zk_elu_f(x, p[0]))

ZK_CUDA_ACT_GRAD(exp, zk_exp_grad_f(x, dy))
ZK_CUDA_ACT_GRAD(tanh, dy * zk_tanh_deriv_f(x))
ZK_CUDA_ACT_GRAD(sigmoid, dy * zk_sigmoid_deriv_f(x))
ZK_CUDA_ACT_GRAD(relu, zk_relu_grad_f(x, dy))
ZK_CUDA_ACT_GRAD(silu, dy * zk_silu_deriv_f(x))
ZK_CUDA_ACT_GRAD(gelu_tanh, dy * zk_gelu_tanh_deriv_f(x))
ZK_CUDA_ACT_GRAD(softplus, dy * zk_softplus_deriv_f(x, p[0], p[1]))
ZK_CUDA_ACT_GRAD(mish, dy * zk_mish_deriv_f(x))
ZK_CUDA_ACT_GRAD(elu, dy * zk_elu_deriv_f(x, p[0]))
