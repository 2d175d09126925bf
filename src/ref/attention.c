/* float64 reference of the attention family (spec §6).  Plain loops, built
 * with -ffp-contract=off; the edge rules are the spec's, stated per row. */
#include <math.h>
#include <stdlib.h>
#include "attention.h"
#include "softmax.h"

static double lse_row(const double *x, int64_t D) {
  double m = -INFINITY;
  int pos_inf = 0;
  for (int64_t j = 0; j < D; j++) {
    if (isnan(x[j])) return NAN;
    pos_inf |= x[j] == INFINITY;
    if (x[j] > m) m = x[j];
  }
  if (pos_inf) return INFINITY;
  if (m == -INFINITY) return -INFINITY;
  double s = 0;
  for (int64_t j = 0; j < D; j++) s += exp(x[j] - m);
  return m + log(s);
}

void zk_ref_logsumexp(const double *x, double *y, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) y[r] = lse_row(x + r * D, D);
}

void zk_ref_logsumexp_grad(const double *x, const double *dy, double *dx, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) {
    const double *xr = x + r * D;
    double lse = lse_row(xr, D);
    /* An all -Inf row's forward is constant -Inf: no gradient flows.  Else
     * IEEE as written (a +Inf lse gives 0, or NaN at the +Inf entries). */
    for (int64_t j = 0; j < D; j++) dx[r * D + j] = lse == -INFINITY ? 0.0 : dy[r] * exp(xr[j] - lse);
  }
}

void zk_ref_masked_softmax(const double *x, const double *mask, int64_t M, double *y, int64_t R, int64_t D,
                           double scale) {
  double *z = malloc((size_t)(D ? D : 1) * sizeof *z);
  for (int64_t r = 0; r < R; r++) {
    const double *keep = mask ? mask + (r % M) * D : NULL;
    double *yr = y + r * D, m = -INFINITY;
    int bad = 0;
    for (int64_t j = 0; j < D; j++) {
      if (keep && keep[j] == 0) continue;
      /* The spec's f32 product: its rounding is within tolerance, its
       * overflow to ±Inf is not (kept unrounded otherwise, so that central
       * differences see a smooth function). */
      z[j] = scale * x[r * D + j];
      if (isinf((float)z[j])) z[j] = (float)z[j];
      bad |= isnan(z[j]) || z[j] == INFINITY;
      if (z[j] > m) m = z[j];
    }
    double s = 0;
    if (!bad && m > -INFINITY)
      for (int64_t j = 0; j < D; j++)
        if (!keep || keep[j] != 0) s += exp(z[j] - m);
    for (int64_t j = 0; j < D; j++) {
      if (keep && keep[j] == 0) yr[j] = 0.0;
      else if (bad) yr[j] = NAN;
      else yr[j] = m == -INFINITY ? 0.0 : exp(z[j] - m) / s;
    }
  }
  free(z);
}

void zk_ref_scaled_softmax_grad(const double *y, const double *dy, double *dx, int64_t R, int64_t D, double scale) {
  zk_ref_softmax_grad(y, dy, dx, R, D);
  for (int64_t i = 0; i < R * D; i++) dx[i] *= scale;
}

void zk_ref_paged_attention(const zk_ref_paged *p, const double *q, const double *k_cache, const double *v_cache,
                            const double *tables, const double *lens, double *out, double *out_abs) {
  int64_t G = p->H / p->HKV, D = p->D, kvw = p->HKV * D;
  int64_t Lmax = p->MB * p->BS;
  double *s = malloc((size_t)(Lmax ? Lmax : 1) * sizeof *s);
  const double **krow = malloc((size_t)(Lmax ? Lmax : 1) * sizeof *krow);
  const double **vrow = malloc((size_t)(Lmax ? Lmax : 1) * sizeof *vrow);
  for (int64_t b = 0; b < p->B; b++) {
    int64_t L = (int64_t)lens[b];
    for (int64_t h = 0; h < p->H; h++) {
      const double *qh = q + (b * p->H + h) * D;
      double *o = out + (b * p->H + h) * D, *oa = out_abs ? out_abs + (b * p->H + h) * D : NULL;
      int64_t kvh = h / G;
      double m = -INFINITY, sum = 0;
      for (int64_t i = 0; i < L; i++) {
        int64_t blk = (int64_t)tables[b * p->MB + i / p->BS], slot = blk * p->BS + i % p->BS;
        krow[i] = k_cache + slot * kvw + kvh * D;
        vrow[i] = v_cache + slot * kvw + kvh * D;
        double dot = 0;
        for (int64_t d = 0; d < D; d++) dot += qh[d] * krow[i][d];
        s[i] = p->scale * dot;
        if (s[i] > m) m = s[i];
      }
      for (int64_t i = 0; i < L; i++) sum += exp(s[i] - m);
      for (int64_t d = 0; d < D; d++) {
        double acc = 0, acc_abs = 0;
        for (int64_t i = 0; i < L; i++) {
          double pi = exp(s[i] - m) / sum;
          acc += pi * vrow[i][d];
          acc_abs += pi * fabs(vrow[i][d]);
        }
        o[d] = acc; /* L = 0: zeros */
        if (oa) oa[d] = acc_abs;
      }
    }
  }
  free(s);
  free(krow);
  free(vrow);
}

void zk_ref_attention_tile(const double *q, const double *k, double *s, double *s_abs, int64_t D) {
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) {
      double acc = 0, acc_abs = 0;
      for (int64_t d = 0; d < D; d++) {
        acc += q[r * D + d] * k[c * D + d];
        acc_abs += fabs(q[r * D + d] * k[c * D + d]);
      }
      s[r * 16 + c] = acc;
      if (s_abs) s_abs[r * 16 + c] = acc_abs;
    }
}
