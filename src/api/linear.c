/* Public entry points of the linear family (spec §10): boundary checks,
 * then dispatch.  Backend slots, in signature order:
 *   fused_linear_bias_silu, fused_linear_bias_gelu
 *       t[0] = x [M, K], t[1] = w [N, K], t[2] = bias? [N], t[3] = y [M, N]
 *   fused_linear_rmsnorm
 *       t[0] = x, t[1] = w, t[2] = gamma [N], t[3] = y;  f[0] = eps
 * An absent bias has data NULL.  K = 0 still dispatches (y = epilogue of
 * z = 0); M = 0 or N = 0 is a no-op. */
#include <zkern/linear.h>
#include "../core/tensor.h"

/* x, w, y: shapes and dtypes common to the three ops.  N is w's first dim. */
static zk_status take_gemm(const zk_call *call, zk_args *a, const DLTensor *x, const DLTensor *w, DLTensor *y) {
  ZK_CHECK(zk_take_input(call, "x", x, &a->t[0], 1));
  ZK_CHECK(zk_take(call, "w", w, &a->t[1], 0));
  ZK_CHECK(zk_expect_float(call, "w", &a->t[1]));
  ZK_CHECK(zk_expect_ndim(call, "w", w, 2, "[N, K]"));
  if (a->t[1].cols != a->t[0].cols)
    return zk_fail(call, ZK_ERR_SHAPE, "w has K = %lld, x's last dimension is %lld", (long long)a->t[1].cols,
                   (long long)a->t[0].cols);
  ZK_CHECK(zk_expect_same_dtype(call, "w", &a->t[1], "x", &a->t[0]));
  ZK_CHECK(zk_take(call, "y", y, &a->t[3], 1));
  ZK_CHECK(zk_expect_float(call, "y", &a->t[3]));
  return zk_expect_last_dim_is(call, "y", y, "x", x, w->shape[0]);
}

/* Nothing to write when there are no rows or no outputs per row. */
static zk_status run(const zk_call *call, zk_args *a) {
  if (a->t[3].rows == 0 || a->t[3].cols == 0) return ZK_OK;
  return zk_dispatch(call, a);
}

static zk_status bias_act(const zk_call *call, zk_op_id op, const DLTensor *x, const DLTensor *w,
                          const DLTensor *bias, DLTensor *y) {
  zk_args args = {.op = op};
  ZK_CHECK(take_gemm(call, &args, x, w, y));
  ZK_CHECK(zk_take_param(call, "bias", bias, &args.t[2], 1, args.t[1].rows, "w's first dimension (N)"));
  return run(call, &args);
}

zk_status zk_fused_linear_bias_silu(zk_ctx *ctx, const DLTensor *x, const DLTensor *w, const DLTensor *bias,
                                    DLTensor *y) {
  ZK_BEGIN(fused_linear_bias_silu);
  return bias_act(call, ZK_OP_fused_linear_bias_silu, x, w, bias, y);
}

zk_status zk_fused_linear_bias_gelu(zk_ctx *ctx, const DLTensor *x, const DLTensor *w, const DLTensor *bias,
                                    DLTensor *y) {
  ZK_BEGIN(fused_linear_bias_gelu);
  return bias_act(call, ZK_OP_fused_linear_bias_gelu, x, w, bias, y);
}

zk_status zk_fused_linear_rmsnorm(zk_ctx *ctx, const DLTensor *x, const DLTensor *w, const DLTensor *gamma,
                                  DLTensor *y, float eps) {
  ZK_BEGIN(fused_linear_rmsnorm);
  zk_args args = {.op = ZK_OP_fused_linear_rmsnorm};
  ZK_CHECK(take_gemm(call, &args, x, w, y));
  ZK_CHECK(zk_take_param(call, "gamma", gamma, &args.t[2], 0, args.t[1].rows, "w's first dimension (N)"));
  ZK_CHECK(zk_expect_eps(call, eps));
  args.f[0] = eps;
  return run(call, &args);
}
