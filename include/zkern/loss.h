/* Losses (spec §11).  logits [..., C] f32/f16/bf16; targets [...] int32 or
 * int64 (logits' leading shape). */
#ifndef ZKERN_LOSS_H
#define ZKERN_LOSS_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* How per-row losses are combined. */
typedef enum zk_reduction {
  ZK_REDUCTION_NONE = 0,  /* loss [...]: one value per row */
  ZK_REDUCTION_MEAN = 1,  /* loss [] or [1]: Σ loss / (rows not ignored); NaN when none is */
  ZK_REDUCTION_SUM = 2    /* loss [] or [1]: Σ loss */
} zk_reduction;

/* loss_r = lse_r - (1-ε)·z_{r,t} - (ε/C)·Σ_j z_{r,j}, lse = log Σ_j e^z (PyTorch's
 * label smoothing ε = label_smoothing in [0, 1]); rows whose target is
 * ignore_index give 0 and do not count.  Other targets outside [0, C) are
 * ZK_ERR_INDEX.  loss any float dtype (f32 recommended). */
zk_status zk_softmax_cross_entropy(zk_ctx *ctx, const DLTensor *logits, const DLTensor *targets, DLTensor *loss,
                                   zk_reduction reduction, int64_t ignore_index, float label_smoothing);
/* dlogits_{r,j} = c_r·(softmax_j - (1-ε)·[j = t_r] - ε/C), c_r = dloss_r (none),
 * dloss (sum) or dloss/N_valid (mean); ignored rows 0.  dloss has loss's
 * shape, any float dtype; dlogits [..., C] has logits' dtype.  alias logits ok. */
zk_status zk_softmax_cross_entropy_grad(zk_ctx *ctx, const DLTensor *logits, const DLTensor *targets,
                                        const DLTensor *dloss, DLTensor *dlogits, zk_reduction reduction,
                                        int64_t ignore_index, float label_smoothing);

#ifdef __cplusplus
}
#endif
#endif
