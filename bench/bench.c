/* `zkern bench`: validate each op against the reference, then time it.
 *
 * Per op and shape: µs per call (median of many calls: monotonic clock on
 * the CPU, CUDA events after warm-up on the GPU, with input sets rotated so
 * that more than the L2 cache is touched between reuses), GB/s from the
 * minimal bytes (every input read once, every output written once, an
 * in-place tensor both), % of the copy bandwidth measured in the same run,
 * and the speed-up over the same computation composed from unfused zkern
 * ops where one exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"

typedef struct bench_shape {
  int64_t rows, cols;
  zk_dtype dtype;
  const char *label;
} bench_shape;

static const bench_shape cpu_shapes[] = {{8192, 4096, ZK_F32, "train"}, {8192, 4096, ZK_BF16, "train"}};
static const bench_shape cpu_quick[] = {{1024, 4096, ZK_F32, "quick"}, {1024, 4096, ZK_BF16, "quick"}};
static const bench_shape gpu_shapes[] = {
    {8192, 4096, ZK_F32, "train"},  {8192, 4096, ZK_BF16, "train"}, {1, 4096, ZK_BF16, "decode"},
    {8, 4096, ZK_BF16, "decode"},   {32, 4096, ZK_BF16, "decode"},  {2048, 32768, ZK_BF16, "long"},
    {512, 131072, ZK_BF16, "long"},
};
static const bench_shape gpu_quick[] = {{8192, 4096, ZK_F32, "train"}, {8192, 4096, ZK_BF16, "train"}};

typedef struct bench_opts {
  zk_backend backend;
  int quick, reps;
  int json;           /* --json: JSON on stdout, the table on stderr */
  const char *out;    /* --out FILE: JSON written to FILE as well */
  int64_t rows, cols;  /* --rows/--cols override (0 = defaults) */
  int nops;
  char **ops;
} bench_opts;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double bytes_of(const zk_case *c) {
  if (c->test->min_bytes) return c->test->min_bytes(c);
  double b = 0;
  for (int k = 0; k < c->test->nt; k++)  // an in-place tensor is read and written
    if (c->present[k])
      b += (double)zk_case_numel(c, k) * zk_dtype_size(c->tdtype[k]) * (c->test->t[k].role == ZK_INOUT ? 2 : 1);
  return b;
}

static size_t largest_tensor(const zk_case *c) {
  size_t m = 0;
  for (int k = 0; k < c->test->nt; k++)
    if (c->present[k] && c->bytes[k] > m) m = c->bytes[k];
  return m;
}

/* Median µs of fn over rotating cases. */
typedef zk_status (*timed_fn)(zk_ctx *ctx, zk_case *c, void *arg);

static double time_calls(zk_ctx *ctx, zk_backend backend, zk_case *sets, int nsets, int small, int reps, timed_fn fn,
                         void *arg, zk_status *status) {
  double *t = malloc((size_t)reps * sizeof *t);
  *status = ZK_OK;
  for (int i = 0; i < 3 && *status == ZK_OK; i++) *status = fn(ctx, &sets[i % nsets], arg);  // warm-up
  if (backend == ZK_BACKEND_CUDA) zk_ctx_synchronize(ctx);
  /* Calls that move less than the L2 holds take microseconds, about what
   * one pair of events costs: those are timed 20 calls to an event pair
   * (back to back, launch included), reported per call. */
  int batch = backend == ZK_BACKEND_CUDA && small ? 20 : 1;
  for (int i = 0; i < reps && *status == ZK_OK; i++) {
    if (backend == ZK_BACKEND_CUDA) {
      zk_gpu_timer_begin();
      for (int k = 0; k < batch && *status == ZK_OK; k++) *status = fn(ctx, &sets[(i * batch + k) % nsets], arg);
      t[i] = zk_gpu_timer_end_us() / batch;
    } else {
      double t0 = zk_now_us();
      *status = fn(ctx, &sets[i % nsets], arg);
      t[i] = zk_now_us() - t0;
    }
  }
  if (backend == ZK_BACKEND_CUDA && *status == ZK_OK) *status = zk_ctx_synchronize(ctx);
  qsort(t, (size_t)reps, sizeof *t, cmp_double);
  double med = t[reps / 2];
  free(t);
  return med;
}

static zk_status call_op(zk_ctx *ctx, zk_case *c, void *arg) {
  (void)arg;
  return c->test->call(ctx, c);
}

typedef struct compose_arg {
  const zk_composition *comp;
  void *tmp;
} compose_arg;

static zk_status call_composed(zk_ctx *ctx, zk_case *c, void *arg) {
  compose_arg *a = arg;
  return a->comp->run(ctx, c, a->tmp);
}

static void *alloc_temp(zk_backend backend, size_t bytes) {
  if (backend == ZK_BACKEND_CPU) return malloc(bytes);
  void *p = NULL;
  return zk_dev_alloc(&p, bytes) ? NULL : p;
}

