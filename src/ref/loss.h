/* float64 reference of the loss family (spec §11): the oracle.
 *
 * Shapes: z (logits), dz [R, C] compact; t (targets, as doubles) [R];
 * loss [R] for ZK_REDUCTION_NONE, else [1]; dloss likewise.  eps is the
 * f32 label smoothing the kernels get.  A row holding a NaN or +Inf logit
 * has a NaN loss and NaN gradient (unless ignored). */
#ifndef ZK_REF_LOSS_H
#define ZK_REF_LOSS_H
#include <stdint.h>

void zk_ref_softmax_cross_entropy(const double *z, const double *t, double *loss, int64_t R, int64_t C,
                                  int reduction, int64_t ignore_index, float eps);
void zk_ref_softmax_cross_entropy_grad(const double *z, const double *t, const double *dloss, double *dz, int64_t R,
                                       int64_t C, int reduction, int64_t ignore_index, float eps);

#endif
