/* float64 reference of the activations family (spec §1).  Plain double
 * evaluation of the spec's formulas, built with -ffp-contract=off, written
 * independently of src/common/zk_math.h (which the backends share).  Where
 * a formula as written would cancel in double too, the algebraically
 * identical form is used and the comment says which. */
#include <math.h>
#include "activations.h"

#define GELU_C0 0.7978845608028654 /* sqrt(2/pi) */
#define GELU_C1 0.044715

/* σ(x) = 1/(1+e^-x): e^-x overflowing to +Inf gives the right limit 0. */
static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* log1p(e^z), as z + log1p(e^-z) for z > 0 so a large z never overflows. */
static double log1p_exp(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

/* The branch of the thresholded softplus, β·x > τ, is decided by the f32
 * comparison the spec's formula makes: β·x rounded to f32.  (In double the
 * product is exact and could fall on the other side when it rounds to τ.) */
static int softplus_linear(double x, double beta, double threshold) {
  return (float)beta * (float)x > (float)threshold;
}

static double softplus(double x, double beta, double threshold) {
  return softplus_linear(x, beta, threshold) ? x : log1p_exp(beta * x) / beta;
}

/* ----------------------------------------------------------- forwards
 * f_<op>(x, s) = y; s = the op's scalars. */

static double f_exp(double x, const double *s) { (void)s; return exp(x); }
static double f_log(double x, const double *s) { (void)s; return log(x); }
static double f_tanh(double x, const double *s) { (void)s; return tanh(x); }
static double f_sigmoid(double x, const double *s) { (void)s; return sigmoid(x); }
/* x if x > 0, else 0; NaN stays NaN (the comparison alone would give 0). */
static double f_relu(double x, const double *s) { (void)s; return x > 0 || isnan(x) ? x : 0.0; }
static double f_silu(double x, const double *s) { (void)s; return x * sigmoid(x); }

/* ½x(1 + tanh u) written as x·σ(2u), the same function (1 + tanh u =
 * 2σ(2u)) without the cancellation of 1 + tanh u for x << 0. */
static double f_gelu_tanh(double x, const double *s) {
  (void)s;
  double u = GELU_C0 * (x + GELU_C1 * x * x * x);
  return x * sigmoid(2.0 * u);
}

static double f_softplus(double x, const double *s) { return softplus(x, s[0], s[1]); }
static double f_mish(double x, const double *s) { (void)s; return x * tanh(softplus(x, 1.0, 20.0)); }
static double f_elu(double x, const double *s) { return x > 0 ? x : s[0] * expm1(x); }

/* -------------------------------------------------------------- grads
 * g_<op>(x, dy, s) = dx. */

static double g_exp(double x, double dy, const double *s) { (void)s; return dy * exp(x); }

static double g_tanh(double x, double dy, const double *s) {
  (void)s;
  double t = tanh(x);
  return dy * (1.0 - t * t);
}

/* σ(1-σ) as σ(x)·σ(-x): 1 - σ(x) cancels for large x. */
static double g_sigmoid(double x, double dy, const double *s) { (void)s; return dy * sigmoid(x) * sigmoid(-x); }

/* dy where x > 0, else 0 (also at the kink x = 0 and for NaN x). */
static double g_relu(double x, double dy, const double *s) { (void)s; return x > 0 ? dy : 0.0; }

static double g_silu(double x, double dy, const double *s) {
  (void)s;
  double sg = sigmoid(x);
  return dy * sg * (1.0 + x * (1.0 - sg));
}

static double g_gelu_tanh(double x, double dy, const double *s) {
  (void)s;
  double t = tanh(GELU_C0 * (x + GELU_C1 * x * x * x));
  return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C0 * (1.0 + 3.0 * GELU_C1 * x * x));
}

static double g_softplus(double x, double dy, const double *s) {
  return softplus_linear(x, s[0], s[1]) ? dy : dy * sigmoid(s[0] * x);
}

static double g_mish(double x, double dy, const double *s) {
  (void)s;
  double t = tanh(softplus(x, 1.0, 20.0));
  return dy * (t + x * sigmoid(x) * (1.0 - t * t));
}

/* dy where x > 0, else dy·α·e^x: α·dy at the kink x = 0. */
static double g_elu(double x, double dy, const double *s) { return x > 0 ? dy : dy * s[0] * exp(x); }

/* ------------------------------------------------------- the public arrays */

#define FWD(name)                                                                \
  void zk_ref_##name(const double *x, double *y, int64_t n, const double *s) {  \
    for (int64_t i = 0; i < n; i++) y[i] = f_##name(x[i], s);                   \
  }
#define GRAD(name)                                                                                   \
  void zk_ref_##name##_grad(const double *x, const double *dy, double *dx, int64_t n, const double *s) { \
    for (int64_t i = 0; i < n; i++) dx[i] = g_##name(x[i], dy[i], s);                                 \
  }

FWD(exp) FWD(log) FWD(tanh) FWD(sigmoid) FWD(relu) FWD(silu) FWD(gelu_tanh) FWD(softplus) FWD(mish) FWD(elu)
GRAD(exp) GRAD(tanh) GRAD(sigmoid) GRAD(relu) GRAD(silu) GRAD(gelu_tanh) GRAD(softplus) GRAD(mish) GRAD(elu)