static void free_temp(zk_backend backend, void *p) {
  if (backend == ZK_BACKEND_CPU) free(p);
  else if (p) zk_dev_free(p);
}

static int selected(const bench_opts *o, const char *op) {
  if (!o->nops) return 1;
  for (int i = 0; i < o->nops; i++)
    if (!strcmp(o->ops[i], op)) return 1;
  return 0;
}

static int parse(int argc, char **argv, bench_opts *o) {
  memset(o, 0, sizeof *o);
  if (zk_parse_backend(argc, argv, &o->backend)) return -1;
  o->ops = calloc((size_t)argc + 1, sizeof *o->ops);
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--backend")) i++;
    else if (!strcmp(argv[i], "--quick")) o->quick = 1;
    else if (!strcmp(argv[i], "--json")) o->json = 1;
    else if (!strcmp(argv[i], "--out") && i + 1 < argc) o->out = argv[++i];
    else if (!strcmp(argv[i], "--rows") && i + 1 < argc) o->rows = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--cols") && i + 1 < argc) o->cols = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) o->reps = atoi(argv[++i]);
    else if (argv[i][0] == '-') return -1;
    else o->ops[o->nops++] = argv[i];
  }
  if (!o->reps) o->reps = o->backend == ZK_BACKEND_CUDA ? 50 : (o->quick ? 5 : 11);
  return 0;
}

