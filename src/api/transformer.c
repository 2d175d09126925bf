/* Public entry points of the transformer family (spec §4): boundary checks,
 * then dispatch.  Backend slots (zk_args.t) follow each public signature
 * with ctx left out:
 *
 *   swiglu, geglu                      x, y
 *   swiglu_grad, geglu_grad            x, dy, dx
 *   bias_swiglu, bias_geglu            x, bias, y
 *   bias_swiglu_grad, bias_geglu_grad  x, bias, dy, dx?, dbias?
 *   rmsnorm_residual                   x, residual, weight, normed, h
 *   rmsnorm_residual_grad              h, weight, dnormed, dh?, dx?, dweight?
 *   layernorm_residual                 x, residual, gamma, beta?, normed, h
 *   layernorm_residual_grad            h, gamma, dnormed, dh?, dx?, dgamma?, dbeta?
 *   fused_add_rmsnorm                  x1, x2, weight, normed
 *   fused_add_rmsnorm_grad             x1, x2, weight, dnormed, dx?, dweight?
 *   fused_add_layernorm                x1, x2, gamma, beta?, normed
 *   fused_add_layernorm_grad           x1, x2, gamma, dnormed, dx?, dgamma?, dbeta?
 *   rms_norm_dropout                   x, weight, y
 *   rms_norm_dropout_grad              x, weight, dy, dx?, dweight?
 *   dropout                            x, y
 *   dropout_grad                       dy, dx
 *
 * f[0] = eps; drop = the dropout settings.  An absent optional tensor is a
 * slot whose data is NULL. */
#include <inttypes.h>
#include <zkern/transformer.h>
#include "../core/tensor.h"

/* ------------------------------------------------------------- helpers */

static zk_status take_eps(const zk_call *call, float eps, zk_args *a) {
  a->f[0] = eps;
  return zk_expect_eps(call, eps);
}

/* ------------------------------------------------------------ gated MLPs */

/* x [..., 2D] = gate | up: an even last dimension. */
static zk_status take_gated(const zk_call *call, const DLTensor *x, zk_rows *ax) {
  ZK_CHECK(zk_take_input(call, "x", x, ax, 1));
  if (ax->cols % 2)
    return zk_fail(call, ZK_ERR_SHAPE, "x's last dimension is %" PRId64 ", must be even (gate | up)", ax->cols);
  return ZK_OK;
}

/* y or dy [..., D]: x's shape with half its last dimension, x's dtype. */
static zk_status take_half(const zk_call *call, const char *name, const DLTensor *t, zk_rows *out, int output,
                           const DLTensor *x, const zk_rows *ax) {
  ZK_CHECK(zk_take(call, name, t, out, output));
  ZK_CHECK(zk_expect_same_dtype(call, name, out, "x", ax));
  return zk_expect_last_dim(call, name, t, "x", x, 1, 2);
}

/* swiglu / geglu (slots x, y) and their bias variants (x, bias, y). */
static zk_status glu(const zk_call *call, zk_op_id op, int with_bias, const DLTensor *x, const DLTensor *bias,
                     DLTensor *y) {
  zk_args a = {.op = op};
  zk_rows *ax = &a.t[0], *ay = &a.t[with_bias ? 2 : 1];
  ZK_CHECK(take_gated(call, x, ax));
  if (with_bias) ZK_CHECK(zk_take_param(call, "bias", bias, &a.t[1], 0, ax->cols, "x's last dimension"));
  ZK_CHECK(take_half(call, "y", y, ay, 1, x, ax));
  return zk_dispatch_rows(call, &a, ax, 0);
}

