/* float64 reference of the softmax family (spec §2).  Plain loops, built
 * with -ffp-contract=off; the edge rules are the spec's, stated per row. */
#include <math.h>
#include "softmax.h"

typedef enum row_kind { ROW_FINITE, ROW_ALL_NEG_INF, ROW_NAN } row_kind;

/* Classifies a row and returns its max in *m (meaningful for ROW_FINITE):
 * any NaN or +Inf makes the row NaN; all -Inf is the fully masked row. */
static row_kind classify(const double *x, int64_t D, double *m) {
  *m = -INFINITY;
  for (int64_t j = 0; j < D; j++) {
    if (isnan(x[j]) || x[j] == INFINITY) return ROW_NAN;
    if (x[j] > *m) *m = x[j];
  }
  return *m == -INFINITY ? ROW_ALL_NEG_INF : ROW_FINITE;
}

static void fill(double *y, int64_t D, double v) {
  for (int64_t j = 0; j < D; j++) y[j] = v;
}

/* Both forwards: softmax, or log_softmax when log is set. */
static void forward(const double *x, double *y, int64_t R, int64_t D, int log_form) {
  for (int64_t r = 0; r < R; r++) {
    const double *xr = x + r * D;
    double *yr = y + r * D, m;
    row_kind kind = classify(xr, D, &m);
    if (kind == ROW_NAN) {
      fill(yr, D, NAN);
      continue;
    }
    if (kind == ROW_ALL_NEG_INF) {
      fill(yr, D, log_form ? -INFINITY : 0.0);
      continue;
    }
    double s = 0;
    for (int64_t j = 0; j < D; j++) s += exp(xr[j] - m);
    double ls = log(s);
    for (int64_t j = 0; j < D; j++) yr[j] = log_form ? (xr[j] - m) - ls : exp(xr[j] - m) / s;
  }
}

void zk_ref_softmax(const double *x, double *y, int64_t R, int64_t D) { forward(x, y, R, D, 0); }

void zk_ref_log_softmax(const double *x, double *y, int64_t R, int64_t D) { forward(x, y, R, D, 1); }

void zk_ref_softmax_grad(const double *y, const double *dy, double *dx, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) {
    const double *yr = y + r * D, *dyr = dy + r * D;
    double dot = 0;
    for (int64_t j = 0; j < D; j++) dot += dyr[j] * yr[j];
    for (int64_t j = 0; j < D; j++) dx[r * D + j] = yr[j] * (dyr[j] - dot);
  }
}

void zk_ref_log_softmax_grad(const double *y, const double *dy, double *dx, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) {
    const double *yr = y + r * D, *dyr = dy + r * D;
    int masked = 1;
    double s = 0;
    for (int64_t j = 0; j < D; j++) {
      masked &= yr[j] == -INFINITY;
      s += dyr[j];
    }
    /* A fully masked row's forward was constant: no gradient flows. */
    for (int64_t j = 0; j < D; j++) dx[r * D + j] = masked ? 0.0 : dyr[j] - exp(yr[j]) * s;
  }
}
