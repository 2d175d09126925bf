/* Random inputs, dtype rounding and the finite-difference check. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../../src/core/dtype.h"
#include "harness.h"

uint64_t zk_rand_u64(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double zk_rand_uniform(uint64_t *s, double lo, double hi) {
  return lo + (hi - lo) * (double)(zk_rand_u64(s) >> 11) * 0x1.0p-53;
}

double zk_rand_normal(uint64_t *s) {
  double u1 = ((double)(zk_rand_u64(s) >> 11) + 0.5) * 0x1.0p-53;
  double u2 = (double)(zk_rand_u64(s) >> 11) * 0x1.0p-53;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t zk_test_seed(void) {
  static uint64_t seed;
  if (seed) return seed;
  const char *env = getenv("ZK_TEST_SEED");
  if (env && *env) {
    seed = strtoull(env, NULL, 0);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec;
  }
  if (!seed) seed = 1;
  return seed;
}

/* double -> bf16 with one rounding: round to odd into f32 first (the extra
 * 16 bits make the final round-to-nearest-even exact), then to bf16. */
static float to_bf16_value(double v) {
  float f = (float)v;
  if (isfinite(v) && (double)f != v) {
    if (fabs((double)f) > fabs(v)) f = nextafterf(f, 0.0f);
    uint32_t u;
    memcpy(&u, &f, 4);
    u |= 1u;
    memcpy(&f, &u, 4);
  }
  return zk_bf16_to_f32(zk_f32_to_bf16(f));
}

double zk_round_to(double v, zk_dtype t) {
  switch (t) {
    case ZK_F32: return (double)(float)v;
    case ZK_F16: return (double)(_Float16)v;
    case ZK_BF16: return (double)to_bf16_value(v);
    default: return v;
  }
}

double zk_fd_vjp_error(zk_fd_fn f, const void *ctx, const double *x, int64_t n, int64_t m,
                       const double *dy, const double *dx) {
  double *xp = malloc((size_t)n * sizeof *xp), *y = malloc((size_t)m * sizeof *y);
  memcpy(xp, x, (size_t)n * sizeof *xp);
  double scale = 1e-30, worst = 0;
  for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(dx[i]));
  for (int64_t i = 0; i < n; i++) {
    double h = 1e-5 * fmax(1.0, fabs(x[i])), up = 0, down = 0;
    xp[i] = x[i] + h;
    f(xp, y, ctx);
    for (int64_t k = 0; k < m; k++) up += dy[k] * y[k];
    xp[i] = x[i] - h;
    f(xp, y, ctx);
    for (int64_t k = 0; k < m; k++) down += dy[k] * y[k];
    xp[i] = x[i];
    double err = fabs((up - down) / (2 * h) - dx[i]) / scale;
    if (err > worst) worst = err;
  }
  free(xp);
  free(y);
  return worst;
}
