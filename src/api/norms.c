/* Public entry points of the norms family (spec §3): boundary checks, then
 * dispatch.  Backend slots: the tensors in signature order, f[0] = eps,
 * drop = the dropout settings. */
#include <zkern/norms.h>
#include "../core/tensor.h"

/* x [..., D] float, and an output or cotangent shaped and typed like it. */
static zk_status take_rows_like(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out,
                                int output, const DLTensor *x, const zk_rows *ax) {
  ZK_CHECK(zk_take(call, name, t, out, output));
  ZK_CHECK(zk_expect_same_dtype(call, name, out, "x", ax));
  return zk_expect_same_shape(call, name, t, "x", x);
}

static zk_status take_x(const zk_call *call, const DLTensor *x, zk_rows *ax) {
  ZK_CHECK(zk_take(call, "x", x, ax, 0));
  ZK_CHECK(zk_expect_float(call, "x", ax));
  return zk_expect_rank(call, "x", x, 1);
}

/* A [D] float parameter (optional when opt); its own dtype. */
static zk_status take_param(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out, int output,
                            int opt, const zk_rows *ax) {
  if (opt && !t) return zk_take_opt(call, name, t, out, output);
  ZK_CHECK(zk_take(call, name, t, out, output));
  ZK_CHECK(zk_expect_float(call, name, out));
  return zk_expect_vector(call, name, t, ax->cols, "x's last dimension");
}

/* A parameter gradient: shaped like its parameter, in the parameter's dtype. */
static zk_status take_param_grad(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out,
                                 const char *param_name, const zk_rows *param, const zk_rows *ax) {
  if (!t) return zk_take_opt(call, name, t, out, 1);
  ZK_CHECK(zk_take(call, name, t, out, 1));
  ZK_CHECK(zk_expect_vector(call, name, t, ax->cols, "x's last dimension"));
  if (param && zk_present(param)) return zk_expect_same_dtype(call, name, out, param_name, param);
  return zk_expect_float(call, name, out);
}

static zk_status dispatch_rows(const zk_call *call, zk_args *a, const zk_rows *x) {
  if (zk_no_rows(x)) return ZK_OK;
  return zk_dispatch(call, a);
}

/* Gradients with a [D] sum over rows write it even when there are no rows. */
static zk_status dispatch_grad(const zk_call *call, zk_args *a, const zk_rows *x, int has_param_grad) {
  if (x->cols == 0 || (x->rows == 0 && !has_param_grad)) return ZK_OK;
  return zk_dispatch(call, a);
}

