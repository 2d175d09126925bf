/* Transformer essentials (spec §4): gated MLP activations, residual + norm
 * fusions, dropout.  Activations [..., D] f32/f16/bf16 (one dtype per call);
 * weight/gamma/beta/bias params in any float dtype. */
#ifndef ZKERN_TRANSFORMER_H
#define ZKERN_TRANSFORMER_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* x [..., 2D] = [gate | up] -> y [..., D]: silu(gate)·up. */
zk_status zk_swiglu(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
zk_status zk_swiglu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx);
/* gelu_tanh(gate)·up. */
zk_status zk_geglu(zk_ctx *ctx, const DLTensor *x, DLTensor *y);
zk_status zk_geglu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx);
/* bias [2D] added to both halves first. */
zk_status zk_bias_swiglu(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, DLTensor *y);
zk_status zk_bias_swiglu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, const DLTensor *dy,
                              DLTensor *dx, DLTensor *dbias);
zk_status zk_bias_geglu(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, DLTensor *y);
zk_status zk_bias_geglu_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *bias, const DLTensor *dy,
                             DLTensor *dx, DLTensor *dbias);

/* h = round(x + residual); normed = rmsnorm(h, weight).  alias x→normed, residual→h ok. */
zk_status zk_rmsnorm_residual(zk_ctx *ctx, const DLTensor *x, const DLTensor *residual,
                              const DLTensor *weight, DLTensor *normed, DLTensor *h, float eps);
/* dx = rmsnorm VJP on h + dh (dh may be NULL); d residual = dx. */
zk_status zk_rmsnorm_residual_grad(zk_ctx *ctx, const DLTensor *h, const DLTensor *weight,
                                   const DLTensor *dnormed, const DLTensor *dh, DLTensor *dx,
                                   DLTensor *dweight, float eps);
zk_status zk_layernorm_residual(zk_ctx *ctx, const DLTensor *x, const DLTensor *residual,
                                const DLTensor *gamma, const DLTensor *beta, DLTensor *normed,
                                DLTensor *h, float eps);
zk_status zk_layernorm_residual_grad(zk_ctx *ctx, const DLTensor *h, const DLTensor *gamma,
                                     const DLTensor *dnormed, const DLTensor *dh, DLTensor *dx,
                                     DLTensor *dgamma, DLTensor *dbeta, float eps);

/* normed = rmsnorm(round(x1 + x2), weight), h not stored.  alias x1 or x2 ok. */
zk_status zk_fused_add_rmsnorm(zk_ctx *ctx, const DLTensor *x1, const DLTensor *x2,
                               const DLTensor *weight, DLTensor *normed, float eps);
/* dx1 = dx2 = dx. */
zk_status zk_fused_add_rmsnorm_grad(zk_ctx *ctx, const DLTensor *x1, const DLTensor *x2,
                                    const DLTensor *weight, const DLTensor *dnormed, DLTensor *dx,
                                    DLTensor *dweight, float eps);
zk_status zk_fused_add_layernorm(zk_ctx *ctx, const DLTensor *x1, const DLTensor *x2,
                                 const DLTensor *gamma, const DLTensor *beta, DLTensor *normed,
                                 float eps);
zk_status zk_fused_add_layernorm_grad(zk_ctx *ctx, const DLTensor *x1, const DLTensor *x2,
                                      const DLTensor *gamma, const DLTensor *dnormed, DLTensor *dx,
                                      DLTensor *dgamma, DLTensor *dbeta, float eps);

/* RMSNorm followed by dropout (spec §4.0 RNG). */
typedef struct zk_rms_norm_dropout_params {
  float p;          /* drop probability in [0, 1]; required (the default NaN is rejected) */
  uint64_t seed;    /* default 0 */
  uint64_t offset;  /* default 0 */
  float eps;        /* default 1e-6 */
} zk_rms_norm_dropout_params;
#define ZK_RMS_NORM_DROPOUT_PARAMS_DEFAULT {__builtin_nanf(""), 0u, 0u, 1e-6f}

zk_status zk_rms_norm_dropout(zk_ctx *ctx, const DLTensor *x, const DLTensor *weight, DLTensor *y,
                              const zk_rms_norm_dropout_params *params);
zk_status zk_rms_norm_dropout_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *weight,
                                   const DLTensor *dy, DLTensor *dx, DLTensor *dweight,
                                   const zk_rms_norm_dropout_params *params);

/* Element i (row-major) is dropped iff Philox(seed, offset + i) < p; kept
 * elements are scaled by 1/(1-p).  Bitwise the same on every backend. */
zk_status zk_dropout(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float p, uint64_t seed,
                     uint64_t offset);
/* Equals zk_dropout(dy) with the same parameters. */
zk_status zk_dropout_grad(zk_ctx *ctx, const DLTensor *dy, DLTensor *dx, float p, uint64_t seed,
                          uint64_t offset);

#ifdef __cplusplus
}
#endif
#endif
