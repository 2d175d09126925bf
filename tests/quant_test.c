/* Test descriptors and extras of the quant family (spec §12).
 *
 * x is the sweep's [R, D] (int8 codes, or uint8 bytes holding 2·D int4
 * values); y [R, D] (int4: [R, 2D]) in the case's dtype; scale and
 * zero_point compact, in the parameter dtype, shaped by the grouping mode
 * the descriptor's scalars name (the layout hook).  The sweep runs per-row
 * scales; the extras cover the "Tests must check" items: known answers,
 * all 256 codes, the three modes with g ∈ {32, 64, 128}, the int4 nibble
 * order and signedness, zero point 8 versus signed codes, IEEE edge cases
 * and the grouping errors. */
#include <math.h>
#include <string.h>
#include <zkern/quant.h>
#include "../src/ref/quant.h"
#include "harness/checks.h"
#include "harness/harness.h"

/* Scalars: s[0] group_size, s[1] scale mode, s[2] is_signed (int4), s[3]
 * zero_point mode (int4).  The modes are the test's way to shape scales. */
enum { PER_ROW, PER_TENSOR, PER_GROUP, PER_ROW_KEEPDIM, PER_TENSOR_0D };

static int is_int4(const zk_op_test *t) { return !strcmp(t->op, "dequantize_int4"); }

/* Logical values per row. */
static int64_t logical_cols(const zk_case *c) { return is_int4(c->test) ? 2 * c->D : c->D; }

static void quant_layout(const zk_case *c, int k, zk_layout *L) {
  int mode = (int)c->s[k == 1 ? 1 : 3];
  int64_t g = (int64_t)c->s[0], R = c->one_d ? 1 : c->R, D = logical_cols(c);
  L->compact = 1;
  L->row_dims = 1;
  switch (mode) {
    case PER_TENSOR: L->ndim = 1, L->dims[0] = 1; break;
    case PER_TENSOR_0D: L->ndim = 0; break;
    case PER_GROUP: L->ndim = 2, L->dims[0] = R, L->dims[1] = g > 0 ? D / g : D; break;
    case PER_ROW_KEEPDIM: L->ndim = 2, L->dims[0] = R, L->dims[1] = 1; break;
    default: L->ndim = 1, L->dims[0] = R; break;
  }
}

/* Codes: every int8 value, or every byte, uniformly. */
static void quant_fill(zk_case *c, int k, double *v, int64_t n) {
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  int lo = c->tdtype[k] == ZK_I8 ? -128 : 0;
  for (int64_t i = 0; i < n; i++) v[i] = (double)(lo + (int)(zk_rand_u64(&rng) % 256));
}

static zk_status call_int8(zk_ctx *ctx, zk_case *c) {
  return zk_dequantize_int8(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (int64_t)c->s[0]);
}
static zk_status call_silu_int8(zk_ctx *ctx, zk_case *c) {
  return zk_dequantize_silu_int8(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), (int64_t)c->s[0]);
}
static zk_status call_int4(zk_ctx *ctx, zk_case *c) {
  return zk_dequantize_int4(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 2), ZT(c, 3), (int64_t)c->s[0], (int)c->s[2]);
}

static void ref_int8_common(zk_case *c, int silu) {
  zk_ref_dequantize_int8(c->val[0], c->val[1], zk_case_numel(c, 1), c->ref[2], c->rows[0], c->cols[0],
                         (int64_t)c->s[0], silu);
}
static void ref_int8(zk_case *c) { ref_int8_common(c, 0); }
static void ref_silu_int8(zk_case *c) { ref_int8_common(c, 1); }
static void ref_int4(zk_case *c) {
  zk_ref_dequantize_int4(c->val[0], c->val[1], zk_case_numel(c, 1), c->present[2] ? c->val[2] : NULL,
                         c->present[2] ? zk_case_numel(c, 2) : 0, c->ref[3], c->rows[0], c->cols[0],
                         (int64_t)c->s[0], (int)c->s[2]);
}

