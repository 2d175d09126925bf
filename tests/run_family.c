/* Runs one family's tests on one backend under cmocka:
 *   zk_family_test <family> <cpu|cuda>
 * For each op: the standard sweep against the float64 reference, the
 * bad-input cases, and (grads) the reference VJP against central
 * differences; then the family's extra tests.  Exits 77 (CTest: skipped)
 * for cuda where no GPU is usable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "harness/harness.h"

static zk_ctx *ctx;
static zk_backend backend;

/* On CUDA the sweep adds row lengths whose rows are 16-byte aligned (8 and
 * 4096, compact), so the vector paths run too; the spec's lengths are all
 * odd.  Under a sanitizer (ZK_SWEEP=sanitizer) the sweep keeps every shape
 * class that straddles a vector or block width but drops the largest. */
static const int64_t cuda_rows[] = {0, 1, 3, 257};
static const int64_t cuda_cols[] = {1, 3, 8, 31, 33, 255, 257, 4095, 4096, 4097, 32769};
/* Many rows and long rows each, but not both at once: 257 x 32769 would
 * cost the GPU host minutes of float64 reference time and adds no path. */
static const zk_sweep cuda_sweep = {cuda_rows, 4, cuda_cols, 11, 2 << 20};
static const int64_t small_rows[] = {0, 1, 3, 33};
static const int64_t small_cols[] = {1, 3, 8, 31, 33, 255, 257, 4096, 4097};
static const zk_sweep sanitizer_sweep = {small_rows, 4, small_cols, 9, 0};

static const zk_sweep *chosen_sweep(void) {
  const char *env = getenv("ZK_SWEEP");
  if (env && !strcmp(env, "sanitizer")) return &sanitizer_sweep;
  return backend == ZK_BACKEND_CUDA ? &cuda_sweep : &zk_standard_sweep;
}

static void test_sweep(void **state) {
  const zk_op_test *t = *state;
  zk_sweep_result res;
  zk_run_sweep(t, ctx, backend, chosen_sweep(), zk_test_seed() ^ (uint64_t)(uintptr_t)t->op[0], &res);
  print_message("%s: %d cases, %d failed\n", t->op, res.cases, res.failed);
  if (res.failed) fail_msg("%s", res.first_failure);
}

static void test_bad_input(void **state) {
  const zk_op_test *t = *state;
  char msg[512];
  if (zk_run_bad_inputs(t, ctx, backend, msg, sizeof msg)) fail_msg("%s", msg);
}

static void test_fd(void **state) {
  const zk_op_test *t = *state;
  double err = t->fd_check(zk_test_seed());
  print_message("%s: reference VJP vs central differences: max relative error %.2e\n", t->op, err);
  if (!(err <= 1e-6)) fail_msg("%s: reference VJP off central differences by %.3g (> 1e-6)", t->op, err);
}

static void test_extra(void **state) {
  const zk_extra_test *x = *state;
  char msg[512] = "";
  if (x->fn(ctx, backend, msg, sizeof msg)) fail_msg("%s: %s", x->name, msg);
}

static void test_unsupported(void **state) {
  const zk_op_test *t = *state;
  zk_case c;
  zk_case_opts o = {backend, ZK_F32, ZK_F32, 3, 33, 0, 0, 1, -1, -1};
  if (zk_case_init(&c, t, &o)) fail_msg("%s: cannot set up a case", t->op);
  zk_status s = t->call(ctx, &c);
  const char *want = backend == ZK_BACKEND_CUDA ? "not implemented on cuda" : "not implemented on cpu";
  int ok = s == ZK_ERR_UNSUPPORTED && strstr(zk_ctx_last_error(ctx), want);
  char msg[600];
  snprintf(msg, sizeof msg, "%s: %s (%s)", t->op, zk_status_name(s), zk_ctx_last_error(ctx));
  zk_case_free(&c);
  if (!ok) fail_msg("expected ZK_ERR_UNSUPPORTED \"%s\", got %s", want, msg);
}

static int supported(const char *op) {
  size_t count;
  const zk_op_info *info = zk_catalog(&count);
  for (size_t i = 0; i < count; i++)
    if (!strcmp(info[i].name, op)) return backend == ZK_BACKEND_CUDA ? info[i].cuda : info[i].cpu;
  return 0;
}

static char *name_of(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *s = malloc(n);
  snprintf(s, n, "%s/%s", a, b);
  return s;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <family> <cpu|cuda>\n", argv[0]);
    return 2;
  }
  const zk_family_tests *fam = NULL;
  for (int f = 0; f < zk_n_families; f++)
    if (!strcmp(zk_all_families[f]->family, argv[1])) fam = zk_all_families[f];
  if (!fam) {
    fprintf(stderr, "no family %s\n", argv[1]);
    return 2;
  }
  backend = strcmp(argv[2], "cuda") ? ZK_BACKEND_CPU : ZK_BACKEND_CUDA;
  if (backend == ZK_BACKEND_CUDA && !zk_dev_available()) {
    printf("%s on cuda: skipped (no usable CUDA device or library built without CUDA)\n", fam->family);
    return 77;
  }
  zk_status s = zk_ctx_create(&ctx, backend == ZK_BACKEND_CUDA ? kDLCUDA : kDLCPU, 0);
  if (s != ZK_OK) {
    fprintf(stderr, "cannot create a %s context: %s\n", argv[2], zk_status_name(s));
    return 1;
  }
  printf("seed %llu (set ZK_TEST_SEED to repeat)\n", (unsigned long long)zk_test_seed());
  struct CMUnitTest *tests = calloc((size_t)(3 * fam->nops + fam->nextras), sizeof *tests);
  size_t n = 0;
  for (int i = 0; i < fam->nops; i++) {
    const zk_op_test *t = &fam->ops[i];
    if (!supported(t->op)) {
      tests[n++] = (struct CMUnitTest){name_of(t->op, "unsupported"), test_unsupported, NULL, NULL, (void *)t};
      continue;
    }
    tests[n++] = (struct CMUnitTest){name_of(t->op, "sweep"), test_sweep, NULL, NULL, (void *)t};
    tests[n++] = (struct CMUnitTest){name_of(t->op, "bad_input"), test_bad_input, NULL, NULL, (void *)t};
    if (t->fd_check) tests[n++] = (struct CMUnitTest){name_of(t->op, "central_differences"), test_fd, NULL, NULL, (void *)t};
  }
  for (int i = 0; i < fam->nextras; i++)
    tests[n++] = (struct CMUnitTest){name_of(fam->family, fam->extras[i].name), test_extra, NULL, NULL,
                                     (void *)&fam->extras[i]};
  char group[64];
  snprintf(group, sizeof group, "%s_%s", fam->family, argv[2]);
  int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
  for (size_t i = 0; i < n; i++) free((char *)tests[i].name);
  free(tests);
  zk_ctx_destroy(ctx);
  return failed ? 1 : 0;
}
