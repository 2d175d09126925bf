/* float64 reference of the optimizers family (spec §17).  Plain loops,
 * built with -ffp-contract=off. */
#include <math.h>
#include "optimizers.h"

void zk_ref_adamw_step(const zk_ref_adamw_hyper *h, double *p, const double *g, double *m, double *v, int64_t n) {
  /* The host constants: double, then f32 (part of the contract). */
  double t = (double)h->step;
  double f = (float)(1.0 - h->lr * h->weight_decay);
  double alpha = (float)(h->lr / (1.0 - pow(h->beta1, t)));
  double c2 = (float)sqrt(1.0 - pow(h->beta2, t));
  double eps = (float)h->eps, b1 = (float)h->beta1, b2 = (float)h->beta2;
  double w1 = (float)(1.0 - h->beta1), w2 = (float)(1.0 - h->beta2);
  for (int64_t i = 0; i < n; i++) {
    /* m' = lerp(m, g, w1), in torch's second form when w1 >= 0.5. */
    double m1 = w1 >= 0.5 ? g[i] - (g[i] - m[i]) * b1 : m[i] + w1 * (g[i] - m[i]);
    double v1 = b2 * v[i] + w2 * g[i] * g[i];
    double d = sqrt(v1) / c2 + eps;
    p[i] = p[i] * f - alpha * (m1 / d);
    m[i] = m1;
    v[i] = v1;
  }
}