/* swiglu_grad / geglu_grad: slots x, dy, dx. */
static zk_status glu_grad(const zk_call *call, zk_op_id op, const DLTensor *x, const DLTensor *dy,
                          DLTensor *dx) {
  zk_args a = {.op = op};
  ZK_CHECK(take_gated(call, x, &a.t[0]));
  ZK_CHECK(take_half(call, "dy", dy, &a.t[1], 0, x, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "dx", dx, &a.t[2], 1, "x", x, &a.t[0]));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

/* bias_swiglu_grad / bias_geglu_grad: slots x, bias, dy, dx?, dbias?. */
static zk_status bias_glu_grad(const zk_call *call, zk_op_id op, const DLTensor *x,
                               const DLTensor *bias, const DLTensor *dy, DLTensor *dx, DLTensor *dbias) {
  zk_args a = {.op = op};
  ZK_CHECK(take_gated(call, x, &a.t[0]));
  ZK_CHECK(zk_take_param(call, "bias", bias, &a.t[1], 0, a.t[0].cols, "x's last dimension"));
  ZK_CHECK(take_half(call, "dy", dy, &a.t[2], 0, x, &a.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "dx", dx, &a.t[3], 1, "x", x, &a.t[0]));
  ZK_CHECK(zk_take_param_grad(call, "dbias", dbias, &a.t[4], a.t[0].cols, "x's last dimension", "bias", &a.t[1]));
  if (!dx && !dbias) return ZK_OK;
  return zk_dispatch_rows(call, &a, &a.t[0], dbias != NULL);
}

zk_status zk_swiglu(zk_ctx *ctx, const DLTensor *x, DLTensor *y) {
  ZK_BEGIN(swiglu);
  return glu(call, ZK_OP_swiglu, 0, x, NULL, y);
}

zk_status zk_swiglu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx) {
  ZK_BEGIN(swiglu_grad);
  return glu_grad(call, ZK_OP_swiglu_grad, x, dy, dx);
}

zk_status zk_geglu(zk_ctx *ctx, const DLTensor *x, DLTensor *y) {
  ZK_BEGIN(geglu);
  return glu(call, ZK_OP_geglu, 0, x, NULL, y);
}

zk_status zk_geglu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx) {
  ZK_BEGIN(geglu_grad);
  return glu_grad(call, ZK_OP_geglu_grad, x, dy, dx);
}

zk_status zk_bias_swiglu(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, DLTensor *y) {
  ZK_BEGIN(bias_swiglu);
  return glu(call, ZK_OP_bias_swiglu, 1, x, bias, y);
}

zk_status zk_bias_swiglu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, const DLTensor *dy,
                              DLTensor *dx, DLTensor *dbias) {
  ZK_BEGIN(bias_swiglu_grad);
  return bias_glu_grad(call, ZK_OP_bias_swiglu_grad, x, bias, dy, dx, dbias);
}

zk_status zk_bias_geglu(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, DLTensor *y) {
  ZK_BEGIN(bias_geglu);
  return glu(call, ZK_OP_bias_geglu, 1, x, bias, y);
}

zk_status zk_bias_geglu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, const DLTensor *dy,
                             DLTensor *dx, DLTensor *dbias) {
  ZK_BEGIN(bias_geglu_grad);
  return bias_glu_grad(call, ZK_OP_bias_geglu_grad, x, bias, dy, dx, dbias);
}

/* ------------------------------------------------ residual + norm fusions */

/* The two addends x, residual (or x1, x2): same dtype, same shape. */
static zk_status take_addends(const zk_call *call, const char *n1, const DLTensor *x1, const char *n2,
                              const DLTensor *x2, zk_rows *a1, zk_rows *a2) {
  ZK_CHECK(zk_take_input(call, n1, x1, a1, 1));
  return zk_take_like(call, n2, x2, a2, 0, n1, x1, a1);
}

/* The norm's [D] parameters: weight (RMS), or gamma and beta? (LayerNorm). */
static zk_status take_norm_params(const zk_call *call, int layer, const DLTensor *w, const DLTensor *beta,
                                  zk_rows *aw, zk_rows *abeta, int64_t D) {
  ZK_CHECK(zk_take_param(call, layer ? "gamma" : "weight", w, aw, 0, D, "x's last dimension"));
  if (layer) ZK_CHECK(zk_take_param(call, "beta", beta, abeta, 1, D, "x's last dimension"));
  return ZK_OK;
}

