/* Public entry points of the activations family (spec §1): boundary checks,
 * then dispatch.  Backend slots: forwards t[0] = x, t[1] = y; grads t[0] = x,
 * t[1] = dy, t[2] = dx; f[] = the scalars in signature order (softplus:
 * beta, threshold; elu: alpha).  Any rank, 0-d included (one element). */
#include <math.h>
#include <zkern/activations.h>
#include "../core/tensor.h"

/* Forward slots: x, y. */
static zk_status take_forward(const zk_call *call, const DLTensor *x, DLTensor *y, zk_args *a) {
  ZK_CHECK(zk_take_input(call, "x", x, &a->t[0], 0));
  return zk_take_like(call, "y", y, &a->t[1], 1, "x", x, &a->t[0]);
}

/* Grad slots: x, dy, dx. */
static zk_status take_grad(const zk_call *call, const DLTensor *x, const DLTensor *dy, DLTensor *dx, zk_args *a) {
  ZK_CHECK(zk_take_input(call, "x", x, &a->t[0], 0));
  ZK_CHECK(zk_take_like(call, "dy", dy, &a->t[1], 0, "x", x, &a->t[0]));
  return zk_take_like(call, "dx", dx, &a->t[2], 1, "x", x, &a->t[0]);
}


static zk_status expect_softplus(const zk_call *call, float beta, float threshold) {
  if (!(beta > 0.0f && isfinite(beta)))
    return zk_fail(call, ZK_ERR_ARG, "beta is %g, must be finite and > 0", (double)beta);
  if (!isfinite(threshold)) return zk_fail(call, ZK_ERR_ARG, "threshold is %g, must be finite", (double)threshold);
  return ZK_OK;
}

static zk_status expect_alpha(const zk_call *call, float alpha) {
  if (isfinite(alpha)) return ZK_OK;
  return zk_fail(call, ZK_ERR_ARG, "alpha is %g, must be finite", (double)alpha);
}

/* The activations without scalars: y = f(x) and dx = dy·f'(x). */
#define ZK_ACT_FWD(name)                                             \
  zk_status zk_##name(zk_ctx *ctx, const DLTensor *x, DLTensor *y) { \
    ZK_BEGIN(name);                                                  \
    zk_args a = {.op = ZK_OP_##name};                                \
    ZK_CHECK(take_forward(call, x, y, &a));                          \
    return zk_dispatch_rows(call, &a, &a.t[0], 0);                   \
  }
#define ZK_ACT_GRAD(name)                                                                        \
  zk_status zk_##name##_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx) { \
    ZK_BEGIN(name##_grad);                                                                       \
    zk_args a = {.op = ZK_OP_##name##_grad};                                                     \
    ZK_CHECK(take_grad(call, x, dy, dx, &a));                                                    \
    return zk_dispatch_rows(call, &a, &a.t[0], 0);                                               \
  }

ZK_ACT_FWD(exp)
ZK_ACT_FWD(log)
ZK_ACT_FWD(tanh)
ZK_ACT_FWD(sigmoid)
ZK_ACT_FWD(relu)
ZK_ACT_FWD(silu)
ZK_ACT_FWD(gelu_tanh)
ZK_ACT_FWD(mish)

ZK_ACT_GRAD(exp)
ZK_ACT_GRAD(tanh)
ZK_ACT_GRAD(sigmoid)
ZK_ACT_GRAD(relu)
ZK_ACT_GRAD(silu)
ZK_ACT_GRAD(gelu_tanh)
ZK_ACT_GRAD(mish)

zk_status zk_softplus(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float beta, float threshold) {
  ZK_BEGIN(softplus);
  zk_args a = {.op = ZK_OP_softplus, .f = {beta, threshold}};
  ZK_CHECK(take_forward(call, x, y, &a));
  ZK_CHECK(expect_softplus(call, beta, threshold));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_softplus_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx, float beta,
                           float threshold) {
  ZK_BEGIN(softplus_grad);
  zk_args a = {.op = ZK_OP_softplus_grad, .f = {beta, threshold}};
  ZK_CHECK(take_grad(call, x, dy, dx, &a));
  ZK_CHECK(expect_softplus(call, beta, threshold));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_elu(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float alpha) {
  ZK_BEGIN(elu);
  zk_args a = {.op = ZK_OP_elu, .f = {alpha}};
  ZK_CHECK(take_forward(call, x, y, &a));
  ZK_CHECK(expect_alpha(call, alpha));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_elu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx, float alpha) {
  ZK_BEGIN(elu_grad);
  zk_args a = {.op = ZK_OP_elu_grad, .f = {alpha}};
  ZK_CHECK(take_grad(call, x, dy, dx, &a));
  ZK_CHECK(expect_alpha(call, alpha));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}
