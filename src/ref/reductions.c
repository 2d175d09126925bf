/* float64 reference of the reductions family (spec §8).  Plain loops, built
 * with -ffp-contract=off. */
#include <math.h>
#include <stdlib.h>
#include "reductions.h"

void zk_ref_sum(const double *x, double *y, double *yabs, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) {
    double s = 0, a = 0;
    for (int64_t j = 0; j < D; j++) s += x[r * D + j], a += fabs(x[r * D + j]);
    y[r] = s;
    yabs[r] = a;
  }
}

void zk_ref_mean(const double *x, double *y, double *yabs, int64_t R, int64_t D) {
  zk_ref_sum(x, y, yabs, R, D);
  for (int64_t r = 0; r < R; r++) y[r] /= (double)D, yabs[r] /= (double)D; /* D = 0: 0/0 = NaN */
}

void zk_ref_max(const double *x, double *y, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) {
    double m = -INFINITY;
    for (int64_t j = 0; j < D; j++) {
      double v = x[r * D + j];
      if (isnan(v)) {
        m = NAN;
        break;
      }
      if (v > m) m = v;
    }
    y[r] = m;
  }
}

void zk_ref_var(const double *x, double *y, int64_t R, int64_t D, int ddof) {
  for (int64_t r = 0; r < R; r++) {
    const double *xr = x + r * D;
    if (D - ddof <= 0) {
      y[r] = NAN;
      continue;
    }
    double mu = 0, ss = 0;
    for (int64_t j = 0; j < D; j++) mu += xr[j];
    mu /= (double)D;
    for (int64_t j = 0; j < D; j++) ss += (xr[j] - mu) * (xr[j] - mu);
    y[r] = ss / (double)(D - ddof);
  }
}

void zk_ref_std(const double *x, double *y, int64_t R, int64_t D, int ddof, float eps) {
  zk_ref_var(x, y, R, D, ddof);
  for (int64_t r = 0; r < R; r++) y[r] = sqrt(y[r] + (double)eps);
}

/* Rank of a value in the total order: NaN 3, +Inf 2, finite 1, -Inf 0. */
static int order_class(double v) { return isnan(v) ? 3 : v == INFINITY ? 2 : v == -INFINITY ? 0 : 1; }

int zk_ref_ranks_above(const double *x, int64_t a, int64_t b) {
  int ca = order_class(x[a]), cb = order_class(x[b]);
  if (ca != cb) return ca > cb;
  if (ca == 1 && x[a] != x[b]) return x[a] > x[b]; /* +0 == -0: a tie */
  return a < b;
}

void zk_ref_argmax(const double *x, double *idx, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) {
    const double *xr = x + r * D;
    int64_t best = 0;
    for (int64_t j = 1; j < D; j++)
      if (zk_ref_ranks_above(xr, j, best)) best = j;
    idx[r] = (double)best;
  }
}

/* qsort has no context argument: the row being sorted. */
static const double *sort_row;

static int by_rank(const void *pa, const void *pb) {
  int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
  return a == b ? 0 : zk_ref_ranks_above(sort_row, a, b) ? -1 : 1;
}

void zk_ref_topk(const double *x, double *values, double *indices, int64_t R, int64_t D, int64_t k) {
  int64_t *order = malloc((size_t)(D ? D : 1) * sizeof *order);
  for (int64_t r = 0; r < R; r++) {
    sort_row = x + r * D;
    for (int64_t j = 0; j < D; j++) order[j] = j;
    qsort(order, (size_t)D, sizeof *order, by_rank);
    for (int64_t i = 0; i < k; i++) {
      values[r * k + i] = sort_row[order[i]];
      indices[r * k + i] = (double)order[i];
    }
  }
  free(order);
}