#define CODES(dt) {"x", ZK_IN, ZK_SHAPE_ROWS, dt, 0, 0, ZK_DIST_CUSTOM, 0, 0}
#define SCALE(name, opt, lo, hi) {name, ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_PARAM, opt, 0, ZK_DIST_UNIFORM, lo, hi}
#define Y(rule, tol) {"y", ZK_OUT, rule, ZK_DT_CASE, 0, tol, 0, 0, 0}
/* group_size < 0 is ARG; 4 does not divide the bad cases' 33 (int4: 66) values. */
#define BAD_GROUPS .bad = {{0, -1, ZK_ERR_ARG}, {0, 4, ZK_ERR_SHAPE}}, .nbad = 2
#define COMMON .layout = quant_layout, .fill = quant_fill, BAD_GROUPS

static const zk_op_test quant_tests[] = {
    {.op = "dequantize_int8",
     .t = {CODES(ZK_DT_I8), SCALE("scale", 0, -1, 1), Y(ZK_SHAPE_ROWS, ZK_TOL_EXACT)},
     .nt = 3,
     .call = call_int8,
     .ref = ref_int8,
     COMMON},
    {.op = "dequantize_silu_int8",
     .t = {CODES(ZK_DT_I8), SCALE("scale", 0, -0.1, 0.1), Y(ZK_SHAPE_ROWS, ZK_TOL_EW)},
     .nt = 3,
     .call = call_silu_int8,
     .ref = ref_silu_int8,
     COMMON},
    {.op = "dequantize_int4",
     .t = {CODES(ZK_DT_U8), SCALE("scale", 0, -1, 1), SCALE("zero_point", 1, 0, 15), Y(ZK_SHAPE_ROWS2, ZK_TOL_EXACT)},
     .nt = 4,
     .call = call_int4,
     .ref = ref_int4,
     COMMON},
};
#define N_OPS ((int)(sizeof quant_tests / sizeof quant_tests[0]))

/* ================================================================ extras */

static const zk_dtype all_dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

/* op's descriptor with its scalars replaced. */
static zk_op_test variant(const char *op, double g, double mode, double is_signed, double zp_mode) {
  zk_op_test t = *zk_find_test(op);
  t.scalars[0] = g, t.scalars[1] = mode, t.scalars[2] = is_signed, t.scalars[3] = zp_mode;
  return t;
}

/* A compact case of t whose inputs the caller then sets. */
static int setup(zk_case *c, const zk_op_test *t, zk_backend be, zk_dtype dt, int64_t R, int64_t D, int absent,
                 char *msg, size_t cap) {
  zk_case_opts o = {be, dt, ZK_F32, R, D, 0, 0, 99, absent, -1};
  return zk_case_setup(c, t, &o, msg, cap);
}

/* Sets tensor k's elements to v[0..n). */
static int set_all(zk_case *c, int k, const double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (zk_case_set_index(c, k, i, (int64_t)v[i]) && c->backend == ZK_BACKEND_CUDA) return 1;
  return 0;
}

/* Runs c, checks it against the reference and, where want is given,
 * against those values too (bit for bit, sign of zero included). */
static int run_expect(zk_case *c, zk_ctx *ctx, int out, const double *want, char *msg, size_t cap) {
  int fail = zk_case_run_checked(c, ctx, msg, cap);
  for (int64_t i = 0; !fail && want && i < zk_case_numel(c, out); i++)
    if (!(c->got[out][i] == want[i] && signbit(c->got[out][i]) == signbit(want[i])))
      fail = zk_fail_at(msg, cap, c, out, i, "differs from the known answer");
  zk_case_free(c);
  return fail;
}

/* Sets element i of f32 input k to v (zk_case_set_index takes integers;
 * the extras keep their float inputs in f32). */
static int set_float(zk_case *c, int k, int64_t i, double v) {
  if (c->tdtype[k] != ZK_F32) return 1;
  float f = (float)v;
  memcpy((char *)c->host[k] + (size_t)i * sizeof f, &f, sizeof f);
  c->val[k][i] = f;
  if (c->backend == ZK_BACKEND_CUDA) return zk_dev_upload(c->dev[k], c->host[k], c->bytes[k]);
  return 0;
}

