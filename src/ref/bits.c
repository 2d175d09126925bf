/* float64 reference of the bit ops (spec §13): the formulas literally,
 * one element at a time, with no shared code with the CPU kernels. */
#include <math.h>
#include "bits.h"

void zk_ref_pack_bits(const double *x, int64_t n, double *y) {
  int64_t bytes = (n + 7) / 8;
  for (int64_t i = 0; i < bytes; i++) y[i] = 0;
  for (int64_t e = 0; e < n; e++)
    if (x[e] != 0) y[e / 8] += ldexp(1.0, (int)(e % 8));
}

void zk_ref_unpack_bits(const double *x, int64_t count, double *y) {
  for (int64_t e = 0; e < count; e++) y[e] = fmod(floor(x[e / 8] / ldexp(1.0, (int)(e % 8))), 2.0);
}
