/* float64 reference of the norms family (spec §3).  Plain loops, built
 * with -ffp-contract=off: this is the oracle every backend is tested
 * against, so it follows the spec's formulas literally. */
#include <math.h>
#include <stddef.h>
#include "norms.h"

/* 1/sqrt(mean of squares + eps) of one row. */
static double rms_scale(const double *x, int64_t D, double eps) {
  double ss = 0;
  for (int64_t j = 0; j < D; j++) ss += x[j] * x[j];
  return 1.0 / sqrt(ss / (double)D + eps);
}

void zk_ref_rmsnorm(const double *x, const double *w, double *y, int64_t R, int64_t D, double eps) {
  for (int64_t r = 0; r < R; r++) {
    const double *xr = x + r * D;
    double s = rms_scale(xr, D, eps);
    for (int64_t j = 0; j < D; j++) y[r * D + j] = xr[j] * s * (w ? w[j] : 1.0);
  }
}

void zk_ref_rmsnorm_grad(const double *x, const double *w, const double *dy, double *dx, double *dw,
                         double *dw_abs, int64_t R, int64_t D, double eps) {
  for (int64_t j = 0; j < D; j++) {
    if (dw) dw[j] = 0;
    if (dw_abs) dw_abs[j] = 0;
  }
  for (int64_t r = 0; r < R; r++) {
    const double *xr = x + r * D, *dyr = dy + r * D;
    double s = rms_scale(xr, D, eps), c = 0;
    for (int64_t j = 0; j < D; j++) c += dyr[j] * (w ? w[j] : 1.0) * xr[j] * s;
    c /= (double)D;
    for (int64_t j = 0; j < D; j++) {
      double xhat = xr[j] * s, g = dyr[j] * (w ? w[j] : 1.0);
      if (dx) dx[r * D + j] = s * (g - xhat * c);
      if (dw) dw[j] += dyr[j] * xhat;
      if (dw_abs) dw_abs[j] += fabs(dyr[j] * xhat);
    }
  }
}