/* [-8, -1, 0, 3, 7]·0.25, per tensor, into each output dtype. */
static int extra_known_int8(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (!zk_op_supported("dequantize_int8", be)) return 0;
  static const double q[] = {-8, -1, 0, 3, 7}, want[] = {-2.0, -0.25, 0.0, 0.75, 1.75};
  zk_op_test t = variant("dequantize_int8", 0, PER_TENSOR, 0, 0);
  for (int d = 0; d < 3; d++) {
    zk_case c;
    if (setup(&c, &t, be, all_dtypes[d], 1, 5, -1, msg, cap)) return 1;
    if (set_all(&c, 0, q, 5) || set_float(&c, 1, 0, 0.25)) return snprintf(msg, cap, "cannot set inputs"), zk_case_free(&c), 1;
    if (run_expect(&c, ctx, 2, want, msg, cap)) return 1;
  }
  return 0;
}

/* Every int8 code (R = 2 rows of 128), per tensor and per row. */
static int extra_all_codes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"dequantize_int8", "dequantize_silu_int8"};
  for (int o = 0; o < 2; o++) {
    if (!zk_op_supported(ops[o], be)) continue;
    for (int mode = 0; mode < 2; mode++)
      for (int d = 0; d < 3; d++) {
        zk_op_test t = variant(ops[o], 0, mode ? PER_ROW : PER_TENSOR, 0, 0);
        zk_case c;
        if (setup(&c, &t, be, all_dtypes[d], 2, 128, -1, msg, cap)) return 1;
        int seen[256] = {0};
        for (int64_t i = 0; i < 256; i++) {
          if (zk_case_set_index(&c, 0, i, i - 128)) return zk_case_free(&c), snprintf(msg, cap, "upload"), 1;
          seen[(int)c.val[0][i] + 128]++;
        }
        for (int i = 0; i < 256; i++)
          if (seen[i] != 1) return zk_case_free(&c), snprintf(msg, cap, "code %d not stored once", i - 128), 1;
        if (run_expect(&c, ctx, 2, NULL, msg, cap)) return 1;
      }
  }
  return 0;
}

/* Per tensor (also 0-d), per row ([R] and [R, 1]) and per group with
 * g ∈ {32, 64, 128}, each op, dtype and layout; int4 also signed, with and
 * without a zero point whose mode differs from the scale's. */
static int extra_modes(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"dequantize_int8", "dequantize_silu_int8", "dequantize_int4"};
  static const struct {
    int mode;
    int64_t g;
  } modes[] = {{PER_TENSOR, 0},  {PER_TENSOR_0D, 0}, {PER_ROW, 0},     {PER_ROW_KEEPDIM, 0},
               {PER_GROUP, 32}, {PER_GROUP, 64},     {PER_GROUP, 128}, {PER_TENSOR, 64}};
  uint64_t rng = zk_test_seed() ^ 0x9a7;
  for (int o = 0; o < 3; o++) {
    if (!zk_op_supported(ops[o], be)) continue;
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
      for (int d = 0; d < 3; d++) {
        int int4 = o == 2;
        /* D a multiple of every g (int4: 2D logical values), more than one group per row. */
        int64_t D = int4 ? 192 : 384, R = d == 1 ? 1 : 5;
        /* A zero point in another valid mode than the scale's where there is one. */
        int zp_mode = modes[m].g ? (m % 2 ? PER_GROUP : PER_TENSOR) : (m % 2 ? PER_ROW_KEEPDIM : PER_TENSOR);
        zk_op_test t = variant(ops[o], (double)modes[m].g, modes[m].mode, (double)(d == 2), zp_mode);
        for (int strided = 0; strided < 2; strided++)
          for (int absent = -1; absent < (int4 ? 3 : 0); absent += 3) {
            zk_case_opts op = {be, all_dtypes[d], all_dtypes[(d + m) % 3], R, D, strided, 0, zk_rand_u64(&rng),
                               absent, -1};
            if (zk_run_case(&t, ctx, &op, msg, cap)) return 1;
          }
      }
  }
  return 0;
}

