/* float64 reference of the fused elementwise family (spec §9).  Plain
 * loops, built with -ffp-contract=off.  The activations and their
 * derivatives are those of the activations reference (one definition of
 * silu and gelu_tanh in the oracle). */
#include <math.h>
#include <stddef.h>
#include "activations.h"
#include "fused.h"

/* The stored values are exact in f32, so these are the kernels' one f32
 * operation; the harness rounds the result into the output dtype. */
void zk_ref_add(const double *a, const double *b, double *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = (float)a[i] + (float)b[i];
}

void zk_ref_mul(const double *a, const double *b, double *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = (float)a[i] * (float)b[i];
}

void zk_ref_add_bias(const double *x, const double *bias, double *y, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) y[r * C + c] = (float)x[r * C + c] + (float)bias[c];
}

static double act_value(zk_ref_act act, double v) {
  double y;
  if (act == ZK_REF_BIAS_SILU) zk_ref_silu(&v, &y, 1, NULL);
  else zk_ref_gelu_tanh(&v, &y, 1, NULL);
  return y;
}

/* dy·act'(v). */
static double act_vjp(zk_ref_act act, double v, double dy) {
  double dx;
  if (act == ZK_REF_BIAS_SILU) zk_ref_silu_grad(&v, &dy, &dx, 1, NULL);
  else zk_ref_gelu_tanh_grad(&v, &dy, &dx, 1, NULL);
  return dx;
}

/* v = x + bias: the exact sum (smooth, for central differences), except
 * where the kernels' f32 sum overflows: the spec evaluates v in f32, so
 * there v is that ±Inf (and silu(-Inf) = NaN follows). */
static double biased(double x, double bias) {
  float v = (float)x + (float)bias;
  return isinf(v) ? (double)v : x + bias;
}

void zk_ref_bias_act(zk_ref_act act, const double *x, const double *bias, double *y, int64_t R, int64_t C) {
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) y[r * C + c] = act_value(act, biased(x[r * C + c], bias[c]));
}

void zk_ref_bias_act_grad(zk_ref_act act, const double *x, const double *bias, const double *dy, double *dx,
                          double *dbias, double *dbias_abs, int64_t R, int64_t C) {
  for (int64_t c = 0; c < C; c++) {
    if (dbias) dbias[c] = 0;
    if (dbias_abs) dbias_abs[c] = 0;
  }
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) {
      double g = act_vjp(act, biased(x[r * C + c], bias[c]), dy[r * C + c]);
      if (dx) dx[r * C + c] = g;
      if (dbias) dbias[c] += g;
      if (dbias_abs) dbias_abs[c] += fabs(g);
    }
}

void zk_ref_silu_mul(const double *a, const double *b, double *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = act_value(ZK_REF_BIAS_SILU, a[i]) * b[i];
}

void zk_ref_silu_mul_grad(const double *a, const double *b, const double *dy, double *da, double *db, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    if (da) da[i] = act_vjp(ZK_REF_BIAS_SILU, a[i], dy[i] * b[i]);
    if (db) db[i] = dy[i] * act_value(ZK_REF_BIAS_SILU, a[i]);
  }
}
