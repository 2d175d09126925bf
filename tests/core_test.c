/* Core: the catalog, contexts, status names, and the DLTensor checks at
 * the API boundary (strides, byte_offset, empty tensors, layouts). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "harness/harness.h"

static const char *families[] = {"activations", "softmax", "norms",  "transformer", "vlsp",     "attention",
                                 "rope",        "reductions", "fused", "linear",   "loss",      "quant",
                                 "bits",        "moe",     "image",  "indexing",    "optimizers", "scan"};

/* Every op ops.def marks supported on a backend has a test descriptor; the
 * catalog holds the spec's 85 kernels and 31 gradients and extensions. */
static void catalog_is_complete(void **state) {
  (void)state;
  size_t n;
  const zk_op_info *ops = zk_catalog(&n);
  assert_int_equal(n, 116);
  int grads = 0;
  for (size_t i = 0; i < n; i++) {
    if ((ops[i].cpu || ops[i].cuda) && !zk_find_test(ops[i].name))
      fail_msg("%s is supported but has no test descriptor", ops[i].name);
    int known = 0;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) known |= !strcmp(ops[i].family, families[f]);
    if (!known) fail_msg("%s has an unknown family %s", ops[i].name, ops[i].family);
    for (size_t j = 0; j < i; j++)
      if (!strcmp(ops[i].name, ops[j].name)) fail_msg("%s is listed twice", ops[i].name);
    grads += ops[i].grad;
  }
  /* 12 catalog grads (9 activations, softmax, rmsnorm, cumsum) + the 30
   * gradients of §19.2 (its 31 entries less the forward moe_combine_permuted) */
  assert_int_equal(grads, 42);
}

static void unsupported_op_says_so(void **state) {
  (void)state;
  /* The first op the CPU lacks (the catalog and the op enum share the
   * order of ops.def), whichever that is as families land. */
  size_t n, i = 0;
  const zk_op_info *ops = zk_catalog(&n);
  while (i < n && ops[i].cpu) i++;
  if (i == n) skip();
  zk_ctx *ctx;
  assert_int_equal(zk_ctx_create(&ctx, kDLCPU, 0), ZK_OK);
  char name[96], want[160];
  snprintf(name, sizeof name, "zk_%s", ops[i].name);
  snprintf(want, sizeof want, "%s: not implemented on cpu", name);
  zk_call call = {ctx, name};
  zk_args a = {.op = (zk_op_id)i};
  assert_int_equal(zk_dispatch(&call, &a), ZK_ERR_UNSUPPORTED);
  assert_string_equal(zk_ctx_last_error(ctx), want);
  zk_ctx_destroy(ctx);
}

static void contexts(void **state) {
  (void)state;
  zk_ctx *ctx = (zk_ctx *)1;
  assert_int_equal(zk_ctx_create(NULL, kDLCPU, 0), ZK_ERR_ARG);
  assert_int_equal(zk_ctx_create(&ctx, kDLOpenCL, 0), ZK_ERR_DEVICE);
  assert_null(ctx);
  assert_int_equal(zk_ctx_create(&ctx, kDLCPU, 0), ZK_OK);
  assert_int_equal(zk_ctx_device(ctx).device_type, kDLCPU);
  assert_true(zk_ctx_threads(ctx) >= 1);
  assert_int_equal(zk_ctx_set_threads(ctx, 0), ZK_ERR_ARG);
  assert_non_null(strstr(zk_ctx_last_error(ctx), "threads is 0"));
  assert_int_equal(zk_ctx_set_threads(ctx, 3), ZK_OK);
  assert_int_equal(zk_ctx_threads(ctx), 3);
  assert_int_equal(zk_ctx_set_cuda_stream(ctx, NULL), ZK_ERR_DEVICE);
  assert_int_equal(zk_ctx_synchronize(ctx), ZK_OK);
  zk_ctx_destroy(ctx);
  zk_ctx_destroy(NULL);
  /* A CUDA context where there is no CUDA backend or no GPU: a clear
   * status, never a crash. */
  zk_status s = zk_ctx_create(&ctx, kDLCUDA, 0);
  if (s == ZK_OK) {
    zk_ctx_destroy(ctx);
  } else {
    assert_true(s == (zk_has_cuda() ? ZK_ERR_DEVICE : ZK_ERR_UNSUPPORTED));
    assert_null(ctx);
  }
}