/* Bytes [0x21, 0xBA], scale 0.5: [0.5, 1, 5, 5.5] unsigned, [0.5, 1, -3, -2.5] signed. */
static int extra_known_int4(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (!zk_op_supported("dequantize_int4", be)) return 0;
  static const double bytes[] = {0x21, 0xBA};
  static const double want[2][4] = {{0.5, 1.0, 5.0, 5.5}, {0.5, 1.0, -3.0, -2.5}};
  for (int sgn = 0; sgn < 2; sgn++)
    for (int d = 0; d < 3; d++) {
      zk_op_test t = variant("dequantize_int4", 0, PER_TENSOR, sgn, 0);
      zk_case c;
      if (setup(&c, &t, be, all_dtypes[d], 1, 2, 2, msg, cap)) return 1;
      if (set_all(&c, 0, bytes, 2) || set_float(&c, 1, 0, 0.5)) return zk_case_free(&c), snprintf(msg, cap, "set"), 1;
      if (run_expect(&c, ctx, 3, want[sgn], msg, cap)) return 1;
    }
  return 0;
}

/* The same 4-bit values stored both ways: two's complement nibbles read
 * signed, and offset-binary nibbles (v + 8 = nibble ^ 8) read unsigned
 * with zero point 8, give the same bits. */
static int extra_zero_point_8(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (!zk_op_supported("dequantize_int4", be)) return 0;
  for (int d = 0; d < 3; d++) {
    zk_op_test ts = variant("dequantize_int4", 32, PER_GROUP, 1, PER_TENSOR);
    zk_op_test tu = variant("dequantize_int4", 32, PER_GROUP, 0, PER_TENSOR);
    zk_case s, u;
    if (setup(&s, &ts, be, all_dtypes[d], 3, 64, 2, msg, cap)) return 1;
    if (setup(&u, &tu, be, all_dtypes[d], 3, 64, -1, msg, cap)) return zk_case_free(&s), 1;
    int fail = 0;
    for (int64_t i = 0; !fail && i < zk_case_numel(&s, 0); i++)
      fail = zk_case_set_index(&u, 0, i, (int64_t)s.val[0][i] ^ 0x88);
    for (int64_t i = 0; !fail && i < zk_case_numel(&s, 1); i++) fail = set_float(&u, 1, i, s.val[1][i]);
    fail = fail || set_float(&u, 2, 0, 8.0);
    if (fail) snprintf(msg, cap, "cannot set the inputs");
    fail = fail || zk_case_run_checked(&s, ctx, msg, cap) || zk_case_run_checked(&u, ctx, msg, cap);
    for (int64_t i = 0; !fail && i < zk_case_numel(&s, 3); i++)
      if (memcmp(&s.got[3][i], &u.got[3][i], sizeof(double)))
        fail = zk_fail_at(msg, cap, &u, 3, i, "unsigned with zero point 8 differs from signed");
    zk_case_free(&s);
    zk_case_free(&u);
    if (fail) return 1;
  }
  return 0;
}

/* A zero scale gives ±0 (the sign of q), Inf and NaN scales propagate, and
 * values beyond the output dtype round to ±Inf. */
static int extra_scale_edges(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const double q[] = {-3, 0, 5, 127};
  static const double scales[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1000.0, 1e36};
  static const char *ops[] = {"dequantize_int8", "dequantize_silu_int8"};
  for (int o = 0; o < 2; o++) {
    if (!zk_op_supported(ops[o], be)) continue;
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++)
      for (int d = 0; d < 3; d++) {
        zk_op_test t = variant(ops[o], 0, PER_TENSOR, 0, 0);
        zk_case c;
        if (setup(&c, &t, be, all_dtypes[d], 1, 4, -1, msg, cap)) return 1;
        if (set_all(&c, 0, q, 4) || set_float(&c, 1, 0, scales[k])) return zk_case_free(&c), snprintf(msg, cap, "set"), 1;
        double want[4];
        for (int i = 0; i < 4; i++) want[i] = (float)(q[i] * scales[k]);
        /* Zero scales: the product's sign, which the tolerance check ignores. */
        if (o == 0 && scales[k] == 0.0) {
          if (run_expect(&c, ctx, 2, want, msg, cap)) return 1;
        } else if (run_expect(&c, ctx, 2, NULL, msg, cap)) {
          return 1;
        }
      }
  }
  return 0;
}

