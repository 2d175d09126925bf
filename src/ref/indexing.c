/* float64 reference of the indexing family (spec §16); see indexing.h. */
#include <math.h>
#include "indexing.h"

void zk_ref_gather_add(const double *src, const double *idx, const double *other, double *y, int64_t M, int64_t D) {
  for (int64_t i = 0; i < M; i++) {
    int64_t n = (int64_t)idx[i];
    for (int64_t j = 0; j < D; j++) y[i * D + j] = (float)(src[n * D + j] + other[i * D + j]);
  }
}

void zk_ref_scatter_add(const double *idx, const double *updates, double *y, double *abs, int64_t M, int64_t N,
                        int64_t D, int accumulate) {
  for (int64_t n = 0; n < N * D; n++) {
    if (!accumulate) y[n] = 0.0;
    if (abs) abs[n] = fabs(y[n]);
  }
  /* Ascending i: each row's terms arrive in the order the contract fixes. */
  for (int64_t i = 0; i < M; i++) {
    int64_t n = (int64_t)idx[i];
    for (int64_t j = 0; j < D; j++) {
      y[n * D + j] = (float)(y[n * D + j] + updates[i * D + j]);
      if (abs) abs[n * D + j] += fabs(updates[i * D + j]);
    }
  }
}
