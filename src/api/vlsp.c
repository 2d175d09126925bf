/* Public entry points of the vlsp family (spec §5): boundary checks, then
 * dispatch.  Backend slots, in signature order:
 *   fused_recurrent_step       t[0] = h, t[1] = w_norm, t[2] = gate, t[3] = out; f[0] = alpha, f[1] = eps
 *   fused_recurrent_step_grad  t[0] = h, t[1] = w_norm, t[2] = gate, t[3] = dout,
 *                              t[4] = dh?, t[5] = dw_norm?, t[6] = dgate?; f[0] = alpha, f[1] = eps
 *   depth_gate_sigmoid         t[0] = x, t[1] = y; i[0] = k_max, i[1] = mode
 *   depth_gate_sigmoid_grad    t[0] = x, t[1] = dy, t[2] = dx; i[0] = k_max
 *   grpo_advantage_norm        t[0] = rewards, t[1] = adv; f[0] = eps, i[0] = ddof, i[1] = eps_mode
 *   silu_mul_residual          t[0] = gate, t[1] = up, t[2] = residual, t[3] = y
 *   silu_mul_residual_grad     t[0] = gate, t[1] = up, t[2] = dy, t[3] = dgate?, t[4] = dup?, t[5] = dresidual?
 * Absent optional tensors have data NULL. */
#include <math.h>
#include <zkern/vlsp.h>
#include "../core/tensor.h"

#define H_LAST "h's last dimension"

static zk_status expect_alpha(const zk_call *call, float alpha) {
  if (isfinite(alpha)) return ZK_OK;
  return zk_fail(call, ZK_ERR_ARG, "alpha is %g, must be finite", (double)alpha);
}