/* The scale edges again where the 16-bit outputs take the flat kernel
 * (16 values a row, per tensor), whose bf16 store skips the NaN tests when
 * the scale and zero point are finite: Inf and NaN scales, a NaN or
 * infinite zero point, products beyond the dtype, and silu inputs near
 * f32's largest. */
static int extra_flat_scale_edges(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const double scales[] = {INFINITY, -INFINITY, NAN, 1e36, 0x1p119, 0x1p120, -0x1p121, 0.0};
  static const double zero_points[] = {3.0, NAN, INFINITY};
  static const char *ops[] = {"dequantize_int8", "dequantize_silu_int8", "dequantize_int4"};
  for (int o = 0; o < 3; o++) {
    if (!zk_op_supported(ops[o], be)) continue;
    int int4 = o == 2;
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++)
      for (int z = 0; z < (int4 ? 3 : 1); z++)
        for (int d = 0; d < 3; d++) {
          zk_op_test t = variant(ops[o], 0, PER_TENSOR, 0, PER_TENSOR);
          zk_case c;
          if (setup(&c, &t, be, all_dtypes[d], 2, int4 ? 8 : 16, -1, msg, cap)) return 1;
          int fail = set_float(&c, 1, 0, scales[k]) || (int4 && set_float(&c, 2, 0, zero_points[z]));
          if (fail) return zk_case_free(&c), snprintf(msg, cap, "set"), 1;
          if (run_expect(&c, ctx, int4 ? 3 : 2, NULL, msg, cap)) return 1;
        }
  }
  return 0;
}

/* Rejected shapes and dtypes write nothing: a group count for another g,
 * a per-row count with g > 0, codes of the wrong integer type. */
static int expect_status(zk_case *c, zk_ctx *ctx, zk_status want, const char *what, char *msg, size_t cap) {
  zk_status s = zk_case_run(c, ctx);
  int out = c->test->nt - 1, fail = s != want;
  for (int64_t i = 0; !fail && i < zk_case_numel(c, out); i++) fail = !isnan(c->got[out][i]);
  if (fail)
    snprintf(msg, cap, "%s %s: %s gave %s (expected %s) or wrote y", c->test->op, zk_dtype_name(c->dtype), what,
             zk_status_name(s), zk_status_name(want));
  zk_case_free(c);
  return fail;
}

static int extra_grouping_errors(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const char *ops[] = {"dequantize_int8", "dequantize_silu_int8", "dequantize_int4"};
  for (int o = 0; o < 3; o++) {
    if (!zk_op_supported(ops[o], be)) continue;
    zk_case c;
    /* Scales for g = 32 passed with group_size 64. */
    zk_op_test t = variant(ops[o], 32, PER_GROUP, 0, PER_GROUP);
    if (setup(&c, &t, be, ZK_F32, 3, 128, -1, msg, cap)) return 1;
    c.s[0] = 64;
    if (expect_status(&c, ctx, ZK_ERR_SHAPE, "scales of g = 32 with group_size 64", msg, cap)) return 1;
    /* Per-row scales with group_size 32. */
    t = variant(ops[o], 0, PER_ROW, 0, PER_ROW);
    if (setup(&c, &t, be, ZK_F32, 3, 128, -1, msg, cap)) return 1;
    c.s[0] = 32;
    if (expect_status(&c, ctx, ZK_ERR_SHAPE, "per-row scales with group_size 32", msg, cap)) return 1;
    if (o == 2) {
      /* A zero point that fits no mode while the scale does. */
      t = variant(ops[o], 32, PER_GROUP, 0, PER_ROW);
      if (setup(&c, &t, be, ZK_F32, 3, 128, -1, msg, cap)) return 1;
      if (expect_status(&c, ctx, ZK_ERR_SHAPE, "a per-row zero point with group_size 32", msg, cap)) return 1;
    }
    /* Codes of the other 8-bit integer type. */
    t = variant(ops[o], 0, PER_ROW, 0, PER_ROW);
    if (setup(&c, &t, be, ZK_F32, 3, 128, -1, msg, cap)) return 1;
    c.dl[0].dtype = o == 2 ? (DLDataType){kDLInt, 8, 1} : (DLDataType){kDLUInt, 8, 1};
    if (expect_status(&c, ctx, ZK_ERR_DTYPE, o == 2 ? "int8 bytes" : "uint8 codes", msg, cap)) return 1;
  }
  return 0;
}