/* Forward of rmsnorm_residual / layernorm_residual: slots x, residual,
 * weight|gamma, [beta?,] normed, h. */
static zk_status norm_residual(const zk_call *call, zk_op_id op, int layer, const DLTensor *x,
                               const DLTensor *residual, const DLTensor *w, const DLTensor *beta, DLTensor *normed,
                               DLTensor *h, float eps) {
  zk_args a = {.op = op};
  int o = layer ? 4 : 3; /* first output slot */
  ZK_CHECK(take_addends(call, "x", x, "residual", residual, &a.t[0], &a.t[1]));
  ZK_CHECK(take_norm_params(call, layer, w, beta, &a.t[2], &a.t[3], a.t[0].cols));
  ZK_CHECK(zk_take_like(call, "normed", normed, &a.t[o], 1, "x", x, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "h", h, &a.t[o + 1], 1, "x", x, &a.t[0]));
  ZK_CHECK(take_eps(call, eps, &a));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

/* Its VJP: slots h, weight|gamma, dnormed, dh?, dx?, dweight|dgamma?, [dbeta?]. */
static zk_status norm_residual_grad(const zk_call *call, zk_op_id op, int layer, const DLTensor *h,
                                    const DLTensor *w, const DLTensor *dnormed, const DLTensor *dh, DLTensor *dx,
                                    DLTensor *dw, DLTensor *dbeta, float eps) {
  zk_args a = {.op = op};
  ZK_CHECK(zk_take_input(call, "h", h, &a.t[0], 1));
  int64_t D = a.t[0].cols;
  ZK_CHECK(zk_take_param(call, layer ? "gamma" : "weight", w, &a.t[1], 0, D, "h's last dimension"));
  ZK_CHECK(zk_take_like(call, "dnormed", dnormed, &a.t[2], 0, "h", h, &a.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "dh", dh, &a.t[3], 0, "h", h, &a.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "dx", dx, &a.t[4], 1, "h", h, &a.t[0]));
  ZK_CHECK(zk_take_param_grad(call, layer ? "dgamma" : "dweight", dw, &a.t[5], D, "h's last dimension",
                           layer ? "gamma" : "weight", &a.t[1]));
  if (layer) ZK_CHECK(zk_take_param_grad(call, "dbeta", dbeta, &a.t[6], D, "h's last dimension", NULL, NULL));
  ZK_CHECK(take_eps(call, eps, &a));
  if (!dx && !dw && !dbeta) return ZK_OK;
  return zk_dispatch_rows(call, &a, &a.t[0], dw || dbeta);
}

/* Forward of fused_add_rmsnorm / fused_add_layernorm: slots x1, x2,
 * weight|gamma, [beta?,] normed. */
static zk_status fused_add_norm(const zk_call *call, zk_op_id op, int layer, const DLTensor *x1, const DLTensor *x2,
                                const DLTensor *w, const DLTensor *beta, DLTensor *normed, float eps) {
  zk_args a = {.op = op};
  ZK_CHECK(take_addends(call, "x1", x1, "x2", x2, &a.t[0], &a.t[1]));
  ZK_CHECK(take_norm_params(call, layer, w, beta, &a.t[2], &a.t[3], a.t[0].cols));
  ZK_CHECK(zk_take_like(call, "normed", normed, &a.t[layer ? 4 : 3], 1, "x1", x1, &a.t[0]));
  ZK_CHECK(take_eps(call, eps, &a));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

/* Its VJP: slots x1, x2, weight|gamma, dnormed, dx?, dweight|dgamma?, [dbeta?]. */
static zk_status fused_add_norm_grad(const zk_call *call, zk_op_id op, int layer, const DLTensor *x1,
                                     const DLTensor *x2, const DLTensor *w, const DLTensor *dnormed, DLTensor *dx,
                                     DLTensor *dw, DLTensor *dbeta, float eps) {
  zk_args a = {.op = op};
  ZK_CHECK(take_addends(call, "x1", x1, "x2", x2, &a.t[0], &a.t[1]));
  int64_t D = a.t[0].cols;
  ZK_CHECK(zk_take_param(call, layer ? "gamma" : "weight", w, &a.t[2], 0, D, "x1's last dimension"));
  ZK_CHECK(zk_take_like(call, "dnormed", dnormed, &a.t[3], 0, "x1", x1, &a.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "dx", dx, &a.t[4], 1, "x1", x1, &a.t[0]));
  ZK_CHECK(zk_take_param_grad(call, layer ? "dgamma" : "dweight", dw, &a.t[5], D, "x1's last dimension",
                           layer ? "gamma" : "weight", &a.t[2]));
  if (layer) ZK_CHECK(zk_take_param_grad(call, "dbeta", dbeta, &a.t[6], D, "x1's last dimension", NULL, NULL));
  ZK_CHECK(take_eps(call, eps, &a));
  if (!dx && !dw && !dbeta) return ZK_OK;
  return zk_dispatch_rows(call, &a, &a.t[0], dw || dbeta);
}

zk_status zk_rmsnorm_residual(zk_ctx *ctx, const DLTensor *x, const DLTensor *residual, const DLTensor *weight,
                              DLTensor *normed, DLTensor *h, float eps) {
  ZK_BEGIN(rmsnorm_residual);
  return norm_residual(call, ZK_OP_rmsnorm_residual, 0, x, residual, weight, NULL, normed, h, eps);
}

zk_status zk_rmsnorm_residual_grad(zk_ctx *ctx, const DLTensor *h, const DLTensor *weight, const DLTensor *dnormed,
                                   const DLTensor *dh, DLTensor *dx, DLTensor *dweight, float eps) {
  ZK_BEGIN(rmsnorm_residual_grad);
  return norm_residual_grad(call, ZK_OP_rmsnorm_residual_grad, 0, h, weight, dnormed, dh, dx, dweight, NULL, eps);
}

zk_status zk_layernorm_residual(zk_ctx *ctx, const DLTensor *x, const DLTensor *residual, const DLTensor *gamma,
                                const DLTensor *beta, DLTensor *normed, DLTensor *h, float eps) {
  ZK_BEGIN(layernorm_residual);
  return norm_residual(call, ZK_OP_layernorm_residual, 1, x, residual, gamma, beta, normed, h, eps);
}

zk_status zk_layernorm_residual_grad(zk_ctx *ctx, const DLTensor *h, const DLTensor *gamma,
                                     const DLTensor *dnormed, const DLTensor *dh, DLTensor *dx, DLTensor *dgamma,
                                     DLTensor *dbeta, float eps) {
  ZK_BEGIN(layernorm_residual_grad);
  return norm_residual_grad(call, ZK_OP_layernorm_residual_grad, 1, h, gamma, dnormed, dh, dx, dgamma, dbeta, eps);
}

zk_status zk_fused_add_rmsnorm(zk_ctx *ctx, const DLTensor *x1, const DLTensor *x2, const DLTensor *weight,
                               DLTensor *normed, float eps) {
  ZK_BEGIN(fused_add_rmsnorm);
  return fused_add_norm(call, ZK_OP_fused_add_rmsnorm, 0, x1, x2, weight, NULL, normed, eps);
}

zk_status zk_fused_add_rmsnorm_grad(zk_ctx *ctx, const DLTensor *x1, const DLTensor *x2, const DLTensor *weight,
                                    const DLTensor *dnormed, DLTensor *dx, DLTensor *dweight, float eps) {
  ZK_BEGIN(fused_add_rmsnorm_grad);
  return fused_add_norm_grad(call, ZK_OP_fused_add_rmsnorm_grad, 0, x1, x2, weight, dnormed, dx, dweight, NULL, eps);
}

zk_status zk_fused_add_layernorm(zk_ctx *ctx, const DLTensor *x1, const DLTensor *x2, const DLTensor *gamma,
                                 const DLTensor *beta, DLTensor *normed, float eps) {
  ZK_BEGIN(fused_add_layernorm);
  return fused_add_norm(call, ZK_OP_fused_add_layernorm, 1, x1, x2, gamma, beta, normed, eps);
}

zk_status zk_fused_add_layernorm_grad(zk_ctx *ctx, const DLTensor *x1, const DLTensor *x2, const DLTensor *gamma,
                                      const DLTensor *dnormed, DLTensor *dx, DLTensor *dgamma, DLTensor *dbeta,
                                      float eps) {
  ZK_BEGIN(fused_add_layernorm_grad);
  return fused_add_norm_grad(call, ZK_OP_fused_add_layernorm_grad, 1, x1, x2, gamma, dnormed, dx, dgamma, dbeta,
                             eps);
}

/* ---------------------------------------------------------------- dropout */

static zk_status take_rms_dropout_params(const zk_call *call, const zk_rms_norm_dropout_params *p, zk_args *a) {
  if (!p) return zk_fail(call, ZK_ERR_ARG, "params is NULL");
  ZK_CHECK(zk_make_dropout(call, p->p, p->seed, p->offset, &a->drop));
  return take_eps(call, p->eps, a);
}

zk_status zk_rms_norm_dropout(zk_ctx *ctx, const DLTensor *x, const DLTensor *weight, DLTensor *y,
                              const zk_rms_norm_dropout_params *params) {
  ZK_BEGIN(rms_norm_dropout);
  zk_args a = {.op = ZK_OP_rms_norm_dropout};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  ZK_CHECK(zk_take_param(call, "weight", weight, &a.t[1], 0, a.t[0].cols, "x's last dimension"));
  ZK_CHECK(zk_take_like(call, "y", y, &a.t[2], 1, "x", x, &a.t[0]));
  ZK_CHECK(take_rms_dropout_params(call, params, &a));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_rms_norm_dropout_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *weight, const DLTensor *dy,
                                   DLTensor *dx, DLTensor *dweight, const zk_rms_norm_dropout_params *params) {
  ZK_BEGIN(rms_norm_dropout_grad);
  zk_args a = {.op = ZK_OP_rms_norm_dropout_grad};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 1));
  int64_t D = a.t[0].cols;
  ZK_CHECK(zk_take_param(call, "weight", weight, &a.t[1], 0, D, "x's last dimension"));
  ZK_CHECK(zk_take_like(call, "dy", dy, &a.t[2], 0, "x", x, &a.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "dx", dx, &a.t[3], 1, "x", x, &a.t[0]));
  ZK_CHECK(zk_take_param_grad(call, "dweight", dweight, &a.t[4], D, "x's last dimension", "weight", &a.t[1]));
  ZK_CHECK(take_rms_dropout_params(call, params, &a));
  if (!dx && !dweight) return ZK_OK;
  return zk_dispatch_rows(call, &a, &a.t[0], dweight != NULL);
}

/* Plain dropout takes a tensor of any rank (a 0-d tensor is one element). */
static zk_status dropout(const zk_call *call, zk_op_id op, const char *in_name, const DLTensor *x,
                         const char *out_name, DLTensor *y, float p, uint64_t seed, uint64_t offset) {
  zk_args a = {.op = op};
  ZK_CHECK(zk_take(call, in_name, x, &a.t[0], 0));
  ZK_CHECK(zk_expect_float(call, in_name, &a.t[0]));
  ZK_CHECK(zk_take_like(call, out_name, y, &a.t[1], 1, in_name, x, &a.t[0]));
  ZK_CHECK(zk_make_dropout(call, p, seed, offset, &a.drop));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_dropout(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float p, uint64_t seed, uint64_t offset) {
  ZK_BEGIN(dropout);
  return dropout(call, ZK_OP_dropout, "x", x, "y", y, p, seed, offset);
}

zk_status zk_dropout_grad(zk_ctx *ctx, const DLTensor *dy, DLTensor *dx, float p, uint64_t seed, uint64_t offset) {
  ZK_BEGIN(dropout_grad);
  return dropout(call, ZK_OP_dropout_grad, "dy", dy, "dx", dx, p, seed, offset);
}