static void status_names(void **state) {
  (void)state;
  assert_string_equal(zk_status_name(ZK_OK), "ZK_OK");
  assert_string_equal(zk_status_name(ZK_ERR_BACKEND), "ZK_ERR_BACKEND");
  assert_string_equal(zk_version(), "0.1.0");
}

/* ------------------------------------------------------ tensor checks */

typedef struct tensor {
  DLTensor t;
  int64_t shape[4], strides[4];
} tensor;

static DLTensor *make(tensor *v, void *data, int ndim, const int64_t *shape, const int64_t *strides) {
  memset(v, 0, sizeof *v);
  v->t.data = data;
  v->t.device.device_type = kDLCPU;
  v->t.ndim = ndim;
  v->t.dtype = (DLDataType){kDLFloat, 32, 1};
  memcpy(v->shape, shape, (size_t)ndim * sizeof *shape);
  v->t.shape = v->shape;
  if (strides) {
    memcpy(v->strides, strides, (size_t)ndim * sizeof *strides);
    v->t.strides = v->strides;
  }
  return &v->t;
}

static zk_ctx *cpu(void) {
  zk_ctx *ctx;
  assert_int_equal(zk_ctx_create(&ctx, kDLCPU, 0), ZK_OK);
  return ctx;
}

/* A row-strided 3-D view with a byte offset gives the rows of the same
 * data laid out compactly, and nothing else is touched. */
static void strided_views_and_byte_offset(void **state) {
  (void)state;
  enum { A = 2, B = 3, D = 5, S = 9, OFF = 4 };
  float buf[OFF + A * B * S], compact[A * B * D], w[D], y1[OFF + A * B * S], y2[A * B * D];
  uint64_t rng = 7;
  for (int i = 0; i < OFF + A * B * S; i++) buf[i] = (float)zk_rand_normal(&rng), y1[i] = -99.0f;
  for (int j = 0; j < D; j++) w[j] = 1.0f + 0.1f * (float)j;
  for (int r = 0; r < A * B; r++)
    for (int j = 0; j < D; j++) compact[r * D + j] = buf[OFF + r * S + j];
  tensor x, y, wt, xc, yc;
  int64_t shape[3] = {A, B, D}, strides[3] = {B * S, S, 1}, wshape[1] = {D};
  zk_ctx *ctx = cpu();
  DLTensor *xv = make(&x, buf, 3, shape, strides), *yv = make(&y, y1, 3, shape, strides);
  xv->byte_offset = OFF * sizeof(float);
  yv->byte_offset = OFF * sizeof(float);
  assert_int_equal(zk_rmsnorm(ctx, xv, make(&wt, w, 1, wshape, NULL), yv, 1e-6f), ZK_OK);
  assert_int_equal(zk_rmsnorm(ctx, make(&xc, compact, 3, shape, NULL), &wt.t, make(&yc, y2, 3, shape, NULL), 1e-6f),
                   ZK_OK);
  for (int r = 0; r < A * B; r++)
    for (int j = 0; j < S; j++) {
      float got = y1[OFF + r * S + j];
      if (j < D) assert_memory_equal(&got, &y2[r * D + j], sizeof got);
      else assert_true(got == -99.0f);  /* the gaps between rows */
    }
  for (int i = 0; i < OFF; i++) assert_true(y1[i] == -99.0f);
  zk_ctx_destroy(ctx);
}

/* An input row stride of 0 repeats one row. */
static void stride_zero_input_repeats_a_row(void **state) {
  (void)state;
  enum { R = 4, D = 6 };
  float x[D], w[D], y[R * D];
  for (int j = 0; j < D; j++) x[j] = (float)j - 2.5f, w[j] = 1.0f;
  tensor xt, wt, yt;
  int64_t shape[2] = {R, D}, xs[2] = {0, 1}, wshape[1] = {D};
  zk_ctx *ctx = cpu();
  assert_int_equal(zk_rmsnorm(ctx, make(&xt, x, 2, shape, xs), make(&wt, w, 1, wshape, NULL),
                              make(&yt, y, 2, shape, NULL), 1e-6f),
                   ZK_OK);
  for (int r = 1; r < R; r++) assert_memory_equal(y, y + r * D, D * sizeof(float));
  /* ...but an output with stride 0 would overlap itself. */
  assert_int_equal(zk_rmsnorm(ctx, &yt.t, &wt.t, make(&xt, y, 2, shape, xs), 1e-6f), ZK_ERR_LAYOUT);
  zk_ctx_destroy(ctx);
}

