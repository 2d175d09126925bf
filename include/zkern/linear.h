/* Linear layers with a fused epilogue (spec §10).
 * x [..., K] and w [N, K] (PyTorch nn.Linear layout) share one float dtype;
 * both may be row-strided.  y [..., N] (x's leading dims) in any float
 * dtype the caller chooses.  bias and gamma are [N] in any float dtype.
 * z = x·wᵀ is computed by the platform BLAS (OpenBLAS sgemm on the CPU,
 * cuBLASLt on CUDA, f32 accumulation, no TF32) and kept in f32; the
 * epilogue is f32 and y is rounded once.  K = 0 gives z = 0.  On the CPU
 * the bits may depend on the context's thread count (OpenBLAS splits the
 * GEMM by it); they never change from run to run. */
#ifndef ZKERN_LINEAR_H
#define ZKERN_LINEAR_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* y = silu(x·wᵀ + bias); bias NULL = no bias. */
zk_status zk_fused_linear_bias_silu(zk_ctx *ctx, const DLTensor *x, const DLTensor *w, const DLTensor *bias,
                                    DLTensor *y);
/* y = gelu_tanh(x·wᵀ + bias); bias NULL = no bias. */
zk_status zk_fused_linear_bias_gelu(zk_ctx *ctx, const DLTensor *x, const DLTensor *w, const DLTensor *bias,
                                    DLTensor *y);
/* y_n = z_n·r·gamma_n, z = x·wᵀ, r = (Σ_n z_n²/N + eps)^-1/2 from the f32 z.
 * Default eps 1e-6; eps must be finite and >= 0. */
zk_status zk_fused_linear_rmsnorm(zk_ctx *ctx, const DLTensor *x, const DLTensor *w, const DLTensor *gamma,
                                  DLTensor *y, float eps);

#ifdef __cplusplus
}
#endif
#endif
