/* Public entry points of the softmax family (spec §2): boundary checks,
 * then dispatch.  Backend slots: forwards t[0] = x, t[1] = y; grads
 * t[0] = y, t[1] = dy, t[2] = dx. */
#include <zkern/softmax.h>
#include "../core/tensor.h"

static zk_status forward(const zk_call *call, zk_op_id op, const DLTensor *x, DLTensor *y) {
  zk_args a = {.op = op};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_like(call, "y", y, &a.t[1], 1, "x", x, &a.t[0]));
  if (zk_no_rows(&a.t[0])) return ZK_OK;
  return zk_dispatch(call, &a);
}

static zk_status backward(const zk_call *call, zk_op_id op, const DLTensor *y, const DLTensor *dy, DLTensor *dx) {
  zk_args a = {.op = op};
  ZK_CHECK(zk_take_input(call, "y", y, &a.t[0], 1));
  ZK_CHECK(zk_take_like(call, "dy", dy, &a.t[1], 0, "y", y, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "dx", dx, &a.t[2], 1, "y", y, &a.t[0]));
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