static void empty_tensors_are_a_noop(void **state) {
  (void)state;
  float w[8] = {1}, poison = -7.0f, y = poison;
  tensor xt, wt, yt;
  int64_t zero_rows[2] = {0, 8}, wshape[1] = {8}, zero_cols[2] = {3, 0}, wzero[1] = {0};
  zk_ctx *ctx = cpu();
  assert_int_equal(zk_rmsnorm(ctx, make(&xt, NULL, 2, zero_rows, NULL), make(&wt, w, 1, wshape, NULL),
                              make(&yt, &y, 2, zero_rows, NULL), 1e-6f),
                   ZK_OK);
  assert_int_equal(zk_rmsnorm(ctx, make(&xt, NULL, 2, zero_cols, NULL), make(&wt, w, 1, wzero, NULL),
                              make(&yt, &y, 2, zero_cols, NULL), 1e-6f),
                   ZK_OK);
  assert_true(y == poison);
  zk_ctx_destroy(ctx);
}

/* Layouts the boundary must refuse, with a message naming the tensor. */
static void bad_layouts(void **state) {
  (void)state;
  enum { D = 4 };
  float x[64], w[D], y[64];
  for (int i = 0; i < 64; i++) x[i] = (float)i;
  for (int j = 0; j < D; j++) w[j] = 1;
  tensor xt, wt, yt;
  int64_t shape3[3] = {2, 2, D}, bad3[3] = {5, 8, 1}, shape2[2] = {2, D}, neg[2] = {-4, 1}, wshape[1] = {D};
  int64_t compact2[2] = {D, 1}, shape0[1] = {0};
  zk_ctx *ctx = cpu();
  DLTensor *w_ = make(&wt, w, 1, wshape, NULL);
  /* leading dims that are not one row stride */
  zk_status s = zk_rmsnorm(ctx, make(&xt, x, 3, shape3, bad3), w_, make(&yt, y, 3, shape3, NULL), 1e-6f);
  assert_int_equal(s, ZK_ERR_LAYOUT);
  assert_non_null(strstr(zk_ctx_last_error(ctx), "zk_rmsnorm: x's leading dimensions"));
  /* a negative row stride */
  s = zk_rmsnorm(ctx, make(&xt, x + 8, 2, shape2, neg), w_, make(&yt, y, 2, shape2, NULL), 1e-6f);
  assert_int_equal(s, ZK_ERR_LAYOUT);
  /* data not aligned to its elements */
  DLTensor *xm = make(&xt, x, 2, shape2, compact2);
  xm->byte_offset = 2;
  s = zk_rmsnorm(ctx, xm, w_, make(&yt, y, 2, shape2, NULL), 1e-6f);
  assert_int_equal(s, ZK_ERR_LAYOUT);
  assert_non_null(strstr(zk_ctx_last_error(ctx), "not aligned"));
  /* a vector dtype (lanes 2), and a 0-d x for a row op */
  DLTensor *xl = make(&xt, x, 2, shape2, NULL);
  xl->dtype.lanes = 2;
  assert_int_equal(zk_rmsnorm(ctx, xl, w_, make(&yt, y, 2, shape2, NULL), 1e-6f), ZK_ERR_DTYPE);
  assert_int_equal(zk_rmsnorm(ctx, make(&xt, x, 0, shape0, NULL), w_, make(&yt, y, 0, shape0, NULL), 1e-6f),
                   ZK_ERR_SHAPE);
  /* a tensor on another device */
  DLTensor *xd = make(&xt, x, 2, shape2, NULL);
  xd->device.device_type = kDLCUDA;
  assert_int_equal(zk_rmsnorm(ctx, xd, w_, make(&yt, y, 2, shape2, NULL), 1e-6f), ZK_ERR_DEVICE);
  assert_string_equal(zk_ctx_last_error(ctx), "zk_rmsnorm: x is on cuda:0, the context is on cpu:0");
  zk_ctx_destroy(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(catalog_is_complete),      cmocka_unit_test(unsupported_op_says_so),
      cmocka_unit_test(contexts),                 cmocka_unit_test(status_names),
      cmocka_unit_test(strided_views_and_byte_offset), cmocka_unit_test(stride_zero_input_repeats_a_row),
      cmocka_unit_test(empty_tensors_are_a_noop), cmocka_unit_test(bad_layouts),
  };
  return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