/* On cuda: int8 and int4 bit for bit equal to the CPU backend (both are
 * *bitwise*), over each path of the CUDA kernels (units of one 16-byte
 * store, 4-value units, single values, strided rows, the flat kernel) and
 * groups that end inside a unit (g = 6, and g = 4 within 8-value units),
 * which switch scales inside one. */
static int extra_cpu_equals_cuda(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const struct {
    const char *op;
    int64_t R, D, g;
    int mode, is_signed, zp_mode, strided;
  } cases[] = {
      {"dequantize_int8", 5, 4096, 128, PER_GROUP, 0, 0, 0},  {"dequantize_int8", 7, 48, 6, PER_GROUP, 0, 0, 0},
      {"dequantize_int8", 9, 36, 4, PER_GROUP, 0, 0, 0},      {"dequantize_int8", 3, 33, 0, PER_ROW, 0, 0, 1},
      {"dequantize_int8", 4, 257, 0, PER_TENSOR, 0, 0, 0},    {"dequantize_int4", 5, 2048, 128, PER_GROUP, 0, PER_GROUP, 0},
      {"dequantize_int4", 7, 24, 6, PER_GROUP, 1, PER_TENSOR, 0}, {"dequantize_int4", 9, 18, 4, PER_GROUP, 0, PER_GROUP, 0},
      {"dequantize_int4", 3, 33, 0, PER_ROW, 1, PER_ROW, 1},
      /* The flat kernel (rows back to back): vectors that straddle rows
       * (per tensor), groups of one 8-value vector, and runs that end
       * inside a warp's tile of 4 × 32 vectors. */
      {"dequantize_int8", 6, 4, 0, PER_TENSOR, 0, 0, 0},      {"dequantize_int8", 33, 40, 8, PER_GROUP, 0, 0, 0},
      {"dequantize_int4", 6, 2, 0, PER_TENSOR, 1, PER_TENSOR, 0}, {"dequantize_int4", 33, 20, 0, PER_ROW, 0, PER_ROW, 0},
      {"dequantize_int4", 5, 36, 8, PER_GROUP, 1, PER_TENSOR, 0},
  };
  if (be != ZK_BACKEND_CUDA) return 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (!zk_op_supported(cases[i].op, be)) continue;
    zk_op_test t = variant(cases[i].op, (double)cases[i].g, cases[i].mode, cases[i].is_signed, cases[i].zp_mode);
    for (int d = 0; d < 3; d++) {
      zk_case_opts o = {be, all_dtypes[d], all_dtypes[(d + i) % 3], cases[i].R, cases[i].D, cases[i].strided, 0,
                        17 + i, -1, -1};
      if (zk_check_cpu_equals_cuda(&t, ctx, &o, msg, cap)) return 1;
    }
  }
  return 0;
}

static const zk_extra_test quant_extras[] = {
    {"known_answer_int8", extra_known_int8},
    {"all_256_codes", extra_all_codes},
    {"grouping_modes", extra_modes},
    {"known_answer_int4", extra_known_int4},
    {"zero_point_8_equals_signed", extra_zero_point_8},
    {"scale_edges", extra_scale_edges},
    {"flat_scale_edges", extra_flat_scale_edges},
    {"grouping_errors", extra_grouping_errors},
    {"cpu_equals_cuda", extra_cpu_equals_cuda},
};

const zk_family_tests zk_tests_quant = {"quant", quant_tests, N_OPS, quant_extras,
                                        sizeof quant_extras / sizeof quant_extras[0]};
