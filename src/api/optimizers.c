/* Public entry point of the optimizers family (spec §17): boundary checks,
 * the per-step constants, then dispatch.  Backend slots:
 *   adamw_step  t[0] = p (inout), t[1] = g, t[2] = m (inout), t[3] = v (inout)
 *               f[0] = 1 - lr·wd, f[1] = lr / (1 - β1^t), f[2] = √(1 - β2^t),
 *               f[3] = eps, f[4] = β1, f[5] = β2, f[6] = 1 - β1, f[7] = 1 - β2
 * Each f is computed in double and rounded once to f32, as torch does with
 * its Python-float hyperparameters. */
#include <math.h>
#include <zkern/optimizers.h>
#include "../core/tensor.h"

static zk_status expect_finite(const zk_call *call, const char *name, double v) {
  if (isfinite(v)) return ZK_OK;
  return zk_fail(call, ZK_ERR_ARG, "%s = %g, must be finite", name, v);
}

static zk_status expect_beta(const zk_call *call, const char *name, double b) {
  ZK_CHECK(expect_finite(call, name, b));
  if (b >= 0 && b < 1) return ZK_OK;
  return zk_fail(call, ZK_ERR_ARG, "%s = %g, must be in [0, 1)", name, b);
}

static zk_status expect_nonneg(const zk_call *call, const char *name, double v) {
  ZK_CHECK(expect_finite(call, name, v));
  if (v >= 0) return ZK_OK;
  return zk_fail(call, ZK_ERR_ARG, "%s = %g, must be >= 0", name, v);
}

/* m and v: f32 and p's shape. */
static zk_status take_moment(const zk_call *call, const char *name, DLTensor *t, zk_rows *out, const DLTensor *p) {
  ZK_CHECK(zk_take(call, name, t, out, 1));
  ZK_CHECK(zk_expect_dtype(call, name, out, ZK_F32));
  return zk_expect_same_shape(call, name, t, "p", p);
}

zk_status zk_adamw_step(zk_ctx *ctx, DLTensor *p, const DLTensor *g, DLTensor *m, DLTensor *v,
                        const zk_adamw_step_params *params) {
  ZK_BEGIN(adamw_step);
  zk_args args = {.op = ZK_OP_adamw_step};
  /* p is written: taken as an output (rows may not overlap). */
  ZK_CHECK(zk_take(call, "p", p, &args.t[0], 1));
  ZK_CHECK(zk_expect_float(call, "p", &args.t[0]));
  ZK_CHECK(zk_take_like(call, "g", g, &args.t[1], 0, "p", p, &args.t[0]));
  ZK_CHECK(take_moment(call, "m", m, &args.t[2], p));
  ZK_CHECK(take_moment(call, "v", v, &args.t[3], p));
  if (!params) return zk_fail(call, ZK_ERR_ARG, "params is NULL (the step number is required)");
  double lr = params->lr, b1 = params->beta1, b2 = params->beta2, wd = params->weight_decay;
  ZK_CHECK(expect_nonneg(call, "lr", lr));
  ZK_CHECK(expect_beta(call, "beta1", b1));
  ZK_CHECK(expect_beta(call, "beta2", b2));
  ZK_CHECK(expect_nonneg(call, "eps", params->eps));
  ZK_CHECK(expect_nonneg(call, "weight_decay", wd));
  if (params->step < 1) return zk_fail(call, ZK_ERR_ARG, "step = %lld, must be >= 1", (long long)params->step);
  /* β^t in double: pow of an exact double and an integer exponent (t may
   * exceed 2^53 only in theory; bc is then 1). */
  double t = (double)params->step, bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
  args.f[0] = (float)(1.0 - lr * wd);
  args.f[1] = (float)(lr / bc1);
  args.f[2] = (float)sqrt(bc2);
  args.f[3] = (float)params->eps;
  args.f[4] = (float)b1;
  args.f[5] = (float)b2;
  args.f[6] = (float)(1.0 - b1);
  args.f[7] = (float)(1.0 - b2);
  return zk_dispatch_rows(call, &args, &args.t[0], 0);
}
