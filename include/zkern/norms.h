/* Normalisations over the last dimension (spec §3).
 * x, y, dy, dx [..., D] f32/f16/bf16 (one dtype); weight/gamma/beta [D] in any
 * float dtype, their gradients written in their own dtype.  Optional tensors
 * may be NULL: an absent beta is no bias; an absent gradient output is not
 * computed.  Gradients recompute the row statistics from x. */
#ifndef ZKERN_NORMS_H
#define ZKERN_NORMS_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* y = x·r·w, r = (mean x² + eps)^-1/2.  Default eps 1e-6.  alias x ok. */
zk_status zk_rmsnorm(zk_ctx *ctx, const DLTensor *x, const DLTensor *weight, DLTensor *y, float eps);
/* dx (alias dy ok) and dweight = Σ_rows dy·x̂, each optional. */
zk_status zk_rmsnorm_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *weight, const DLTensor *dy,
                          DLTensor *dx, DLTensor *dweight, float eps);

zk_status zk_rms_norm_no_weight(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float eps);
zk_status zk_rms_norm_no_weight_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy, DLTensor *dx,
                                     float eps);

/* y = (x-μ)·rstd·γ + β (population variance).  Default eps 1e-5.  alias x ok. */
zk_status zk_layernorm(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma, const DLTensor *beta,
                       DLTensor *y, float eps);
zk_status zk_layernorm_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma, const DLTensor *dy,
                            DLTensor *dx, DLTensor *dgamma, DLTensor *dbeta, float eps);

zk_status zk_layer_norm_no_weight(zk_ctx *ctx, const DLTensor *x, DLTensor *y, float eps);
zk_status zk_layer_norm_no_weight_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *dy,
                                       DLTensor *dx, float eps);

/* LayerNorm followed by dropout with the counter-based Philox RNG (spec §4.0). */
typedef struct zk_layer_norm_dropout_params {
  float p;          /* drop probability in [0, 1]; required (the default NaN is rejected) */
  uint64_t seed;    /* default 0 */
  uint64_t offset;  /* default 0: element i uses counter offset + i */
  float eps;        /* default 1e-5 */
} zk_layer_norm_dropout_params;
#define ZK_LAYER_NORM_DROPOUT_PARAMS_DEFAULT {__builtin_nanf(""), 0u, 0u, 1e-5f}

zk_status zk_layer_norm_dropout(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma,
                                const DLTensor *beta, DLTensor *y,
                                const zk_layer_norm_dropout_params *params);
zk_status zk_layer_norm_dropout_grad(zk_ctx *ctx, const DLTensor *x, const DLTensor *gamma,
                                     const DLTensor *dy, DLTensor *dx, DLTensor *dgamma,
                                     DLTensor *dbeta, const zk_layer_norm_dropout_params *params);

#ifdef __cplusplus
}
#endif
#endif