zk_status zk_fused_recurrent_step(zk_ctx *ctx, const DLTensor *h, const DLTensor *w_norm, const DLTensor *gate,
                                  DLTensor *out, float alpha, float eps) {
  ZK_BEGIN(fused_recurrent_step);
  zk_args a = {.op = ZK_OP_fused_recurrent_step, .f = {alpha, eps}};
  ZK_CHECK(zk_take_input(call, "h", h, &a.t[0], 1));
  ZK_CHECK(zk_take_param(call, "w_norm", w_norm, &a.t[1], 0, a.t[0].cols, H_LAST));
  ZK_CHECK(zk_take_like(call, "gate", gate, &a.t[2], 0, "h", h, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "out", out, &a.t[3], 1, "h", h, &a.t[0]));
  ZK_CHECK(expect_alpha(call, alpha));
  ZK_CHECK(zk_expect_eps(call, eps));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_fused_recurrent_step_grad(zk_ctx *ctx, const DLTensor *h, const DLTensor *w_norm,
                                       const DLTensor *gate, const DLTensor *dout, DLTensor *dh,
                                       DLTensor *dw_norm, DLTensor *dgate, float alpha, float eps) {
  ZK_BEGIN(fused_recurrent_step_grad);
  zk_args a = {.op = ZK_OP_fused_recurrent_step_grad, .f = {alpha, eps}};
  ZK_CHECK(zk_take_input(call, "h", h, &a.t[0], 1));
  ZK_CHECK(zk_take_param(call, "w_norm", w_norm, &a.t[1], 0, a.t[0].cols, H_LAST));
  ZK_CHECK(zk_take_like(call, "gate", gate, &a.t[2], 0, "h", h, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "dout", dout, &a.t[3], 0, "h", h, &a.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "dh", dh, &a.t[4], 1, "h", h, &a.t[0]));
  ZK_CHECK(zk_take_param_grad(call, "dw_norm", dw_norm, &a.t[5], a.t[0].cols, H_LAST, "w_norm", &a.t[1]));
  ZK_CHECK(zk_take_like_opt(call, "dgate", dgate, &a.t[6], 1, "h", h, &a.t[0]));
  ZK_CHECK(expect_alpha(call, alpha));
  ZK_CHECK(zk_expect_eps(call, eps));
  if (!dh && !dw_norm && !dgate) return ZK_OK;
  return zk_dispatch_rows(call, &a, &a.t[0], dw_norm != NULL);
}

static zk_status expect_k_max(const zk_call *call, int32_t k_max) {
  if (k_max >= 1) return ZK_OK;
  return zk_fail(call, ZK_ERR_ARG, "k_max is %d, must be >= 1", (int)k_max);
}

zk_status zk_depth_gate_sigmoid(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int32_t k_max, zk_depth_gate_mode mode) {
  ZK_BEGIN(depth_gate_sigmoid);
  zk_args a = {.op = ZK_OP_depth_gate_sigmoid, .i = {k_max, (int64_t)mode}};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 0));
  ZK_CHECK(zk_take_like(call, "y", y, &a.t[1], 1, "x", x, &a.t[0]));
  ZK_CHECK(expect_k_max(call, k_max));
  if (mode != ZK_DEPTH_GATE_CONTINUOUS && mode != ZK_DEPTH_GATE_STE)
    return zk_fail(call, ZK_ERR_ARG, "mode is %d, must be ZK_DEPTH_GATE_CONTINUOUS or ZK_DEPTH_GATE_STE", (int)mode);
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_depth_gate_sigmoid_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx, int32_t k_max) {
  ZK_BEGIN(depth_gate_sigmoid_grad);
  zk_args a = {.op = ZK_OP_depth_gate_sigmoid_grad, .i = {k_max}};
  ZK_CHECK(zk_take_input(call, "x", x, &a.t[0], 0));
  ZK_CHECK(zk_take_like(call, "dy", dy, &a.t[1], 0, "x", x, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "dx", dx, &a.t[2], 1, "x", x, &a.t[0]));
  ZK_CHECK(expect_k_max(call, k_max));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_grpo_advantage_norm(zk_ctx *ctx, const DLTensor *rewards, DLTensor *adv, float eps, int ddof,
                                 zk_grpo_eps_mode eps_mode) {
  ZK_BEGIN(grpo_advantage_norm);
  zk_args a = {.op = ZK_OP_grpo_advantage_norm, .f = {eps}, .i = {ddof, (int64_t)eps_mode}};
  ZK_CHECK(zk_take_input(call, "rewards", rewards, &a.t[0], 1));
  ZK_CHECK(zk_take_like(call, "adv", adv, &a.t[1], 1, "rewards", rewards, &a.t[0]));
  ZK_CHECK(zk_expect_eps(call, eps));
  if (ddof != 0 && ddof != 1) return zk_fail(call, ZK_ERR_ARG, "ddof is %d, must be 0 or 1", ddof);
  if (eps_mode != ZK_GRPO_EPS_INSIDE_SQRT && eps_mode != ZK_GRPO_EPS_ADD_TO_STD)
    return zk_fail(call, ZK_ERR_ARG, "eps_mode is %d, must be ZK_GRPO_EPS_INSIDE_SQRT or ZK_GRPO_EPS_ADD_TO_STD",
                   (int)eps_mode);
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_silu_mul_residual(zk_ctx *ctx, const DLTensor *gate, const DLTensor *up, const DLTensor *residual,
                               DLTensor *y) {
  ZK_BEGIN(silu_mul_residual);
  zk_args a = {.op = ZK_OP_silu_mul_residual};
  ZK_CHECK(zk_take_input(call, "gate", gate, &a.t[0], 0));
  ZK_CHECK(zk_take_like(call, "up", up, &a.t[1], 0, "gate", gate, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "residual", residual, &a.t[2], 0, "gate", gate, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "y", y, &a.t[3], 1, "gate", gate, &a.t[0]));
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}

zk_status zk_silu_mul_residual_grad(zk_ctx *ctx, const DLTensor *gate, const DLTensor *up, const DLTensor *dy,
                                    DLTensor *dgate, DLTensor *dup, DLTensor *dresidual) {
  ZK_BEGIN(silu_mul_residual_grad);
  zk_args a = {.op = ZK_OP_silu_mul_residual_grad};
  ZK_CHECK(zk_take_input(call, "gate", gate, &a.t[0], 0));
  ZK_CHECK(zk_take_like(call, "up", up, &a.t[1], 0, "gate", gate, &a.t[0]));
  ZK_CHECK(zk_take_like(call, "dy", dy, &a.t[2], 0, "gate", gate, &a.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "dgate", dgate, &a.t[3], 1, "gate", gate, &a.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "dup", dup, &a.t[4], 1, "gate", gate, &a.t[0]));
  ZK_CHECK(zk_take_like_opt(call, "dresidual", dresidual, &a.t[5], 1, "gate", gate, &a.t[0]));
  if (!dgate && !dup && !dresidual) return ZK_OK;
  return zk_dispatch_rows(call, &a, &a.t[0], 0);
}
