/* float64 reference of the quant family (spec §12); see quant.h. */
#include <math.h>
#include "quant.h"

int64_t zk_ref_quant_slot(int64_t n, int64_t r, int64_t j, int64_t D, int64_t g) {
  if (n == 1) return 0;
  if (g == 0) return r;
  return r * (D / g) + j / g;
}

void zk_ref_dequantize_int8(const double *q, const double *scale, int64_t ns, double *y, int64_t R, int64_t D,
                            int64_t g, int silu) {
  for (int64_t r = 0; r < R; r++)
    for (int64_t j = 0; j < D; j++) {
      double v = (float)(q[r * D + j] * scale[zk_ref_quant_slot(ns, r, j, D, g)]);
      y[r * D + j] = silu ? v / (1.0 + exp(-v)) : v;
    }
}

void zk_ref_dequantize_int4(const double *bytes, const double *scale, int64_t ns, const double *zp, int64_t nz,
                            double *y, int64_t R, int64_t Dp, int64_t g, int is_signed) {
  int64_t D = 2 * Dp;
  for (int64_t r = 0; r < R; r++)
    for (int64_t j = 0; j < D; j++) {
      int byte = (int)bytes[r * Dp + j / 2];
      int nib = j % 2 ? byte >> 4 : byte & 15;
      double q = is_signed && nib >= 8 ? nib - 16 : nib;
      double z = zp ? zp[zk_ref_quant_slot(nz, r, j, D, g)] : 0.0;
      double d = (float)(q - z);
      y[r * D + j] = (float)(d * scale[zk_ref_quant_slot(ns, r, j, D, g)]);
    }
}
