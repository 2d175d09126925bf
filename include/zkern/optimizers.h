/* Optimizer steps (spec §17). */
#ifndef ZKERN_OPTIMIZERS_H
#define ZKERN_OPTIMIZERS_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

/* Hyperparameters of one AdamW step, in double as torch passes them: the
 * host derives the per-step constants in double and rounds each to f32. */
typedef struct zk_adamw_step_params {
  double lr;            /* >= 0, default 1e-3 */
  double beta1, beta2;  /* each in [0, 1), default 0.9 and 0.999 */
  double eps;           /* >= 0, added after the square root; default 1e-8 */
  double weight_decay;  /* >= 0, decoupled; default 1e-2 */
  int64_t step;         /* t >= 1, this step's number (bias correction); required */
} zk_adamw_step_params;
#define ZK_ADAMW_STEP_PARAMS_DEFAULT {1e-3, 0.9, 0.999, 1e-8, 1e-2, 0}

/* torch.optim.AdamW (bias correction on, no amsgrad / maximize), in place:
 *   m' = lerp(m, g, 1-b1);  v' = b2 v + (1-b2) g^2
 *   p' = p (1 - lr wd) - lr/(1-b1^t) * m' / (sqrt(v') / sqrt(1-b2^t) + eps)
 * p inout and g: any float dtype, the same one; m, v inout f32; all of one
 * shape.  The step number is required: the default 0 is rejected. */
zk_status zk_adamw_step(zk_ctx *ctx, DLTensor *p, const DLTensor *g, DLTensor *m, DLTensor *v,
                        const zk_adamw_step_params *params);

#ifdef __cplusplus
}
#endif
#endif
