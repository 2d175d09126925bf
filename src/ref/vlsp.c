/* float64 reference of the vlsp family (spec §5).  Plain loops, built with
 * -ffp-contract=off; silu, σ and their derivatives are those of the
 * activations reference. */
#include <math.h>
#include <stddef.h>
#include "activations.h"
#include "vlsp.h"

static double silu(double v) {
  double y;
  zk_ref_silu(&v, &y, 1, NULL);
  return y;
}

/* dy·silu'(v). */
static double silu_vjp(double v, double dy) {
  double dx;
  zk_ref_silu_grad(&v, &dy, &dx, 1, NULL);
  return dx;
}

static double sigmoid(double v) {
  double y;
  zk_ref_sigmoid(&v, &y, 1, NULL);
  return y;
}

/* r = (Σh²/D + eps)^-1/2 of one row. */
static double rms_factor(const double *h, int64_t D, double eps) {
  double ss = 0;
  for (int64_t j = 0; j < D; j++) ss += h[j] * h[j];
  return 1.0 / sqrt(ss / (double)D + eps);
}

void zk_ref_fused_recurrent_step(const double *h, const double *w, const double *gate, double *out, double *out_abs,
                                 int64_t R, int64_t D, double alpha, double eps) {
  for (int64_t r = 0; r < R; r++) {
    const double *hr = h + r * D, *gr = gate + r * D;
    double rf = rms_factor(hr, D, eps);
    for (int64_t j = 0; j < D; j++) {
      double update = alpha * silu(hr[j] * rf * w[j]) * gr[j];
      out[r * D + j] = hr[j] + update;
      if (out_abs) out_abs[r * D + j] = fabs(hr[j]) + fabs(update);
    }
  }
}

void zk_ref_fused_recurrent_step_grad(const double *h, const double *w, const double *gate, const double *dout,
                                      double *dh, double *dw, double *dw_abs, double *dgate, int64_t R, int64_t D,
                                      double alpha, double eps) {
  for (int64_t j = 0; j < D; j++) {
    if (dw) dw[j] = 0;
    if (dw_abs) dw_abs[j] = 0;
  }
  for (int64_t r = 0; r < R; r++) {
    const double *hr = h + r * D, *gr = gate + r * D, *dor = dout + r * D;
    double rf = rms_factor(hr, D, eps), c = 0;
    /* c = Σ_k dn_k w_k ĥ_k / D */
    for (int64_t k = 0; k < D; k++) {
      double hat = hr[k] * rf, dn = silu_vjp(hat * w[k], dor[k] * alpha * gr[k]);
      c += dn * w[k] * hat;
    }
    c /= (double)D;
    for (int64_t j = 0; j < D; j++) {
      double hat = hr[j] * rf, n = hat * w[j];
      double dn = silu_vjp(n, dor[j] * alpha * gr[j]);
      if (dgate) dgate[r * D + j] = dor[j] * alpha * silu(n);
      if (dh) dh[r * D + j] = dor[j] + rf * (dn * w[j] - hat * c);
      if (dw) dw[j] += dn * hat;
      if (dw_abs) dw_abs[j] += fabs(dn * hat);
    }
  }
}

void zk_ref_depth_gate_sigmoid(const double *x, double *y, int64_t n, double k_max, int ste) {
  for (int64_t i = 0; i < n; i++) {
    double v = k_max * sigmoid(x[i]);
    if (ste && !isnan(v)) {
      v = round(v);
      v = v < 1 ? 1 : v > k_max ? k_max : v;
    }
    y[i] = v;
  }
}

void zk_ref_depth_gate_sigmoid_grad(const double *x, const double *dy, double *dx, int64_t n, double k_max) {
  for (int64_t i = 0; i < n; i++) {
    double s = sigmoid(x[i]);
    dx[i] = dy[i] * k_max * s * (1.0 - s);
  }
}

void zk_ref_grpo_advantage_norm(const double *r, double *adv, int64_t R, int64_t G, double eps, int ddof,
                                int add_to_std) {
  for (int64_t i = 0; i < R; i++) {
    const double *ri = r + i * G;
    /* The shifted mean: a constant group gives r - μ = 0 exactly. */
    double shift = 0, mu, ss = 0;
    for (int64_t j = 0; j < G; j++) shift += ri[j] - ri[0];
    mu = ri[0] + shift / (double)G;
    for (int64_t j = 0; j < G; j++) ss += (ri[j] - mu) * (ri[j] - mu);
    double var = G - ddof > 0 ? ss / (double)(G - ddof) : 0.0;
    double denom = add_to_std ? sqrt(var) + eps : sqrt(var + eps);
    for (int64_t j = 0; j < G; j++) {
      double d = ri[j] - mu;
      adv[i * G + j] = d == 0 && denom == 0 ? 0.0 : d / denom;
    }
  }
}

void zk_ref_silu_mul_residual(const double *gate, const double *up, const double *residual, double *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = silu(gate[i]) * up[i] + residual[i];
}

void zk_ref_silu_mul_residual_grad(const double *gate, const double *up, const double *dy, double *dgate, double *dup,
                                   double *dresidual, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    if (dgate) dgate[i] = silu_vjp(gate[i], dy[i] * up[i]);
    if (dup) dup[i] = dy[i] * silu(gate[i]);
    if (dresidual) dresidual[i] = dy[i];
  }
}
