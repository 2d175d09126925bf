/* Public entry points of the softmax family (spec §2): boundary checks,
 * then dispatch.  Backend slots: forwards t[0] = x, t[1] = y; grads
 * t[0] = y, t[1] = dy, t[2] = dx. */
#include <zkern/softmax.h>
#include "../core/tensor.h"

/* The row input (x, or y of a grad): float, at least 1-D. */
static zk_status take_input(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out) {
  ZK_CHECK(zk_take(call, name, t, out, 0));
  ZK_CHECK(zk_expect_float(call, name, out));
  return zk_expect_rank(call, name, t, 1);
}

/* An output or cotangent shaped and typed like the row input ref. */
static zk_status take_like(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out, int output,
                           const char *ref_name, const DLTensor *ref, const zk_rows *aref) {
  ZK_CHECK(zk_take(call, name, t, out, output));
  ZK_CHECK(zk_expect_same_dtype(call, name, out, ref_name, aref));
  return zk_expect_same_shape(call, name, t, ref_name, ref);
}

static zk_status forward(const zk_call *call, zk_op_id op, const DLTensor *x, DLTensor *y) {
  zk_args a = {.op = op};
  ZK_CHECK(take_input(call, "x", x, &a.t[0]));
  ZK_CHECK(take_like(call, "y", y, &a.t[1], 1, "x", x, &a.t[0]));
  if (zk_no_rows(&a.t[0])) return ZK_OK;
  return zk_dispatch(call, &a);
}

static zk_status backward(const zk_call *call, zk_op_id op, const DLTensor *y, const DLTensor *dy, DLTensor *dx) {
  zk_args a = {.op = op};
  ZK_CHECK(take_input(call, "y", y, &a.t[0]));
  ZK_CHECK(take_like(call, "dy", dy, &a.t[1], 0, "y", y, &a.t[0]));
  ZK_CHECK(take_like(call, "dx", dx, &a.t[2], 1, "y", y, &a.t[0]));
  if (zk_no_rows(&a.t[0])) return ZK_OK;
  return zk_dispatch(call, &a);
}

zk_status zk_softmax_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y) {
  ZK_BEGIN(softmax_lastdim);
  return forward(call, ZK_OP_softmax_lastdim, x, y);
}

zk_status zk_log_softmax_lastdim(zk_ctx *ctx, const DLTensor *x, DLTensor *y) {
  ZK_BEGIN(log_softmax_lastdim);
  return forward(call, ZK_OP_log_softmax_lastdim, x, y);
}

zk_status zk_softmax_grad(zk_ctx *ctx, const DLTensor *y, const DLTensor *dy, DLTensor *dx) {
  ZK_BEGIN(softmax_grad);
  return backward(call, ZK_OP_softmax_grad, y, dy, dx);
}

zk_status zk_log_softmax_lastdim_grad(zk_ctx *ctx, const DLTensor *y, const DLTensor *dy, DLTensor *dx) {
  ZK_BEGIN(log_softmax_lastdim_grad);
  return backward(call, ZK_OP_log_softmax_lastdim_grad, y, dy, dx);
}
