/* float64 reference of the transformer family (spec §4).  Plain loops, built
 * with -ffp-contract=off: this is the oracle every backend is tested
 * against, so it follows the spec's formulas literally. */
#include <math.h>
#include <stdlib.h>
#include "norms.h"
#include "transformer.h"

/* ------------------------------------------------------------ dropout RNG */

void zk_ref_philox4x32_10(uint32_t ctr[4], uint32_t k0, uint32_t k1) {
  const uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  for (int round = 0; round < 10; round++) {
    uint64_t a = M0 * ctr[0], b = M1 * ctr[2];
    uint32_t out[4] = {(uint32_t)(b >> 32) ^ ctr[1] ^ k0, (uint32_t)b, (uint32_t)(a >> 32) ^ ctr[3] ^ k1, (uint32_t)a};
    for (int k = 0; k < 4; k++) ctr[k] = out[k];
    if (round < 9) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
  }
}

uint32_t zk_ref_dropout_draw(uint64_t seed, uint64_t offset, uint64_t i) {
  uint64_t n = offset + i;  /* mod 2^64 */
  uint64_t q = n >> 2;
  uint32_t ctr[4] = {(uint32_t)q, (uint32_t)(q >> 32), 0, 0};
  zk_ref_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
  return ctr[n & 3] >> 8;
}

int zk_ref_dropout_keep(float p, uint64_t seed, uint64_t offset, uint64_t i) {
  double u = (double)zk_ref_dropout_draw(seed, offset, i) / 16777216.0;  /* exact */
  return !(u < (double)p);
}

float zk_ref_dropout_scale(float p) { return 1.0f / (1.0f - p); }

/* -------------------------------------------------------------- rounding */

/* v to `bits` significant bits, ties to even (nearbyint in the default
 * mode), with the quantum fixed at 2^(emin - bits + 1) below 2^emin
 * (subnormals) and ±Inf for results above max. */
static double round_significand(double v, int bits, int emin, double max) {
  if (!isfinite(v) || v == 0) return v;
  int e;
  frexp(v, &e); /* |v| in [2^(e-1), 2^e) */
  int q = (e - 1 > emin ? e - 1 : emin) - (bits - 1);
  double r = ldexp(nearbyint(ldexp(v, -q)), q);
  return fabs(r) > max ? copysign(INFINITY, v) : r;
}

double zk_ref_round(double v, zk_dtype t) {
  switch (t) {
    case ZK_F32: return round_significand(v, 24, -126, 0x1.fffffep127);
    case ZK_F16: return round_significand(v, 11, -14, 65504.0);
    case ZK_BF16: return round_significand(v, 8, -126, 0x1.fep127);
    default: return v;
  }
}

void zk_ref_add_round(const double *x, const double *res, double *h, int64_t n, zk_dtype t) {
  int exact = t != ZK_F32 && t != ZK_F16 && t != ZK_BF16;
  for (int64_t i = 0; i < n; i++) {
    if (exact) {
      h[i] = x[i] + res[i];
    } else {
      float s = (float)x[i] + (float)res[i]; /* the stored values are exact in f32 */
      h[i] = zk_ref_round(s, t);
    }
  }
}

/* ------------------------------------------------------------ gated MLPs */

static const double GELU_C0 = 0.7978845608028654; /* sqrt(2/pi) */
static const double GELU_C1 = 0.044715;

static double sigmoid(double a) { return 1.0 / (1.0 + exp(-a)); }

static double gate_value(zk_ref_gate gate, double a) {
  if (gate == ZK_REF_SILU) return a * sigmoid(a);
  return 0.5 * a * (1.0 + tanh(GELU_C0 * (a + GELU_C1 * a * a * a)));
}

static double gate_deriv(zk_ref_gate gate, double a) {
  if (gate == ZK_REF_SILU) {
    double s = sigmoid(a);
    return s * (1.0 + a * (1.0 - s));
  }
  double t = tanh(GELU_C0 * (a + GELU_C1 * a * a * a));
  return 0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * GELU_C0 * (1.0 + 3.0 * GELU_C1 * a * a);
}

void zk_ref_glu(zk_ref_gate gate, const double *x, const double *bias, double *y, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++)
    for (int64_t j = 0; j < D; j++) {
      double a = x[r * 2 * D + j], b = x[r * 2 * D + D + j];
      if (bias) a += bias[j], b += bias[D + j];
      y[r * D + j] = gate_value(gate, a) * b;
    }
}

void zk_ref_glu_grad(zk_ref_gate gate, const double *x, const double *bias, const double *dy, double *dx,
                     double *dbias, double *dbias_abs, int64_t R, int64_t D) {
  for (int64_t k = 0; k < 2 * D; k++) {
    if (dbias) dbias[k] = 0;
    if (dbias_abs) dbias_abs[k] = 0;
  }
  for (int64_t r = 0; r < R; r++)
    for (int64_t j = 0; j < D; j++) {
      double a = x[r * 2 * D + j], b = x[r * 2 * D + D + j], g = dy[r * D + j];
      if (bias) a += bias[j], b += bias[D + j];
      double da = g * b * gate_deriv(gate, a), db = g * gate_value(gate, a);
      if (dx) dx[r * 2 * D + j] = da, dx[r * 2 * D + D + j] = db;
      if (dbias) dbias[j] += da, dbias[D + j] += db;
      if (dbias_abs) dbias_abs[j] += fabs(da), dbias_abs[D + j] += fabs(db);
    }
}

