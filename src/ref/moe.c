/* float64 reference of the moe family (spec §14); see moe.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "moe.h"
#include "reductions.h"

#define MAX_K 32

/* One row: the spec's formulas in double, the order of reductions.h's topk
 * (NaN > +Inf > finite > -Inf, ties to the lower index). */
static void gating_row(const double *x, const double *bias, double *s, double *sel, double *w, double *idx, int64_t E,
                       int64_t k, int sigmoid, int norm, int select_only, double scale) {
  if (sigmoid) {
    for (int64_t j = 0; j < E; j++) s[j] = 1.0 / (1.0 + exp(-x[j]));
  } else {
    double m = -INFINITY;
    for (int64_t j = 0; j < E; j++) m = isnan(x[j]) || isnan(m) ? NAN : fmax(m, x[j]);
    double sum = 0;
    for (int64_t j = 0; j < E; j++) sum += s[j] = exp(x[j] - m);
    for (int64_t j = 0; j < E; j++) s[j] /= sum;
  }
  for (int64_t j = 0; j < E; j++) sel[j] = s[j] + (bias ? bias[j] : 0.0);
  double top[MAX_K], chosen[MAX_K];
  zk_ref_topk(sel, top, chosen, 1, E, k);
  /* The selected experts in ascending index, so that equal weights keep
   * the lower index first in the final sort. */
  for (int64_t a = 1; a < k; a++)
    for (int64_t b = a; b > 0 && chosen[b] < chosen[b - 1]; b--) {
      double t = chosen[b];
      chosen[b] = chosen[b - 1], chosen[b - 1] = t;
    }
  double raw[MAX_K], sum = 0;
  for (int64_t i = 0; i < k; i++) {
    int64_t e = (int64_t)chosen[i];
    raw[i] = select_only ? s[e] : sel[e];
    sum += raw[i];
  }
  for (int64_t i = 0; i < k; i++) raw[i] = (norm ? raw[i] / (sum + 1e-20) : raw[i]) * scale;
  double order[MAX_K];
  zk_ref_topk(raw, w, order, 1, k, k);
  for (int64_t i = 0; i < k; i++) idx[i] = chosen[(int64_t)order[i]];
}

void zk_ref_topk_gating(const double *logits, const double *bias, double *weights, double *indices, int64_t R,
                        int64_t E, int64_t k, int sigmoid, int norm, int select_only, double routed_scale) {
  double *s = malloc((size_t)(2 * E + 1) * sizeof *s), *sel = s + E;
  for (int64_t r = 0; r < R; r++)
    gating_row(logits + r * E, bias, s, sel, weights + r * k, indices + r * k, E, k, sigmoid, norm, select_only,
               routed_scale);
  free(s);
}

/* Pairs ordered by (expert, pair index). */
typedef struct pair {
  int64_t expert, q;
} pair;

static int by_expert_then_pair(const void *a, const void *b) {
  const pair *x = a, *y = b;
  if (x->expert != y->expert) return x->expert < y->expert ? -1 : 1;
  return x->q < y->q ? -1 : x->q > y->q;
}

void zk_ref_moe_dispatch(const double *x, const double *ids, double *x_perm, double *offsets, double *src, double *inv,
                         int64_t N, int64_t K, int64_t D, int64_t E) {
  int64_t P = N * K;
  pair *pairs = malloc((size_t)(P ? P : 1) * sizeof *pairs);
  for (int64_t q = 0; q < P; q++) pairs[q] = (pair){(int64_t)ids[q], q};
  qsort(pairs, (size_t)P, sizeof *pairs, by_expert_then_pair);
  /* offsets[e] = the number of pairs whose expert is below e. */
  for (int64_t e = 0, p = 0; e <= E; e++) {
    while (p < P && pairs[p].expert < e) p++;
    offsets[e] = (double)p;
  }
  for (int64_t p = 0; p < P; p++) {
    int64_t q = pairs[p].q;
    src[p] = (double)q;
    if (inv) inv[q] = (double)p;
    if (x_perm) memcpy(x_perm + p * D, x + (q / K) * D, (size_t)D * sizeof *x);
  }
  free(pairs);
}

static int64_t ex_row(const double *rows, int64_t n, int64_t K, int64_t k) {
  return rows ? (int64_t)rows[n * K + k] : n * K + k;
}

void zk_ref_moe_combine(const double *ex, const double *w, const double *rows, double *y, double *yabs, int64_t N,
                        int64_t K, int64_t D) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t d = 0; d < D; d++) {
      double acc = 0, abs = 0;
      for (int64_t k = 0; k < K; k++) {
        double t = (w ? w[n * K + k] : 1.0) * ex[ex_row(rows, n, K, k) * D + d];
        acc += t;
        abs += fabs(t);
      }
      y[n * D + d] = acc;
      if (yabs) yabs[n * D + d] = abs;
    }
}

void zk_ref_moe_combine_grad(const double *ex, const double *w, const double *rows, const double *dy, double *dex,
                             double *dw, double *dwabs, int64_t N, int64_t K, int64_t D) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++) {
      int64_t row = ex_row(rows, n, K, k);
      double wk = w ? w[n * K + k] : 1.0, dot = 0, abs = 0;
      for (int64_t d = 0; d < D; d++) {
        double t = dy[n * D + d] * ex[row * D + d];
        dot += t;
        abs += fabs(t);
        if (dex) dex[row * D + d] = dy[n * D + d] * wk;
      }
      if (dw) dw[n * K + k] = dot;
      if (dwabs) dwabs[n * K + k] = abs;
    }
}