zk_status zk_rmsnorm(zk_ctx *ctx, const DLTensor *x, const DLTensor *weight, DLTensor *y, float eps) {
  ZK_BEGIN(rmsnorm);
  zk_args a = {.op = ZK_OP_rmsnorm, .f = {eps}};
  ZK_CHECK(take_x(call, x, &a.t[0]));
  ZK_CHECK(take_param(call, "weight", weight, &a.t[1], 0, 0, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "y", y, &a.t[2], 1, x, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  return dispatch_rows(call, &a, &a.t[0]);
}

zk_status zk_rmsnorm_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *weight, const DLTensor *dy,
                          DLTensor *dx, DLTensor *dweight, float eps) {
  ZK_BEGIN(rmsnorm_grad);
  zk_args a = {.op = ZK_OP_rmsnorm_grad, .f = {eps}};
  ZK_CHECK(take_x(call, x, &a.t[0]));
  ZK_CHECK(take_param(call, "weight", weight, &a.t[1], 0, 0, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "dy", dy, &a.t[2], 0, x, &a.t[0]));
  if (dx) ZK_CHECK(take_rows_like(call, "dx", dx, &a.t[3], 1, x, &a.t[0]));
  ZK_CHECK(take_param_grad(call, "dweight", dweight, &a.t[4], "weight", &a.t[1], &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  if (!dx && !dweight) return ZK_OK;
  return dispatch_grad(call, &a, &a.t[0], dweight != NULL);
}

zk_status zk_rms_norm_no_weight(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float eps) {
  ZK_BEGIN(rms_norm_no_weight);
  zk_args a = {.op = ZK_OP_rms_norm_no_weight, .f = {eps}};
  ZK_CHECK(take_x(call, x, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "y", y, &a.t[1], 1, x, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  return dispatch_rows(call, &a, &a.t[0]);
}

zk_status zk_rms_norm_no_weight_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx,
                                     float eps) {
  ZK_BEGIN(rms_norm_no_weight_grad);
  zk_args a = {.op = ZK_OP_rms_norm_no_weight_grad, .f = {eps}};
  ZK_CHECK(take_x(call, x, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "dy", dy, &a.t[1], 0, x, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "dx", dx, &a.t[2], 1, x, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  return dispatch_rows(call, &a, &a.t[0]);
}

zk_status zk_layernorm(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma, const DLTensor *beta,
                       DLTensor *y, float eps) {
  ZK_BEGIN(layernorm);
  zk_args a = {.op = ZK_OP_layernorm, .f = {eps}};
  ZK_CHECK(take_x(call, x, &a.t[0]));
  ZK_CHECK(take_param(call, "gamma", gamma, &a.t[1], 0, 0, &a.t[0]));
  ZK_CHECK(take_param(call, "beta", beta, &a.t[2], 0, 1, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "y", y, &a.t[3], 1, x, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  return dispatch_rows(call, &a, &a.t[0]);
}

zk_status zk_layernorm_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma, const DLTensor *dy,
                            DLTensor *dx, DLTensor *dgamma, DLTensor *dbeta, float eps) {
  ZK_BEGIN(layernorm_grad);
  zk_args a = {.op = ZK_OP_layernorm_grad, .f = {eps}};
  ZK_CHECK(take_x(call, x, &a.t[0]));
  ZK_CHECK(take_param(call, "gamma", gamma, &a.t[1], 0, 0, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "dy", dy, &a.t[2], 0, x, &a.t[0]));
  if (dx) ZK_CHECK(take_rows_like(call, "dx", dx, &a.t[3], 1, x, &a.t[0]));
  ZK_CHECK(take_param_grad(call, "dgamma", dgamma, &a.t[4], "gamma", &a.t[1], &a.t[0]));
  ZK_CHECK(take_param_grad(call, "dbeta", dbeta, &a.t[5], NULL, NULL, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  if (!dx && !dgamma && !dbeta) return ZK_OK;
  return dispatch_grad(call, &a, &a.t[0], dgamma || dbeta);
}

zk_status zk_layer_norm_no_weight(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float eps) {
  ZK_BEGIN(layer_norm_no_weight);
  zk_args a = {.op = ZK_OP_layer_norm_no_weight, .f = {eps}};
  ZK_CHECK(take_x(call, x, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "y", y, &a.t[1], 1, x, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  return dispatch_rows(call, &a, &a.t[0]);
}

zk_status zk_layer_norm_no_weight_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx,
                                       float eps) {
  ZK_BEGIN(layer_norm_no_weight_grad);
  zk_args a = {.op = ZK_OP_layer_norm_no_weight_grad, .f = {eps}};
  ZK_CHECK(take_x(call, x, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "dy", dy, &a.t[1], 0, x, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "dx", dx, &a.t[2], 1, x, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  return dispatch_rows(call, &a, &a.t[0]);
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
  ZK_CHECK(take_x(call, x, &a.t[0]));
  ZK_CHECK(take_param(call, "gamma", gamma, &a.t[1], 0, 0, &a.t[0]));
  ZK_CHECK(take_param(call, "beta", beta, &a.t[2], 0, 1, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "y", y, &a.t[3], 1, x, &a.t[0]));
  ZK_CHECK(take_ln_dropout_params(call, params, &a));
  return dispatch_rows(call, &a, &a.t[0]);
}

zk_status zk_layer_norm_dropout_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma, const DLTensor *dy,
                                     DLTensor *dx, DLTensor *dgamma, DLTensor *dbeta,
                                     const zk_layer_norm_dropout_params *params) {
  ZK_BEGIN(layer_norm_dropout_grad);
  zk_args a = {.op = ZK_OP_layer_norm_dropout_grad};
  ZK_CHECK(take_x(call, x, &a.t[0]));
  ZK_CHECK(take_param(call, "gamma", gamma, &a.t[1], 0, 0, &a.t[0]));
  ZK_CHECK(take_rows_like(call, "dy", dy, &a.t[2], 0, x, &a.t[0]));
  if (dx) ZK_CHECK(take_rows_like(call, "dx", dx, &a.t[3], 1, x, &a.t[0]));
  ZK_CHECK(take_param_grad(call, "dgamma", dgamma, &a.t[4], "gamma", &a.t[1], &a.t[0]));
  ZK_CHECK(take_param_grad(call, "dbeta", dbeta, &a.t[5], NULL, NULL, &a.t[0]));
  ZK_CHECK(take_ln_dropout_params(call, params, &a));
  if (!dx && !dgamma && !dbeta) return ZK_OK;
  return dispatch_grad(call, &a, &a.t[0], dgamma || dbeta);
}
