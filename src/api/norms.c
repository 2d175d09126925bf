/* Public entry points of the norms family (spec §3): boundary checks, then
 * dispatch.  Backend slots: the tensors in signature order, f[0] = eps,
 * drop = the dropout settings. */
#include <zkern/norms.h>
#include "../core/tensor.h"

#define X_LAST "x's last dimension"

/* The weightless norms: x -> y, and (x, dy) -> dx. */
static zk_status no_weight(const zk_call *call, zk_op_id op, const DLTensor *x, DLTensor *y, float eps) {
  zk_args a = {.op = op, .f = {eps}};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_like(call, "y", y, &a.t[1], 1, "x", x, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

static zk_status no_weight_grad(const zk_call *call, zk_op_id op, const DLTensor *x, const DLTensor *dy, DLTensor *dx,
                                float eps) {
  zk_args a = {.op = op, .f = {eps}};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_like(call, "dy", dy, &a.t[1], 0, "x", x, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "dx", dx, &a.t[2], 1, "x", x, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_rmsnorm(zk_ctx *ctx, const DLTensor *x, const DLTensor *weight, DLTensor *y, float eps) {
  ZK_BEGIN(rmsnorm);
  zk_args a = {.op = ZK_OP_rmsnorm, .f = {eps}};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_param(call, "weight", weight, &a.t[1], 0, a.t[0].cols, X_LAST));
  ZK_CHECK(zk_take_like(call, "y", y, &a.t[2], 1, "x", x, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_rmsnorm_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *weight, const DLTensor *dy,
                          DLTensor *dx, DLTensor *dweight, float eps) {
  ZK_BEGIN(rmsnorm_grad);
  zk_args a = {.op = ZK_OP_rmsnorm_grad, .f = {eps}};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_param(call, "weight", weight, &a.t[1], 0, a.t[0].cols, X_LAST));
  ZK_CHECK(zk_take_like(call, "dy", dy, &a.t[2], 0, "x", x, &a.t[0]));
  if (dx) ZK_CHECK(zk_take_like(call, "dx", dx, &a.t[3], 1, "x", x, &a.t[0]));
  ZK_CHECK(zk_take_param_grad(call, "dweight", dweight, &a.t[4], a.t[0].cols, X_LAST, "weight", &a.t[1]));
  ZK_CHECK(zk_expect_eps(call, eps));
  if (!dx && !dweight) return ZK_OK;
  return zk_dispatch_rows(call, &a, &a.t[0], dweight != NULL);
}

zk_status zk_rms_norm_no_weight(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float eps) {
  ZK_BEGIN(rms_norm_no_weight);
  return no_weight(call, ZK_OP_rms_norm_no_weight, x, y, eps);
}

zk_status zk_rms_norm_no_weight_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx, float eps) {
  ZK_BEGIN(rms_norm_no_weight_grad);
  return no_weight_grad(call, ZK_OP_rms_norm_no_weight_grad, x, dy, dx, eps);
}

zk_status zk_layernorm(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma, const DLTensor *beta,
                       DLTensor *y, float eps) {
  ZK_BEGIN(layernorm);
  zk_args a = {.op = ZK_OP_layernorm, .f = {eps}};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_param(call, "gamma", gamma, &a.t[1], 0, a.t[0].cols, X_LAST));
  ZK_CHECK(zk_take_param(call, "beta", beta, &a.t[2], 1, a.t[0].cols, X_LAST));
  ZK_CHECK(zk_take_like(call, "y", y, &a.t[3], 1, "x", x, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_layernorm_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma, const DLTensor *dy,
                            DLTensor *dx, DLTensor *dgamma, DLTensor *dbeta, float eps) {
  ZK_BEGIN(layernorm_grad);
  zk_args a = {.op = ZK_OP_layernorm_grad, .f = {eps}};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_param(call, "gamma", gamma, &a.t[1], 0, a.t[0].cols, X_LAST));
  ZK_CHECK(zk_take_like(call, "dy", dy, &a.t[2], 0, "x", x, &a.t[0]));
  if (dx) ZK_CHECK(zk_take_like(call, "dx", dx, &a.t[3], 1, "x", x, &a.t[0]));
  ZK_CHECK(zk_take_param_grad(call, "dgamma", dgamma, &a.t[4], a.t[0].cols, X_LAST, "gamma", &a.t[1]));
  ZK_CHECK(zk_take_param_grad(call, "dbeta", dbeta, &a.t[5], a.t[0].cols, X_LAST, NULL, NULL));
  ZK_CHECK(zk_expect_eps(call, eps));
  if (!dx && !dgamma && !dbeta) return ZK_OK;
  return zk_dispatch_rows(call, &a, &a.t[0], dgamma || dbeta);
}

zk_status zk_layer_norm_no_weight(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float eps) {
  ZK_BEGIN(layer_norm_no_weight);
  return no_weight(call, ZK_OP_layer_norm_no_weight, x, y, eps);
}

zk_status zk_layer_norm_no_weight_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx, float eps) {
  ZK_BEGIN(layer_norm_no_weight_grad);
  return no_weight_grad(call, ZK_OP_layer_norm_no_weight_grad, x, dy, dx, eps);
}

static zk_status take_ln_dropout_params(const zk_call *call, const zk_layer_norm_dropout_params *p, zk_args *a) {
  if (!p) return zk_fail(call, ZK_ERR_ARG, "params is NULL");
  ZK_CHECK(zk_make_dropout(call, p->p, p->seed, p->offset, &a->drop));
  a->f[0] = p->eps;
  return zk_expect_eps(call, p->eps);
}

zk_status zk_layer_norm_dropout(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma, const DLTensor *beta,
                                DLTensor *y, const zk_layer_norm_dropout_params *params) {
  ZK_BEGIN(layer_norm_dropout);
  zk_args a = {.op = ZK_OP_layer_norm_dropout};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_param(call, "gamma", gamma, &a.t[1], 0, a.t[0].cols, X_LAST));
  ZK_CHECK(zk_take_param(call, "beta", beta, &a.t[2], 1, a.t[0].cols, X_LAST));
  ZK_CHECK(zk_take_like(call, "y", y, &a.t[3], 1, "x", x, &a.t[0]));
  ZK_CHECK(take_ln_dropout_params(call, params, &a));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_layer_norm_dropout_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma, const DLTensor *dy,
                                     DLTensor *dx, DLTensor *dgamma, DLTensor *dbeta,
                                     const zk_layer_norm_dropout_params *params) {
  ZK_BEGIN(layer_norm_dropout_grad);
  zk_args a = {.op = ZK_OP_layer_norm_dropout_grad};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_param(call, "gamma", gamma, &a.t[1], 0, a.t[0].cols, X_LAST));
  ZK_CHECK(zk_take_like(call, "dy", dy, &a.t[2], 0, "x", x, &a.t[0]));
  if (dx) ZK_CHECK(zk_take_like(call, "dx", dx, &a.t[3], 1, "x", x, &a.t[0]));
  ZK_CHECK(zk_take_param_grad(call, "dgamma", dgamma, &a.t[4], a.t[0].cols, X_LAST, "gamma", &a.t[1]));
  ZK_CHECK(zk_take_param_grad(call, "dbeta", dbeta, &a.t[5], a.t[0].cols, X_LAST, NULL, NULL));
  ZK_CHECK(take_ln_dropout_params(call, params, &a));
  if (!dx && !dgamma && !dbeta) return ZK_OK;
  return zk_dispatch_rows(call, &a, &a.t[0], dgamma || dbeta);
}
