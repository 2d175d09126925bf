/* `zkern list` and `zkern check`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zkern/zkern.h>
#include "bench.h"
#include "harness/harness.h"

int zk_cmd_list(int argc, char **argv) {
  int json = argc > 0 && !strcmp(argv[0], "--json");
  size_t n;
  const zk_op_info *ops = zk_catalog(&n);
  if (json) {
    printf("[\n");
    for (size_t i = 0; i < n; i++)
      printf("  {\"name\": \"%s\", \"family\": \"%s\", \"grad\": %s, \"cpu\": %s, \"cuda\": %s}%s\n", ops[i].name,
             ops[i].family, ops[i].grad ? "true" : "false", ops[i].cpu ? "true" : "false",
             ops[i].cuda ? "true" : "false", i + 1 < n ? "," : "");
    printf("]\n");
    return 0;
  }
  int cpu = 0, cuda = 0;
  printf("%-30s %-12s %-5s %-4s %-4s\n", "op", "family", "grad", "cpu", "cuda");
  for (size_t i = 0; i < n; i++) {
    printf("%-30s %-12s %-5s %-4s %-4s\n", ops[i].name, ops[i].family, ops[i].grad ? "yes" : "", ops[i].cpu ? "yes" : "-",
           ops[i].cuda ? "yes" : "-");
    cpu += ops[i].cpu;
    cuda += ops[i].cuda;
  }
  printf("%zu functions: %d on cpu, %d on cuda (library built %s CUDA)\n", n, cpu, cuda,
         zk_has_cuda() ? "with" : "without");
  return 0;
}

static int selected(const char *op, int argc, char **argv) {
  int any = 0;
  for (int i = 0; i < argc; i++) {
    if (argv[i][0] == '-') continue;
    any = 1;
    if (!strcmp(argv[i], op)) return 1;
  }
  return !any;
}

/* Parses --backend; returns -1 on a bad value. */
int zk_parse_backend(int argc, char **argv, zk_backend *b) {
  *b = ZK_BACKEND_CPU;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--backend")) continue;
    if (i + 1 >= argc) return -1;
    if (!strcmp(argv[i + 1], "cpu")) *b = ZK_BACKEND_CPU;
    else if (!strcmp(argv[i + 1], "cuda")) *b = ZK_BACKEND_CUDA;
    else return -1;
    argv[i + 1] = "-";  /* not an op name */
  }
  return 0;
}

/* Every supported op against the reference on random data, at sizes that
 * straddle the vector and block widths, in every float dtype. */
int zk_cmd_check(int argc, char **argv) {
  zk_backend backend;
  if (zk_parse_backend(argc, argv, &backend)) {
    fprintf(stderr, "zkern check: --backend takes cpu or cuda\n");
    return 2;
  }
  zk_ctx *ctx;
  zk_status s = zk_ctx_create(&ctx, backend == ZK_BACKEND_CUDA ? kDLCUDA : kDLCPU, 0);
  if (s != ZK_OK) {
    fprintf(stderr, "zkern check: no %s context: %s\n", backend == ZK_BACKEND_CUDA ? "cuda" : "cpu", zk_status_name(s));
    return 1;
  }
  static const int64_t rows[] = {1, 7, 64};
  static const int64_t cols[] = {1, 33, 257, 4097};
  const zk_sweep sweep = {rows, 3, cols, 4, 0};
  size_t n;
  const zk_op_info *ops = zk_catalog(&n);
  int pass = 0, fail = 0, missing = 0;
  uint64_t seed = zk_test_seed();
  printf("%-30s %-6s %6s  %s\n", "op", "result", "cases", "first failure");
  for (size_t i = 0; i < n; i++) {
    int supported = backend == ZK_BACKEND_CUDA ? ops[i].cuda : ops[i].cpu;
    if (!supported || !selected(ops[i].name, argc, argv)) continue;
    const zk_op_test *t = zk_find_test(ops[i].name);
    if (!t) {
      printf("%-30s %-6s %6s  no test descriptor\n", ops[i].name, "FAIL", "-");
      missing++;
      continue;
    }
    zk_sweep_result res;
    zk_run_sweep(t, ctx, backend, &sweep, seed + i, &res);
    char bad[600] = "";
    if (!res.failed) {
      char msg[512];
      if (zk_run_bad_inputs(t, ctx, backend, msg, sizeof msg)) {
        res.failed++;
        snprintf(bad, sizeof bad, "bad input: %s", msg);
      }
    }
    printf("%-30s %-6s %6d  %s%s\n", ops[i].name, res.failed ? "FAIL" : "PASS", res.cases, res.first_failure, bad);
    if (res.failed) fail++;
    else pass++;
    fflush(stdout);
  }
  printf("%d passed, %d failed\n", pass, fail + missing);
  zk_ctx_destroy(ctx);
  return fail + missing ? 1 : 0;
}