/* ------------------------------------------------ residual + norm fusions */

static void add_into(double *dx, const double *dh, int64_t n) {
  for (int64_t i = 0; dx && dh && i < n; i++) dx[i] += dh[i];
}

void zk_ref_rmsnorm_residual(const double *x, const double *res, const double *w, double *normed, double *h,
                             int64_t R, int64_t D, double eps, zk_dtype t) {
  zk_ref_add_round(x, res, h, R * D, t);
  zk_ref_rmsnorm(h, w, normed, R, D, eps);
}

void zk_ref_rmsnorm_residual_grad(const double *h, const double *w, const double *dnormed, const double *dh,
                                  double *dx, double *dw, double *dw_abs, int64_t R, int64_t D, double eps) {
  zk_ref_rmsnorm_grad(h, w, dnormed, dx, dw, dw_abs, R, D, eps);
  add_into(dx, dh, R * D);
}

void zk_ref_layernorm_residual(const double *x, const double *res, const double *gamma, const double *beta,
                               double *normed, double *h, int64_t R, int64_t D, double eps, zk_dtype t) {
  zk_ref_add_round(x, res, h, R * D, t);
  zk_ref_norm(ZK_REF_LAYER, h, gamma, beta, normed, R, D, eps, NULL);
}

void zk_ref_layernorm_residual_grad(const double *h, const double *gamma, const double *dnormed, const double *dh,
                                    double *dx, double *dgamma, double *dgamma_abs, double *dbeta,
                                    double *dbeta_abs, int64_t R, int64_t D, double eps) {
  zk_ref_norm_grad(ZK_REF_LAYER, h, gamma, dnormed, dx, dgamma, dgamma_abs, dbeta, dbeta_abs, R, D, eps, NULL);
  add_into(dx, dh, R * D);
}

/* h = round_T(x1 + x2) in fresh memory (free() it). */
static double *sum_rows(const double *x1, const double *x2, int64_t n, zk_dtype t) {
  double *h = malloc((size_t)(n ? n : 1) * sizeof *h);
  if (h) zk_ref_add_round(x1, x2, h, n, t);
  return h;
}

void zk_ref_fused_add_rmsnorm(const double *x1, const double *x2, const double *w, double *normed, int64_t R,
                              int64_t D, double eps, zk_dtype t) {
  double *h = sum_rows(x1, x2, R * D, t);
  if (h) zk_ref_rmsnorm(h, w, normed, R, D, eps);
  free(h);
}

void zk_ref_fused_add_rmsnorm_grad(const double *x1, const double *x2, const double *w, const double *dnormed,
                                   double *dx, double *dw, double *dw_abs, int64_t R, int64_t D, double eps,
                                   zk_dtype t) {
  double *h = sum_rows(x1, x2, R * D, t);
  if (h) zk_ref_rmsnorm_grad(h, w, dnormed, dx, dw, dw_abs, R, D, eps);
  free(h);
}

void zk_ref_fused_add_layernorm(const double *x1, const double *x2, const double *gamma, const double *beta,
                                double *normed, int64_t R, int64_t D, double eps, zk_dtype t) {
  double *h = sum_rows(x1, x2, R * D, t);
  if (h) zk_ref_norm(ZK_REF_LAYER, h, gamma, beta, normed, R, D, eps, NULL);
  free(h);
}

void zk_ref_fused_add_layernorm_grad(const double *x1, const double *x2, const double *gamma,
                                     const double *dnormed, double *dx, double *dgamma, double *dgamma_abs,
                                     double *dbeta, double *dbeta_abs, int64_t R, int64_t D, double eps,
                                     zk_dtype t) {
  double *h = sum_rows(x1, x2, R * D, t);
  if (h) zk_ref_norm_grad(ZK_REF_LAYER, h, gamma, dnormed, dx, dgamma, dgamma_abs, dbeta, dbeta_abs, R, D, eps, NULL);
  free(h);
}

/* ---------------------------------------------------------------- dropout */

void zk_ref_plain_dropout(const double *x, double *y, int64_t n, const zk_ref_dropout *d) {
  for (int64_t i = 0; i < n; i++) {
    /* Kept elements exist only for p < 1, so s is formed only then. */
    if (zk_ref_dropout_keep(d->p, d->seed, d->offset, (uint64_t)i)) {
      float v = (float)x[i] * zk_ref_dropout_scale(d->p);
      y[i] = v;
    } else {
      y[i] = 0.0;
    }
  }
}
