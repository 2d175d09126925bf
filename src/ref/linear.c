/* float64 reference of the linear family (spec §10).  A plain triple loop
 * in double, then the epilogues of the fused and norms references (one
 * definition of silu, gelu_tanh and RMSNorm in the oracle). */
#include <math.h>
#include <stdlib.h>
#include "linear.h"
#include "norms.h"

void zk_ref_linear_gemm(const double *x, const double *w, double *z, double *s, int64_t M, int64_t N, int64_t K) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      double acc = 0, abs_acc = 0;
      for (int64_t k = 0; k < K; k++) {
        double p = x[m * K + k] * w[n * K + k];
        acc += p;
        abs_acc += fabs(p);
      }
      z[m * N + n] = acc;
      if (s) s[m * N + n] = abs_acc;
    }
}

void zk_ref_fused_linear_act(zk_ref_act act, const double *x, const double *w, const double *bias, double *y,
                             double *y_acc, int64_t M, int64_t N, int64_t K) {
  size_t n = (size_t)(M * N > 0 ? M * N : 1);
  double *z = malloc(n * sizeof(double)), *s = malloc(n * sizeof(double));
  double *zeros = bias ? NULL : calloc((size_t)(N > 0 ? N : 1), sizeof(double));
  zk_ref_linear_gemm(x, w, z, s, M, N, K);
  zk_ref_bias_act(act, z, bias ? bias : zeros, y, M, N);
  double lipschitz = act == ZK_REF_BIAS_SILU ? ZK_REF_SILU_LIPSCHITZ : ZK_REF_GELU_TANH_LIPSCHITZ;
  if (y_acc)
    for (int64_t i = 0; i < M * N; i++) y_acc[i] = lipschitz * s[i];
  free(z);
  free(s);
  free(zeros);
}

void zk_ref_fused_linear_rmsnorm(const double *x, const double *w, const double *gamma, double *y, double *y_acc,
                                 int64_t M, int64_t N, int64_t K, double eps) {
  size_t n = (size_t)(M * N > 0 ? M * N : 1);
  double *z = malloc(n * sizeof(double)), *s = malloc(n * sizeof(double));
  zk_ref_linear_gemm(x, w, z, s, M, N, K);
  zk_ref_rmsnorm(z, gamma, y, M, N, eps);
  for (int64_t m = 0; y_acc && m < M; m++) {
    const double *zr = z + m * N, *sr = s + m * N;
    double ss = 0, cross = 0;
    for (int64_t j = 0; j < N; j++) ss += zr[j] * zr[j], cross += fabs(zr[j]) * sr[j];
    double r = 1.0 / sqrt(ss / (double)N + eps);
    for (int64_t j = 0; j < N; j++)
      y_acc[m * N + j] = fabs(gamma[j]) * r * (sr[j] + fabs(zr[j]) * r * r * cross / (double)N);
  }
  free(z);
  free(s);
}
