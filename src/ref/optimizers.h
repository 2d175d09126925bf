/* float64 reference of the optimizers family (spec §17): the oracle.
 * Tensors are compact double arrays of n stored values. */
#ifndef ZK_REF_OPTIMIZERS_H
#define ZK_REF_OPTIMIZERS_H
#include <stdint.h>

typedef struct zk_ref_adamw_hyper {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;
} zk_ref_adamw_hyper;

/* One AdamW step in place on p, m, v [n] (spec §17.1): the host constants
 * rounded to f32 as the contract says, the element math in double, p' not
 * rounded (the caller rounds into the stored dtypes between steps). */
void zk_ref_adamw_step(const zk_ref_adamw_hyper *h, double *p, const double *g, double *m, double *v, int64_t n);

#endif
