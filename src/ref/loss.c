/* float64 reference of the loss family (spec §11), built with
 * -ffp-contract=off.  reduction: 0 none, 1 mean, 2 sum (zk_reduction). */
#include <math.h>
#include "loss.h"

/* lse = m + log Σ e^(z - m), or -Inf for an all -Inf row; NaN when the row
 * holds a NaN or +Inf.  Also returns m. */
static double log_sum_exp(const double *z, int64_t C, double *m_out) {
  double m = -INFINITY;
  for (int64_t j = 0; j < C; j++) {
    if (isnan(z[j]) || z[j] == INFINITY) return *m_out = NAN;
    if (z[j] > m) m = z[j];
  }
  *m_out = m;
  if (m == -INFINITY) return -INFINITY;
  double s = 0;
  for (int64_t j = 0; j < C; j++) s += exp(z[j] - m);
  return m + log(s);
}

/* loss = lse - (1-ε)·z_t - (ε/C)·Σz; a term whose weight is 0 is left out
 * (so ε = 0 ignores -Inf logits elsewhere, as PyTorch). */
static double row_loss(const double *z, int64_t t, int64_t C, double eps) {
  double m, loss = log_sum_exp(z, C, &m);
  if (isnan(loss)) return NAN;
  if (eps < 1) loss -= (1 - eps) * z[t];
  if (eps > 0) {
    double sum = 0;
    for (int64_t j = 0; j < C; j++) sum += z[j];
    loss -= eps / (double)C * sum;
  }
  return loss;
}

static int ignored(double t, int64_t ignore_index) { return (int64_t)t == ignore_index; }

static int64_t valid_rows(const double *t, int64_t R, int64_t ignore_index) {
  int64_t n = 0;
  for (int64_t r = 0; r < R; r++) n += !ignored(t[r], ignore_index);
  return n;
}

void zk_ref_softmax_cross_entropy(const double *z, const double *t, double *loss, int64_t R, int64_t C,
                                  int reduction, int64_t ignore_index, float eps) {
  double total = 0;
  for (int64_t r = 0; r < R; r++) {
    double l = ignored(t[r], ignore_index) ? 0.0 : row_loss(z + r * C, (int64_t)t[r], C, eps);
    if (reduction == 0) loss[r] = l;
    total += l;
  }
  if (reduction == 2) loss[0] = total;
  if (reduction == 1) loss[0] = total / (double)valid_rows(t, R, ignore_index); /* none valid: 0/0 = NaN */
}

void zk_ref_softmax_cross_entropy_grad(const double *z, const double *t, const double *dloss, double *dz, int64_t R,
                                       int64_t C, int reduction, int64_t ignore_index, float eps) {
  double n_valid = (double)valid_rows(t, R, ignore_index);
  for (int64_t r = 0; r < R; r++) {
    const double *zr = z + r * C;
    double *dr = dz + r * C;
    double c = reduction == 0 ? dloss[r] : reduction == 2 ? dloss[0] : dloss[0] / n_valid;
    if (ignored(t[r], ignore_index)) {
      for (int64_t j = 0; j < C; j++) dr[j] = 0.0;
      continue;
    }
    double m, lse = log_sum_exp(zr, C, &m);
    for (int64_t j = 0; j < C; j++) {
      double p = exp(zr[j] - lse); /* NaN for a NaN row; an all -Inf row: e^(-Inf + Inf) = NaN */
      dr[j] = c * (p - (j == (int64_t)t[r] ? 1.0 - (double)eps : 0.0) - (double)eps / (double)C);
    }
  }
}
