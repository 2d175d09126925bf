/* Shared test helpers: see checks.h. */
#include "checks.h"

#include <stdio.h>
#include <string.h>

int zk_slot(const zk_op_test *t, const char *name) {
  for (int k = 0; k < t->nt; k++)
    if (!strcmp(t->t[k].name, name)) return k;
  return -1;
}

int zk_setup_case(zk_case *c, const zk_op_test *t, zk_backend be, zk_dtype dt, zk_dtype pdt, int64_t R, int64_t D,
                  int strided, uint64_t seed, char *msg, size_t cap) {
  zk_case_opts o = {be, dt, pdt, R, D, strided, 0, seed, -1, -1};
  return zk_case_setup(c, t, &o, msg, cap);
}

int zk_check_case(const zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt, zk_dtype pdt, int64_t R, int64_t D,
                  int strided, uint64_t seed, char *msg, size_t cap) {
  zk_case_opts o = {be, dt, pdt, R, D, strided, 0, seed, -1, -1};
  return zk_run_case(t, ctx, &o, msg, cap);
}

int zk_run_case_kept(const zk_op_test *t, zk_ctx *ctx, const zk_case_opts *o, zk_case *c, char *msg, size_t cap) {
  if (zk_case_init(c, t, o)) {
    snprintf(msg, cap, "%s: could not set up a case", t->op);
    return 1;
  }
  return zk_case_run_checked(c, ctx, msg, cap);
}

int zk_fail_at(char *msg, size_t cap, const zk_case *c, int k, int64_t i, const char *why) {
  snprintf(msg, cap, "%s %s R=%lld D=%lld%s: %s[%lld,%lld] = %.9g: %s", c->test->op, zk_dtype_name(c->dtype),
           (long long)c->R, (long long)c->D, c->strided ? " strided" : "", c->test->t[k].name,
           (long long)(i / c->cols[k]), (long long)(i % c->cols[k]), c->got[k][i], why);
  return 1;
}

int zk_check_outputs_alone(const zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt, zk_dtype pdt, int64_t R,
                           int64_t D, int strided, uint64_t seed, char *msg, size_t cap) {
  for (int keep = -1; keep < t->nt; keep++) {
    if (keep >= 0 && t->t[keep].role != ZK_OUT) continue;
    zk_case c;
    if (zk_setup_case(&c, t, be, dt, pdt, R, D, strided, seed + (uint64_t)(keep + 1), msg, cap)) return 1;
    int fail = zk_case_run_only_output(&c, ctx, keep, msg, cap);
    zk_case_free(&c);
    if (fail) return 1;
  }
  return 0;
}

int zk_check_no_rows_zero_vectors(const zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt, zk_dtype pdt,
                                  int64_t D, int absent, char *msg, size_t cap) {
  zk_case_opts o = {be, dt, pdt, 0, D, 0, 0, 7, absent, -1};
  zk_case c;
  if (zk_case_setup(&c, t, &o, msg, cap)) return 1;
  int fail = zk_case_run_ok(&c, ctx, msg, cap);
  for (int k = 0; !fail && k < t->nt; k++) {
    if (t->t[k].role != ZK_OUT || t->t[k].shape != ZK_SHAPE_VEC || !c.present[k]) continue;
    for (int64_t j = 0; !fail && j < c.D; j++)
      if (c.got[k][j] != 0.0) fail = zk_fail_at(msg, cap, &c, k, j, "R = 0 must give 0");
  }
  zk_case_free(&c);
  return fail;
}

int zk_op_supported(const char *op, zk_backend be) {
  size_t count;
  const zk_op_info *info = zk_catalog(&count);
  for (size_t i = 0; i < count; i++)
    if (!strcmp(info[i].name, op)) return be == ZK_BACKEND_CUDA ? info[i].cuda : info[i].cpu;
  return 0;
}

int zk_check_cpu_equals_cuda(const zk_op_test *t, zk_ctx *ctx, const zk_case_opts *o, char *msg, size_t cap) {
  if (o->backend != ZK_BACKEND_CUDA || !zk_op_supported(t->op, ZK_BACKEND_CPU)) return 0;
  zk_ctx *cpu;
  if (zk_ctx_create(&cpu, kDLCPU, 0) != ZK_OK) {
    snprintf(msg, cap, "cannot create a CPU context");
    return 1;
  }
  zk_case_opts oc = *o;
  oc.backend = ZK_BACKEND_CPU;
  zk_case g, c;
  int fail = zk_run_case_kept(t, ctx, o, &g, msg, cap);
  if (!fail) {
    fail = zk_run_case_kept(t, cpu, &oc, &c, msg, cap);
    for (int k = 0; k < t->nt && !fail; k++) {
      if (!g.present[k] || !zk_is_output(&t->t[k])) continue;
      for (int64_t i = 0; i < zk_case_numel(&g, k) && !fail; i++) {
        double a = g.got[k][i], b = c.got[k][i];
        if (memcmp(&a, &b, sizeof a) && !(a != a && b != b)) {
          char why[96];
          snprintf(why, sizeof why, "the CPU backend gives %.9g (bitwise kernels agree across backends)", b);
          fail = zk_fail_at(msg, cap, &g, k, i, why);
        }
      }
    }
    zk_case_free(&c);
  }
  zk_case_free(&g);
  zk_ctx_destroy(cpu);
  return fail;
}
