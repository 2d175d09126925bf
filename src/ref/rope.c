/* float64 reference of the rope family (spec §7), literally. */
#include <math.h>
#include <string.h>
#include "rope.h"

void zk_ref_rope(zk_ref_rope_pairs pairs, int dir, const double *x, double *y, double *yabs, int64_t rows,
                 int64_t D, const int64_t *pos, const double *cos, const double *sin, int64_t h) {
  for (int64_t r = 0; r < rows; r++) {
    const double *xr = x + r * D, *cr = cos + pos[r] * h, *sr = sin + pos[r] * h;
    double *yr = y + r * D, *ar = yabs ? yabs + r * D : NULL;
    for (int64_t i = 0; i < h; i++) {
      int64_t ja = pairs == ZK_REF_ROPE_HALF ? i : 2 * i, jb = pairs == ZK_REF_ROPE_HALF ? i + h : 2 * i + 1;
      double a = xr[ja], b = xr[jb], c = cr[i], s = dir * sr[i];
      /* Forward: a' = a·c - b·s, b' = a·s + b·c.  VJP: the same with -s. */
      yr[ja] = a * c - b * s;
      yr[jb] = a * s + b * c;
      if (ar) ar[ja] = fabs(a * c) + fabs(b * s), ar[jb] = fabs(a * s) + fabs(b * c);
    }
    for (int64_t j = 2 * h; j < D; j++) {
      yr[j] = xr[j];
      if (ar) ar[j] = 0;
    }
  }
}
