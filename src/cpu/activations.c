/* Activations on the CPU (spec §1): every op is one elementwise map through
 * zk_cpu_map, which hands over f32 chunks (converting f16/bf16 on the way)
 * and runs them in parallel.  The math is the shared scalar code of
 * src/common/zk_math.h, so the CUDA backend evaluates the same formulas.
 *
 * Entry points follow the slots of src/api/activations.c: forwards
 * t[0] = x -> t[1] = y; grads t[0] = x, t[1] = dy -> t[2] = dx; f[] = the
 * op's scalars (softplus: beta, threshold; elu: alpha). */
#include "cpu.h"

/* `omp simd`: y may be x and dx may be dy (exact aliases).  Element i is
 * read before it is written and no element depends on another, so the
 * lanes are independent; without the pragma gcc guards the vector loop with
 * an overlap test that an exact alias fails, and runs the scalar loop. */

/* y[i] = EXPR(x) over a chunk; p = the op's float scalars. */
#define ZK_CPU_FWD(name, EXPR)                                                                          \
  ZK_HOT static void map_##name(float *const *out, const float *const *in, int64_t n, uint64_t flat0,   \
                                const void *params) {                                                   \
    const float *p = params, *xs = in[0];                                                               \
    float *y = out[0];                                                                                  \
    (void)p, (void)flat0;                                                                               \
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                               \
      float x = xs[i];                                                                                  \
      y[i] = (EXPR);                                                                                    \
    }                                                                                                   \
  }                                                                                                     \
  zk_status zk_cpu_##name(zk_ctx *ctx, const zk_args *a) {                                              \
    zk_cpu_map(ctx, 1, &a->t[1], 1, &a->t[0], map_##name, a->f);                                        \
    return ZK_OK;                                                                                       \
  }

/* dx[i] = EXPR(x, dy) over a chunk; inputs t[0] = x and t[1] = dy. */
#define ZK_CPU_GRAD(name, EXPR)                                                                         \
  ZK_HOT static void map_##name##_grad(float *const *out, const float *const *in, int64_t n,            \
                                       uint64_t flat0, const void *params) {                            \
    const float *p = params, *xs = in[0], *dys = in[1];                                                 \
    float *dx = out[0];                                                                                 \
    (void)p, (void)flat0;                                                                               \
    _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                               \
      float x = xs[i], dy = dys[i];                                                                     \
      dx[i] = (EXPR);                                                                                   \
    }                                                                                                   \
  }                                                                                                     \
  zk_status zk_cpu_##name##_grad(zk_ctx *ctx, const zk_args *a) {                                       \
    zk_cpu_map(ctx, 1, &a->t[2], 2, &a->t[0], map_##name##_grad, a->f);                                 \
    return ZK_OK;                                                                                       \
  }

ZK_CPU_FWD(exp, zk_exp_f(x))
ZK_CPU_FWD(log, zk_log_f(x))
ZK_CPU_FWD(tanh, zk_tanh_f(x))
ZK_CPU_FWD(sigmoid, zk_sigmoid_f(x))
ZK_CPU_FWD(relu, zk_relu_f(x))
ZK_CPU_FWD(silu, zk_silu_f(x))
ZK_CPU_FWD(gelu_tanh, zk_gelu_tanh_f(x))
ZK_CPU_FWD(softplus, zk_softplus_f(x, p[0], p[1]))
ZK_CPU_FWD(mish, zk_mish_f(x))
ZK_CPU_FWD(elu, zk_elu_f(x, p[0]))

ZK_CPU_GRAD(exp, zk_exp_grad_f(x, dy))
ZK_CPU_GRAD(tanh, dy * zk_tanh_deriv_f(x))
ZK_CPU_GRAD(sigmoid, dy * zk_sigmoid_deriv_f(x))
ZK_CPU_GRAD(relu, zk_relu_grad_f(x, dy))
ZK_CPU_GRAD(silu, dy * zk_silu_deriv_f(x))
ZK_CPU_GRAD(gelu_tanh, dy * zk_gelu_tanh_deriv_f(x))
ZK_CPU_GRAD(softplus, dy * zk_softplus_deriv_f(x, p[0], p[1]))
ZK_CPU_GRAD(mish, dy * zk_mish_deriv_f(x))
ZK_CPU_GRAD(elu, dy * zk_elu_deriv_f(x, p[0]))
