/* float64 reference of the scan family (spec §18): float64 running totals
 * (exact enough at any D for the f32 kernels' tolerance). */
#include <math.h>
#include "scan.h"

void zk_ref_cumsum(const double *x, double *y, double *yabs, int64_t R, int64_t D, int exclusive, int reverse) {
  for (int64_t r = 0; r < R; r++) {
    double s = 0, a = 0;
    for (int64_t step = 0; step < D; step++) {
      int64_t j = r * D + (reverse ? D - 1 - step : step);
      if (!exclusive) s += x[j], a += fabs(x[j]);
      y[j] = s;
      yabs[j] = a;
      if (exclusive) s += x[j], a += fabs(x[j]);
    }
  }
}

void zk_ref_cumsum_grad(const double *dy, double *dx, double *dxabs, int64_t R, int64_t D, int exclusive,
                        int reverse) {
  /* y_j sums x over i <= j (i < j, i >= j, i > j), so x_i reaches every y_j
   * with j >= i (j > i, j <= i, j < i): dx is dy summed the other way. */
  zk_ref_cumsum(dy, dx, dxabs, R, D, exclusive, !reverse);
}
