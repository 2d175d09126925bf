/* Public entry points of the fused elementwise family (spec §9): boundary
 * checks, then dispatch.  Backend slots, in signature order:
 *   add, mul, silu_mul_grad              t[0] = a, t[1] = b, t[2] = y
 *   add_bias, bias_gelu_tanh, bias_silu  t[0] = x, t[1] = bias, t[2] = y
 *   bias_*_grad                          t[0] = x, t[1] = bias, t[2] = dy, t[3] = dx?, t[4] = dbias?
 *   silu_mul_grad_grad                   t[0] = a, t[1] = b, t[2] = dy, t[3] = da?, t[4] = db?
 * Absent optional tensors have data NULL.  No scalars. */
#include <zkern/fused.h>
#include "../core/tensor.h"

/* bias [C], C = x's last dimension; its own float dtype. */
static zk_status take_bias(const zk_call *call, const DLTensor *bias, zk_rows *out, const zk_rows *ax) {
  ZK_CHECK(zk_take(call, "bias", bias, out, 0));
  ZK_CHECK(zk_expect_float(call, "bias", out));
  return zk_expect_vector(call, "bias", bias, ax->cols, "x's last dimension");
}

/* dbias (optional): bias's shape and dtype. */
static zk_status take_dbias(const zk_call *call, const DLTensor *dbias, zk_rows *out, const zk_rows *abias,
                            const zk_rows *ax) {
  if (!dbias) return zk_take_opt(call, "dbias", dbias, out, 1);
  ZK_CHECK(zk_take(call, "dbias", dbias, out, 1));
  ZK_CHECK(zk_expect_vector(call, "dbias", dbias, ax->cols, "x's last dimension"));
  return zk_expect_same_dtype(call, "dbias", out, "bias", abias);
}

/* a, b -> y (add, mul, silu_mul_grad). */
static zk_status binary(const zk_call *call, zk_op_id op, const DLTensor *a, const DLTensor *b, DLTensor *y) {
  zk_args args = {.op = op};
  ZK_CHECK(zk_take_input(call, "a", a, &args.t[0], 0));
  ZK_CHECK(zk_take_like(call, "b", b, &args.t[1], 0, "a", a, &args.t[0]));
  ZK_CHECK(zk_take_like(call, "y", y, &args.t[2], 1, "a", a, &args.t[0]));
  return zk_dispatch_rows(call, &args, &args.t[0], 0);
}

/* x, bias -> y (add_bias, bias_gelu_tanh, bias_silu). */
static zk_status bias_forward(const zk_call *call, zk_op_id op, const DLTensor *x, const DLTensor *bias,
                              DLTensor *y) {
  zk_args args = {.op = op};
  ZK_CHECK(zk_take_input(call, "x", x, &args.t[0], 1));
  ZK_CHECK(take_bias(call, bias, &args.t[1], &args.t[0]));
  ZK_CHECK(zk_take_like(call, "y", y, &args.t[2], 1, "x", x, &args.t[0]));
  return zk_dispatch_rows(call, &args, &args.t[0], 0);
}

/* x, bias, dy -> dx?, dbias?.  dbias is written even without rows (zeros). */
static zk_status bias_grad(const zk_call *call, zk_op_id op, const DLTensor *x, const DLTensor *bias,
                           const DLTensor *dy, DLTensor *dx, DLTensor *dbias) {
  zk_args args = {.op = op};
  ZK_CHECK(zk_take_input(call, "x", x, &args.t[0], 1));
  ZK_CHECK(take_bias(call, bias, &args.t[1], &args.t[0]));
  ZK_CHECK(zk_take_like(call, "dy", dy, &args.t[2], 0, "x", x, &args.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "dx", dx, &args.t[3], 1, "x", x, &args.t[0]));
  ZK_CHECK(take_dbias(call, dbias, &args.t[4], &args.t[1], &args.t[0]));
  if (!dx && !dbias) return ZK_OK;
  if (args.t[0].cols == 0 || (args.t[0].rows == 0 && !dbias)) return ZK_OK;
  return zk_dispatch(call, &args);
}

zk_status zk_add(zk_ctx *ctx, const DLTensor *a, const DLTensor *b, DLTensor *y) {
  ZK_BEGIN(add);
  return binary(call, ZK_OP_add, a, b, y);
}

zk_status zk_mul(zk_ctx *ctx, const DLTensor *a, const DLTensor *b, DLTensor *y) {
  ZK_BEGIN(mul);
  return binary(call, ZK_OP_mul, a, b, y);
}

zk_status zk_silu_mul_grad(zk_ctx *ctx, const DLTensor *a, const DLTensor *b, DLTensor *y) {
  ZK_BEGIN(silu_mul_grad);
  return binary(call, ZK_OP_silu_mul_grad, a, b, y);
}

zk_status zk_add_bias(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, DLTensor *y) {
  ZK_BEGIN(add_bias);
  return bias_forward(call, ZK_OP_add_bias, x, bias, y);
}

zk_status zk_bias_gelu_tanh(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, DLTensor *y) {
  ZK_BEGIN(bias_gelu_tanh);
  return bias_forward(call, ZK_OP_bias_gelu_tanh, x, bias, y);
}

zk_status zk_bias_silu(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, DLTensor *y) {
  ZK_BEGIN(bias_silu);
  return bias_forward(call, ZK_OP_bias_silu, x, bias, y);
}

zk_status zk_bias_gelu_tanh_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, const DLTensor *dy,
                                 DLTensor *dx, DLTensor *dbias) {
  ZK_BEGIN(bias_gelu_tanh_grad);
  return bias_grad(call, ZK_OP_bias_gelu_tanh_grad, x, bias, dy, dx, dbias);
}

zk_status zk_bias_silu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, const DLTensor *dy,
                            DLTensor *dx, DLTensor *dbias) {
  ZK_BEGIN(bias_silu_grad);
  return bias_grad(call, ZK_OP_bias_silu_grad, x, bias, dy, dx, dbias);
}

zk_status zk_silu_mul_grad_grad(zk_ctx *ctx, const DLTensor *a, const DLTensor *b, const DLTensor *dy,
                                DLTensor *da, DLTensor *db) {
  ZK_BEGIN(silu_mul_grad_grad);
  zk_args args = {.op = ZK_OP_silu_mul_grad_grad};
  ZK_CHECK(zk_take_input(call, "a", a, &args.t[0], 0));
  ZK_CHECK(zk_take_like(call, "b", b, &args.t[1], 0, "a", a, &args.t[0]));
  ZK_CHECK(zk_take_like(call, "dy", dy, &args.t[2], 0, "a", a, &args.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "da", da, &args.t[3], 1, "a", a, &args.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "db", db, &args.t[4], 1, "a", a, &args.t[0]));
  if (!da && !db) return ZK_OK;
  return zk_dispatch_rows(call, &args, &args.t[0], 0);
}
