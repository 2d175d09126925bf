/* VLSP kernels (spec §5): a recurrent state update, a depth gate, GRPO
 * advantages and a gated residual.  Activations h, gate, x, rewards, up,
 * residual and their gradients [..., D] f32/f16/bf16 (one dtype per call);
 * w_norm [D] in any float dtype, dw_norm written in its own dtype.
 * Everything is computed in f32 and rounded once. */
#ifndef ZKERN_VLSP_H
#define ZKERN_VLSP_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* out = h + alpha·silu(h·r·w_norm)·gate, r = (Σh²/D + eps)^-1/2 over each
 * row.  alpha (no default) and eps (default 1e-6) finite, eps >= 0.
 * alias h ok. */
zk_status zk_fused_recurrent_step(zk_ctx *ctx, const DLTensor *h, const DLTensor *w_norm, const DLTensor *gate,
                                  DLTensor *out, float alpha, float eps);
/* With ĥ = h·r, n = ĥ·w and dn = dout·alpha·gate·silu'(n): dgate =
 * dout·alpha·silu(n), dw_norm = Σ_rows dn·ĥ, dh = dout + r·(dn·w -
 * ĥ·Σ_k dn_k w_k ĥ_k / D).  Each output optional (NULL: not computed). */
zk_status zk_fused_recurrent_step_grad(zk_ctx *ctx, const DLTensor *h, const DLTensor *w_norm,
                                       const DLTensor *gate, const DLTensor *dout, DLTensor *dh,
                                       DLTensor *dw_norm, DLTensor *dgate, float alpha, float eps);

typedef enum zk_depth_gate_mode {
  ZK_DEPTH_GATE_CONTINUOUS = 0,  /* y = k_max·σ(x) (the default) */
  ZK_DEPTH_GATE_STE = 1          /* y = clamp(roundf(k_max·σ(x)), 1, k_max): an integer value */
} zk_depth_gate_mode;

/* y = k_max·σ(x), or its rounded, clamped integer (ste).  k_max >= 1
 * (default 8).  alias x ok. */
zk_status zk_depth_gate_sigmoid(zk_ctx *ctx, const DLTensor *x, DLTensor *y, int32_t k_max, zk_depth_gate_mode mode);
/* dx = dy·k_max·σ(x)(1-σ(x)) for both modes (straight-through for ste).
 * alias dy ok. */
zk_status zk_depth_gate_sigmoid_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx, int32_t k_max);

typedef enum zk_grpo_eps_mode {
  ZK_GRPO_EPS_INSIDE_SQRT = 0,  /* A = (r-μ)/√(var+eps) (the default) */
  ZK_GRPO_EPS_ADD_TO_STD = 1    /* A = (r-μ)/(√var + eps) (TRL: with ddof 1, eps 1e-4) */
} zk_grpo_eps_mode;

/* Each row of rewards [..., G] is one group: μ its mean, var = Σ(r-μ)²/(G -
 * ddof) (0 when G - ddof <= 0).  A constant group gives exactly 0.  eps >= 0
 * and finite (default 1e-6), ddof 0 or 1 (default 0).  alias rewards ok. */
zk_status zk_grpo_advantage_norm(zk_ctx *ctx, const DLTensor *rewards, DLTensor *adv, float eps, int ddof,
                                 zk_grpo_eps_mode eps_mode);

/* y = silu(gate)·up + residual (same shapes).  alias any input ok. */
zk_status zk_silu_mul_residual(zk_ctx *ctx, const DLTensor *gate, const DLTensor *up, const DLTensor *residual,
                               DLTensor *y);
/* dgate = dy·up·silu'(gate), dup = dy·silu(gate), dresidual = dy (a copy);
 * each optional; one of them may alias dy. */
zk_status zk_silu_mul_residual_grad(zk_ctx *ctx, const DLTensor *gate, const DLTensor *up, const DLTensor *dy,
                                    DLTensor *dgate, DLTensor *dup, DLTensor *dresidual);

#ifdef __cplusplus
}
#endif
#endif