int zk_cmd_bench(int argc, char **argv) {
  bench_opts o;
  if (parse(argc, argv, &o)) {
    fprintf(stderr, "usage: zkern bench [OPS...] [--backend cpu|cuda] [--json] [--out FILE] [--quick] [--rows R --cols D] [--reps N]\n");
    return 2;
  }
  zk_ctx *ctx;
  zk_status s = zk_ctx_create(&ctx, o.backend == ZK_BACKEND_CUDA ? kDLCUDA : kDLCPU, 0);
  if (s != ZK_OK) {
    fprintf(stderr, "zkern bench: no %s context: %s\n", o.backend == ZK_BACKEND_CUDA ? "cuda" : "cpu", zk_status_name(s));
    return 1;
  }
  const bench_shape *shapes;
  int nshapes;
  bench_shape custom[2];
  if (o.rows && o.cols) {
    custom[0] = (bench_shape){o.rows, o.cols, ZK_F32, "custom"};
    custom[1] = (bench_shape){o.rows, o.cols, ZK_BF16, "custom"};
    shapes = custom, nshapes = 2;
  } else if (o.backend == ZK_BACKEND_CUDA) {
    shapes = o.quick ? gpu_quick : gpu_shapes;
    nshapes = o.quick ? 2 : (int)(sizeof gpu_shapes / sizeof gpu_shapes[0]);
  } else {
    shapes = o.quick ? cpu_quick : cpu_shapes;
    nshapes = 2;
  }
  /* The table goes to stdout, or to stderr when stdout carries the JSON. */
  FILE *table = o.json ? stderr : stdout;
  FILE *json = o.out ? fopen(o.out, "w") : o.json ? stdout : NULL;
  if (o.out && !json) {
    fprintf(stderr, "zkern bench: cannot write %s\n", o.out);
    zk_ctx_destroy(ctx);
    return 1;
  }
  char device[128];
  zk_device_name(o.backend, device, sizeof device);
  double copy = zk_copy_bandwidth_gbps(o.backend, o.backend == ZK_BACKEND_CUDA ? (size_t)1 << 30 : (size_t)256 << 20,
                                       zk_ctx_threads(ctx));
  size_t l2 = o.backend == ZK_BACKEND_CUDA ? zk_device_l2_bytes() : 0;
  if (o.backend == ZK_BACKEND_CPU)
    fprintf(table, "zkern bench on %s (cpu, %d threads): memcpy on %d threads %.1f GB/s (read + write, median)\n", device,
           zk_ctx_threads(ctx), zk_ctx_threads(ctx), copy);
  else
    fprintf(table, "zkern bench on %s (cuda): device copy %.1f GB/s (read + write, median)\n", device, copy);
  fprintf(table, "%-28s %-5s %6s %7s %10s %9s %7s %9s  %s\n", "op", "dtype", "rows", "cols", "us", "GB/s", "%copy", "vs unfused",
         "unfused recipe");
  if (json)
    fprintf(json, "{\"device\": \"%s\", \"backend\": \"%s\", \"copy_gbps\": %.2f, \"results\": [\n", device,
            o.backend == ZK_BACKEND_CUDA ? "cuda" : "cpu", copy);
  int first = 1, failures = 0;
  size_t count;
  const zk_op_info *ops = zk_catalog(&count);
  uint64_t seed = zk_test_seed();
  for (size_t i = 0; i < count; i++) {
    int supported = o.backend == ZK_BACKEND_CUDA ? ops[i].cuda : ops[i].cpu;
    if (!supported || !selected(&o, ops[i].name)) continue;
    const zk_op_test *t = zk_find_test(ops[i].name);
    if (!t) continue;
    /* An op with its own bench shape (N-D layouts: 8192 tokens × 32 heads
     * × 128 for rope) runs that shape in f32 and bf16 instead. */
    const bench_shape own[2] = {{t->bench_rows, t->bench_cols, ZK_F32, "bar"},
                                {t->bench_rows, t->bench_cols, ZK_BF16, "bar"}};
    int use_own = t->bench_rows > 0 && !(o.rows && o.cols);
    for (int si = 0; si < (use_own ? 2 : nshapes); si++) {
      const bench_shape *sh = use_own ? &own[si] : &shapes[si];
      int64_t D = sh->cols;
      if (t->max_cols && D > t->max_cols) continue;
      /* Validate first: the op on this dtype and row length, a few rows. */
      char msg[512];
      zk_case_opts v = {o.backend, sh->dtype, sh->dtype, sh->rows < 4 ? sh->rows : 4, D, 0, 0, seed + i, -1, -1, 0};
      if (zk_run_case(t, ctx, &v, msg, sizeof msg)) {
        fprintf(table, "%-28s %-5s %6lld %7lld  FAIL validation: %s\n", ops[i].name, zk_dtype_name(sh->dtype),
               (long long)sh->rows, (long long)D, msg);
        failures++;
        continue;
      }
      zk_case_opts b = {o.backend, sh->dtype, sh->dtype, sh->rows, D, 0, 0, seed + i, -1, -1, 1};
      zk_case probe;
      if (zk_case_init(&probe, t, &b)) {
        zk_case_free(&probe);
        fprintf(table, "%-28s %-5s  cannot allocate the case\n", ops[i].name, zk_dtype_name(sh->dtype));
        continue;
      }
      double bytes = bytes_of(&probe);
      size_t set_bytes = 0;
      for (int k = 0; k < t->nt; k++) set_bytes += probe.present[k] ? probe.bytes[k] : 0;
      int nsets = 1;
      if (l2 && set_bytes < 3 * l2) nsets = (int)((3 * l2) / (set_bytes ? set_bytes : 1)) + 1;
      if (nsets > 32) nsets = 32;
      zk_case *sets = calloc((size_t)nsets, sizeof *sets);
      sets[0] = probe;
      for (int k = 1; k < nsets; k++) {
        b.seed = seed + i + (uint64_t)k;
        zk_case_init(&sets[k], t, &b);
      }
      zk_status st;
      int small = l2 && set_bytes < l2;
      double us = time_calls(ctx, o.backend, sets, nsets, small, o.reps, call_op, NULL, &st);
      const zk_composition *comp = zk_find_composition(ops[i].name);
      double unfused = 0;
      if (comp && st == ZK_OK) {
        void *tmp = alloc_temp(o.backend, (size_t)comp->temps * largest_tensor(&probe) + 64);
        compose_arg arg = {comp, tmp};
        zk_status cs;
        if (tmp) unfused = time_calls(ctx, o.backend, sets, nsets, small, o.reps, call_composed, &arg, &cs);
        if (!tmp || cs != ZK_OK) unfused = 0;
        free_temp(o.backend, tmp);
      }
      for (int k = 0; k < nsets; k++) zk_case_free(&sets[k]);
      free(sets);
      if (st != ZK_OK) {
        fprintf(table, "%-28s %-5s %6lld %7lld  FAIL: %s\n", ops[i].name, zk_dtype_name(sh->dtype), (long long)sh->rows,
               (long long)D, zk_ctx_last_error(ctx));
        failures++;
        continue;
      }
      double gbps = bytes / (us * 1e3), pct = copy > 0 ? 100.0 * gbps / copy : 0;
      char speedup[32] = "-";
      if (unfused > 0) snprintf(speedup, sizeof speedup, "%.2fx", unfused / us);
      fprintf(table, "%-28s %-5s %6lld %7lld %10.2f %9.1f %6.1f%% %9s  %s\n", ops[i].name, zk_dtype_name(sh->dtype),
             (long long)sh->rows, (long long)D, us, gbps, pct, speedup, comp ? comp->recipe : "");
      fflush(table);
      if (json) {
        fprintf(json,
                "%s  {\"op\": \"%s\", \"dtype\": \"%s\", \"rows\": %lld, \"cols\": %lld, \"shape\": \"%s\", "
                "\"us\": %.3f, \"gbps\": %.2f, \"pct_copy\": %.2f, \"unfused_us\": %.3f, \"unfused\": \"%s\"}",
                first ? "" : ",\n", ops[i].name, zk_dtype_name(sh->dtype), (long long)sh->rows, (long long)D, sh->label,
                us, gbps, pct, unfused, comp ? comp->recipe : "");
        first = 0;
        fflush(json); /* a run stopped by a time limit keeps every row it finished */
      }
    }
  }
  if (json) {
    fprintf(json, "\n]}\n");
    if (json != stdout) fclose(json);
  }
  zk_ctx_destroy(ctx);
  free(o.ops);
  if (failures) fprintf(table, "%d benchmark validation failures\n", failures);
  return failures ? 1 : 0;
}
