/* Optimizer steps on the CPU (spec §17).  adamw_step is one elementwise
 * map through zk_cpu_map: p, g, m, v in, p, m, v out in place.  f32 tensors
 * are updated in their own memory, f16/bf16 p and g go through f32 chunks;
 * each element depends on nothing but itself, so the result cannot depend
 * on the thread count.  The per-step constants arrive in f32 (api file).
 *
 * Entry points follow the slots of src/api/optimizers.c. */
#include "cpu.h"

typedef struct adamw_consts {
  float decay, alpha, c2, eps, b1, b2, w1, w2;
} adamw_consts;

/* `omp simd`: the outputs exactly alias the inputs (element i is read
 * before it is written), which would otherwise make gcc guard the vector
 * loop with an overlap test that fails.  torch's lerp takes its second
 * form when the weight 1-β1 is >= 0.5; the choice is per call (a
 * loop-invariant select, which vectorizes). */
ZK_HOT static void map_adamw(float *const *out, const float *const *in, int64_t n, uint64_t flat0,
                             const void *params) {
  const adamw_consts *k = params;
  const float *ps = in[0], *gs = in[1], *ms = in[2], *vs = in[3];
  float *po = out[0], *mo = out[1], *vo = out[2];
  const float decay = k->decay, alpha = k->alpha, c2 = k->c2, eps = k->eps, b1 = k->b1, b2 = k->b2,
              w1 = k->w1, w2 = k->w2;
  const int lerp_from_end = w1 >= 0.5f;
  (void)flat0;
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    float p = ps[i], g = gs[i], m = ms[i], v = vs[i];
    float m1 = lerp_from_end ? g - (g - m) * b1 : m + w1 * (g - m);
    float v1 = b2 * v + w2 * g * g;
    float d = sqrtf(v1) / c2 + eps;
    po[i] = p * decay - alpha * (m1 / d);
    mo[i] = m1;
    vo[i] = v1;
  }
}

zk_status zk_cpu_adamw_step(zk_ctx *ctx, const zk_args *args) {
  const float *f = args->f;
  adamw_consts k = {f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
  const zk_rows out[3] = {args->t[0], args->t[2], args->t[3]};
  zk_cpu_map(ctx, 3, out, 4, &args->t[0], map_adamw, &k);
  return ZK_OK;
}
