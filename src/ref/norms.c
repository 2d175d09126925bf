/* float64 reference of the norms family (spec §3).  Plain loops, built
 * with -ffp-contract=off: this is the oracle every backend is tested
 * against, so it follows the spec's formulas literally. */
#include <math.h>
#include <stddef.h>
#include "norms.h"
#include "transformer.h"

/* Row statistics: x̂_j = (x_j - mean)·rstd (mean = 0 for RMS). */
typedef struct ref_stats {
  double mean, rstd;
} ref_stats;

/* x [D]: RMS scale, or the two-pass population mean and variance. */
static ref_stats row_stats(zk_ref_norm_kind kind, const double *x, int64_t D, double eps) {
  ref_stats s = {0, 0};
  if (kind == ZK_REF_LAYER) {
    for (int64_t j = 0; j < D; j++) s.mean += x[j];
    s.mean /= (double)D;
  }
  double ss = 0;
  for (int64_t j = 0; j < D; j++) ss += (x[j] - s.mean) * (x[j] - s.mean);
  s.rstd = 1.0 / sqrt(ss / (double)D + eps);
  return s;
}

/* v after dropout at flat element i: v·s when kept, else 0 (even for a NaN
 * or Inf v: a dropped element does not depend on its value). */
static double dropped(const zk_ref_dropout *d, uint64_t i, double v) {
  if (!d) return v;
  return zk_ref_dropout_keep(d->p, d->seed, d->offset, i) ? v * (double)zk_ref_dropout_scale(d->p) : 0.0;
}

void zk_ref_norm(zk_ref_norm_kind kind, const double *x, const double *w, const double *b, double *y, int64_t R,
                 int64_t D, double eps, const zk_ref_dropout *drop) {
  for (int64_t r = 0; r < R; r++) {
    const double *xr = x + r * D;
    ref_stats s = row_stats(kind, xr, D, eps);
    for (int64_t j = 0; j < D; j++) {
      double n = (xr[j] - s.mean) * s.rstd * (w ? w[j] : 1.0) + (b ? b[j] : 0.0);
      y[r * D + j] = dropped(drop, (uint64_t)(r * D + j), n);
    }
  }
}

void zk_ref_norm_grad(zk_ref_norm_kind kind, const double *x, const double *w, const double *dy, double *dx,
                      double *dw, double *dw_abs, double *db, double *db_abs, int64_t R, int64_t D, double eps,
                      const zk_ref_dropout *drop) {
  double *sums[4] = {dw, dw_abs, db, db_abs};
  for (int k = 0; k < 4; k++)
    for (int64_t j = 0; sums[k] && j < D; j++) sums[k][j] = 0;
  for (int64_t r = 0; r < R; r++) {
    const double *xr = x + r * D, *dyr = dy + r * D;
    ref_stats s = row_stats(kind, xr, D, eps);
    double mean_g = 0, mean_gx = 0;
    for (int64_t j = 0; j < D; j++) {
      double xhat = (xr[j] - s.mean) * s.rstd;
      double dyj = dropped(drop, (uint64_t)(r * D + j), dyr[j]), g = dyj * (w ? w[j] : 1.0);
      mean_g += g;
      mean_gx += g * xhat;
      if (dw) dw[j] += dyj * xhat;
      if (dw_abs) dw_abs[j] += fabs(dyj * xhat);
      if (db) db[j] += dyj;
      if (db_abs) db_abs[j] += fabs(dyj);
    }
    mean_g = kind == ZK_REF_LAYER ? mean_g / (double)D : 0.0;
    mean_gx /= (double)D;
    for (int64_t j = 0; dx && j < D; j++) {
      double xhat = (xr[j] - s.mean) * s.rstd;
      double g = dropped(drop, (uint64_t)(r * D + j), dyr[j]) * (w ? w[j] : 1.0);
      dx[r * D + j] = s.rstd * (g - mean_g - xhat * mean_gx);
    }
  }
}

void zk_ref_rmsnorm(const double *x, const double *w, double *y, int64_t R, int64_t D, double eps) {
  zk_ref_norm(ZK_REF_RMS, x, w, NULL, y, R, D, eps, NULL);
}

void zk_ref_rmsnorm_grad(const double *x, const double *w, const double *dy, double *dx, double *dw,
                         double *dw_abs, int64_t R, int64_t D, double eps) {
  zk_ref_norm_grad(ZK_REF_RMS, x, w, dy, dx, dw, dw_abs, NULL, NULL, R, D, eps, NULL);
}
