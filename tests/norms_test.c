/* Test descriptors of the norms family (spec §3). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../src/ref/norms.h"
#include "harness/harness.h"

#define X_IN {"x", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
#define DY_IN {"dy", ZK_IN, ZK_SHAPE_ROWS, ZK_DT_CASE, 0, 0, ZK_DIST_NORMAL, 0, 0}
#define PARAM_IN(name, opt) {name, ZK_IN, ZK_SHAPE_VEC, ZK_DT_PARAM, opt, 0, ZK_DIST_UNIFORM, 0.5, 1.5}
#define ROWS_OUT(name, opt, tol) {name, ZK_OUT, ZK_SHAPE_ROWS, ZK_DT_CASE, opt, tol, 0, 0, 0}
#define PARAM_OUT(name, tol) {name, ZK_OUT, ZK_SHAPE_VEC, ZK_DT_PARAM, 1, tol, 0, 0, 0}
#define BAD_EPS {{0, -1.0, ZK_ERR_ARG}, {0, NAN, ZK_ERR_ARG}, {0, INFINITY, ZK_ERR_ARG}}, 3

/* ---------------------------------------------------------------- rmsnorm */

static zk_status call_rmsnorm(zk_ctx *ctx, zk_case *c) {
  return zk_rmsnorm(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (float)c->s[0]);
}
static void ref_rmsnorm(zk_case *c) { zk_ref_rmsnorm(c->val[0], c->val[1], c->ref[2], c->R, c->D, c->s[0]); }

static zk_status call_rmsnorm_grad(zk_ctx *ctx, zk_case *c) {
  return zk_rmsnorm_grad(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), ZT(c, 4), (float)c->s[0]);
}
static void ref_rmsnorm_grad(zk_case *c) {
  zk_ref_rmsnorm_grad(c->val[0], c->val[1], c->val[2], c->ref[3], c->ref[4], c->refabs[4], c->R, c->D, c->s[0]);
}

/* Central differences of rmsnorm w.r.t. x and w, against its VJP. */
typedef struct rms_fd {
  int64_t R, D;
  const double *w;
  const double *x;
  int wrt_w;
} rms_fd;

static void rms_fd_forward(const double *v, double *y, const void *ctx) {
  const rms_fd *f = ctx;
  if (f->wrt_w) zk_ref_rmsnorm(f->x, v, y, f->R, f->D, 1e-6);
  else zk_ref_rmsnorm(v, f->w, y, f->R, f->D, 1e-6);
}

static double fd_rmsnorm_grad(uint64_t seed) {
  enum { R = 3, D = 7 };
  double x[R * D], w[D], dy[R * D], dx[R * D], dw[D];
  for (int i = 0; i < R * D; i++) x[i] = zk_rand_normal(&seed), dy[i] = zk_rand_normal(&seed);
  for (int j = 0; j < D; j++) w[j] = zk_rand_uniform(&seed, 0.5, 1.5);
  zk_ref_rmsnorm_grad(x, w, dy, dx, dw, NULL, R, D, 1e-6);
  rms_fd f = {R, D, w, x, 0};
  double e1 = zk_fd_vjp_error(rms_fd_forward, &f, x, R * D, R * D, dy, dx);
  f.wrt_w = 1;
  double e2 = zk_fd_vjp_error(rms_fd_forward, &f, w, D, R * D, dy, dw);
  return e1 > e2 ? e1 : e2;
}

static const zk_op_test norms_tests[] = {
    {.op = "rmsnorm",
     .t = {X_IN, PARAM_IN("weight", 0), ROWS_OUT("y", 0, ZK_TOL_ROW)},
     .nt = 3,
     .scalars = {1e-6},
     .call = call_rmsnorm,
     .ref = ref_rmsnorm,
     .alias_of = {[2] = 1},
     .bad = BAD_EPS},
    {.op = "rmsnorm_grad",
     .t = {X_IN, PARAM_IN("weight", 0), DY_IN, ROWS_OUT("dx", 1, ZK_TOL_GRAD), PARAM_OUT("dweight", ZK_TOL_GRAD_ACC)},
     .nt = 5,
     .scalars = {1e-6},
     .call = call_rmsnorm_grad,
     .ref = ref_rmsnorm_grad,
     .fd_check = fd_rmsnorm_grad,
     .alias_of = {[3] = 3},
     .bad = BAD_EPS},
};

const zk_family_tests zk_tests_norms = {"norms", norms_tests, sizeof norms_tests / sizeof norms_tests[0], NULL, 0};
