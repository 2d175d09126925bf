/* Test descriptors and extras of the bit ops (spec §13).
 *
 * Both are EXACT against the float64 reference.  In the sweep pack_bits'
 * x is the case's [R, D] (so n = R·D takes every residue mod 8) and y
 * [ceil(n/8)]; unpack_bits' y is [R, D], count = numel(y) + scalar 0 (0:
 * the bad-scalar cases move count off numel(y) or below 0), and x has one
 * byte more than count needs, which the kernel must ignore.  The extras
 * cover the "Tests must check" items the sweep does not: the known answer,
 * the listed n, nonzero values other than 1 in every input dtype (bool,
 * uint8, int8), a bool y, the round trip, count = 0, count > 8m. */
#include <stdlib.h>
#include <string.h>
#include <zkern/bits.h>
#include "../src/ref/bits.h"
#include "harness/checks.h"
#include "harness/harness.h"

/* --------------------------------------------------------- shapes, values */

static int64_t case_numel(const zk_case *c) { return c->R * c->D; }

/* [R, D] ([D] in a 1-D case): x of pack, y of unpack.  Its bad-shape case
 * grows dim 0, which changes ceil(n/8) (growing D by one may not). */
static void rows_layout(const zk_case *c, zk_layout *L) {
  L->compact = 1;
  L->free_last = 1;
  if (c->one_d) {
    L->ndim = 1, L->dims[0] = c->D;
  } else {
    L->ndim = 2, L->dims[0] = c->R, L->dims[1] = c->D;
  }
}

static void pack_layout(const zk_case *c, int k, zk_layout *L) {
  if (k == 0) return rows_layout(c, L);
  L->ndim = 1, L->compact = 1, L->dims[0] = (case_numel(c) + 7) / 8;
}

static void unpack_layout(const zk_case *c, int k, zk_layout *L) {
  if (k == 1) return rows_layout(c, L);
  /* One byte past what count needs; any larger x is valid too. */
  L->ndim = 1, L->compact = 1, L->any_larger = 1, L->dims[0] = (case_numel(c) + 7) / 8 + 1;
}

/* pack's x: half zeros, the rest 1, 2, 128 or 255 (-1 as int8): every
 * nonzero byte counts as 1.  unpack's x: any byte. */
static void fill_bytes(zk_case *c, int k, double *v, int64_t n) {
  static const double nonzero[] = {1, 2, 128, 255};
  uint64_t rng = c->seed * 0x9E3779B97F4A7C15ull + (uint64_t)k;
  int packing = !strcmp(c->test->op, "pack_bits");
  for (int64_t i = 0; i < n; i++) {
    uint64_t r = zk_rand_u64(&rng);
    v[i] = packing ? (r & 1 ? nonzero[(r >> 1) & 3] : 0) : (double)(r >> 56);
  }
}

static zk_status call_pack(zk_ctx *ctx, zk_case *c) { return zk_pack_bits(ctx, ZT(c, 0), ZT(c, 1)); }
static void ref_pack(zk_case *c) { zk_ref_pack_bits(c->val[0], case_numel(c), c->ref[1]); }

static int64_t unpack_count(const zk_case *c) { return case_numel(c) + (int64_t)c->s[0]; }
static zk_status call_unpack(zk_ctx *ctx, zk_case *c) { return zk_unpack_bits(ctx, ZT(c, 0), ZT(c, 1), unpack_count(c)); }
static void ref_unpack(zk_case *c) { zk_ref_unpack_bits(c->val[0], unpack_count(c), c->ref[1]); }

static const zk_op_test bits_tests[] = {
    {.op = "pack_bits",
     .t = {{"x", ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_U8, 0, ZK_TOL_EXACT, ZK_DIST_CUSTOM},
           {"y", ZK_OUT, ZK_SHAPE_CUSTOM, ZK_DT_U8, 0, ZK_TOL_EXACT}},
     .nt = 2,
     .call = call_pack,
     .ref = ref_pack,
     .fill = fill_bytes,
     .layout = pack_layout},
    {.op = "unpack_bits",
     .t = {{"x", ZK_IN, ZK_SHAPE_CUSTOM, ZK_DT_U8, 0, ZK_TOL_EXACT, ZK_DIST_CUSTOM},
           {"y", ZK_OUT, ZK_SHAPE_CUSTOM, ZK_DT_U8, 0, ZK_TOL_EXACT}},
     .nt = 2,
     .call = call_unpack,
     .ref = ref_unpack,
     .fill = fill_bytes,
     .layout = unpack_layout,
     /* count < 0 -> ARG; count != numel(y) -> SHAPE (either side). */
     .bad = {{0, -1000, ZK_ERR_ARG}, {0, 1, ZK_ERR_SHAPE}, {0, -1, ZK_ERR_SHAPE}},
     .nbad = 3},
};
#define N_OPS ((int)(sizeof bits_tests / sizeof bits_tests[0]))

/* ================================================================ extras */

static int supported(zk_backend be, const char *op) {
  size_t count;
  const zk_op_info *info = zk_catalog(&count);
  for (size_t i = 0; i < count; i++)
    if (!strcmp(info[i].name, op)) return be == ZK_BACKEND_CUDA ? info[i].cuda : info[i].cpu;
  return 0;
}

/* A hand-made compact tensor of bytes, on the backend's device. */
typedef struct bytes_tensor {
  DLTensor dl;
  int64_t shape[2];
  uint8_t *host;
  void *dev;
} bytes_tensor;

static int bt_make(bytes_tensor *b, zk_backend be, DLDataType dt, int ndim, int64_t d0, int64_t d1, const uint8_t *init) {
  memset(b, 0, sizeof *b);
  int64_t n = ndim == 2 ? d0 * d1 : d0;
  b->shape[0] = d0, b->shape[1] = d1;
  b->host = malloc((size_t)(n ? n : 1));
  if (init) memcpy(b->host, init, (size_t)n);
  else memset(b->host, 0xA5, (size_t)(n ? n : 1));
  b->dl.data = b->host;
  b->dl.ndim = ndim;
  b->dl.shape = b->shape;
  b->dl.dtype = dt;
  b->dl.device.device_type = kDLCPU;
  if (be == ZK_BACKEND_CUDA) {
    if (zk_dev_alloc(&b->dev, (size_t)(n ? n : 1)) || zk_dev_upload(b->dev, b->host, (size_t)(n ? n : 1))) return 1;
    b->dl.data = b->dev;
    b->dl.device.device_type = kDLCUDA;
  }
  return 0;
}

static int64_t bt_numel(const bytes_tensor *b) { return b->dl.ndim == 2 ? b->shape[0] * b->shape[1] : b->shape[0]; }

/* The tensor's bytes back on the host. */
static const uint8_t *bt_read(zk_ctx *ctx, bytes_tensor *b) {
  if (b->dev) {
    zk_ctx_synchronize(ctx);
    zk_dev_download(b->host, b->dev, (size_t)bt_numel(b));
  }
  return b->host;
}

static void bt_free(bytes_tensor *b) {
  if (b->dev) zk_dev_free(b->dev);
  free(b->host);
  memset(b, 0, sizeof *b);
}

static const DLDataType DT_U8 = {kDLUInt, 8, 1}, DT_I8 = {kDLInt, 8, 1}, DT_BOOL = {6, 8, 1};

/* The spec's example, with 2 and -1 among the ones, in each input dtype;
 * then the same bits unpacked into uint8 and bool. */
static int extra_known_answer(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (!supported(be, "pack_bits") || !supported(be, "unpack_bits")) return 0;
  static const uint8_t ones[10] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const uint8_t odd[10] = {2, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF};  /* 2, and -1 as int8 */
  const DLDataType in_types[3] = {DT_U8, DT_I8, DT_BOOL};
  int fail = 0;
  for (int d = 0; d < 3 && !fail; d++)
    for (int v = 0; v < 2 && !fail; v++) {
      if (in_types[d].code == 6 && v) continue;  /* bool holds 0 or 1 */
      bytes_tensor x, y;
      if (bt_make(&x, be, in_types[d], 1, 10, 0, v ? odd : ones) || bt_make(&y, be, DT_U8, 1, 2, 0, NULL)) {
        snprintf(msg, cap, "cannot allocate");
        return 1;
      }
      zk_status s = zk_pack_bits(ctx, &x.dl, &y.dl);
      const uint8_t *out = bt_read(ctx, &y);
      if (s != ZK_OK || out[0] != 0x01 || out[1] != 0x02) {
        snprintf(msg, cap, "pack_bits(dtype code %u, values %s) gave %s [0x%02x, 0x%02x], expected [0x01, 0x02]",
                 in_types[d].code, v ? "2/-1" : "1", zk_status_name(s), out[0], out[1]);
        fail = 1;
      }
      bt_free(&x);
      bt_free(&y);
    }
  static const uint8_t packed[2] = {0x01, 0x02};
  const DLDataType out_types[2] = {DT_U8, DT_BOOL};
  for (int d = 0; d < 2 && !fail; d++) {
    bytes_tensor x, y;
    if (bt_make(&x, be, DT_U8, 1, 2, 0, packed) || bt_make(&y, be, out_types[d], 2, 2, 5, NULL)) {
      snprintf(msg, cap, "cannot allocate");
      return 1;
    }
    zk_status s = zk_unpack_bits(ctx, &x.dl, &y.dl, 10);
    const uint8_t *out = bt_read(ctx, &y);
    if (s != ZK_OK || memcmp(out, ones, 10)) {
      snprintf(msg, cap, "unpack_bits([0x01, 0x02], 10) into dtype code %u gave %s and the wrong bits",
               out_types[d].code, zk_status_name(s));
      fail = 1;
    }
    bt_free(&x);
    bt_free(&y);
  }
  return fail;
}

/* pack_bits at the spec's n (as R = 1, D = n, also 1-D), against the
 * reference; n = 0 is a no-op with an empty y. */
static int extra_listed_lengths(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  static const int64_t ns[] = {0, 1, 7, 8, 9, 1000003};
  uint64_t rng = zk_test_seed() ^ 0xb175;
  for (int i = 0; i < N_OPS; i++) {
    if (!supported(be, bits_tests[i].op)) continue;
    for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
      for (int one_d = 0; one_d < 2; one_d++) {
        zk_case_opts o = {be, ZK_F32, ZK_F32, 1, ns[j], 0, one_d, zk_rand_u64(&rng), -1, -1};
        if (zk_run_case(&bits_tests[i], ctx, &o, msg, cap)) return 1;
      }
  }
  return 0;
}

/* pack then unpack gives (x != 0), for random n (any residue mod 8), in
 * one call each on every thread count the context has. */
static int extra_round_trip(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (!supported(be, "pack_bits") || !supported(be, "unpack_bits")) return 0;
  uint64_t rng = zk_test_seed() ^ 0x7217;
  for (int trial = 0; trial < 12; trial++) {
    int64_t n = (int64_t)(zk_rand_u64(&rng) % (trial < 6 ? 100 : 300000)), m = (n + 7) / 8;
    uint8_t *src = malloc((size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
      uint64_t r = zk_rand_u64(&rng);
      src[i] = r & 1 ? (uint8_t)(r >> 8) | 1 : 0;
    }
    bytes_tensor x, y, back;
    if (bt_make(&x, be, DT_I8, 1, n, 0, src) || bt_make(&y, be, DT_U8, 1, m, 0, NULL) ||
        bt_make(&back, be, DT_U8, 1, n, 0, NULL)) {
      snprintf(msg, cap, "cannot allocate");
      return 1;
    }
    zk_status s1 = zk_pack_bits(ctx, &x.dl, &y.dl), s2 = zk_unpack_bits(ctx, &y.dl, &back.dl, n);
    const uint8_t *out = bt_read(ctx, &back);
    int fail = s1 != ZK_OK || s2 != ZK_OK;
    int64_t bad = -1;
    for (int64_t i = 0; i < n && !fail; i++)
      if (out[i] != (src[i] != 0)) bad = i, fail = 1;
    if (fail)
      snprintf(msg, cap, "round trip n = %lld: %s / %s, element %lld", (long long)n, zk_status_name(s1),
               zk_status_name(s2), (long long)bad);
    bt_free(&x);
    bt_free(&y);
    bt_free(&back);
    free(src);
    if (fail) return 1;
  }
  return 0;
}

/* count = 0 is a no-op (x may be empty); count > 8m and a 2-D x are SHAPE,
 * a bool y for pack_bits DTYPE; a rejected call writes nothing. */
static int extra_edges(zk_ctx *ctx, zk_backend be, char *msg, size_t cap) {
  if (!supported(be, "pack_bits") || !supported(be, "unpack_bits")) return 0;
  static const uint8_t packed[3] = {0xFF, 0x0F, 0x80};
  static const struct {
    int x_ndim;
    int64_t m, count, y_numel;
    zk_status want;
    const char *what;
  } cases[] = {
      {1, 0, 0, 0, ZK_OK, "count = 0, empty x"},
      {1, 3, 0, 0, ZK_OK, "count = 0"},
      {1, 3, 25, 25, ZK_ERR_SHAPE, "count = 25 > 8·3"},
      {1, 3, 24, 24, ZK_OK, "count = 8m"},
      {2, 3, 8, 8, ZK_ERR_SHAPE, "x of shape [1, 3]"},
      {1, 3, -1, 0, ZK_ERR_ARG, "count = -1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bytes_tensor x, y;
    int64_t m = cases[i].m, ny = cases[i].y_numel;
    if (bt_make(&x, be, DT_U8, cases[i].x_ndim, cases[i].x_ndim == 2 ? 1 : m, m, packed) ||
        bt_make(&y, be, DT_U8, 1, ny, 0, NULL)) {
      snprintf(msg, cap, "cannot allocate");
      return 1;
    }
    zk_status s = zk_unpack_bits(ctx, &x.dl, &y.dl, cases[i].count);
    const uint8_t *out = bt_read(ctx, &y);
    int fail = s != cases[i].want;
    for (int64_t e = 0; e < ny && !fail; e++) {
      int want = cases[i].want == ZK_OK ? (packed[e / 8] >> (e % 8)) & 1 : 0xA5;
      fail = out[e] != want;
    }
    if (fail)
      snprintf(msg, cap, "unpack_bits %s: %s (expected %s) or wrong bytes (%s)", cases[i].what, zk_status_name(s),
               zk_status_name(cases[i].want), zk_ctx_last_error(ctx));
    bt_free(&x);
    bt_free(&y);
    if (fail) return 1;
  }
  bytes_tensor x, y;
  if (bt_make(&x, be, DT_U8, 1, 9, 0, NULL) || bt_make(&y, be, DT_BOOL, 1, 2, 0, NULL)) {
    snprintf(msg, cap, "cannot allocate");
    return 1;
  }
  zk_status s = zk_pack_bits(ctx, &x.dl, &y.dl);
  const uint8_t *out = bt_read(ctx, &y);
  int fail = s != ZK_ERR_DTYPE || out[0] != 0xA5 || out[1] != 0xA5;
  if (fail) snprintf(msg, cap, "pack_bits into a bool y: %s, expected ZK_ERR_DTYPE and y untouched", zk_status_name(s));
  bt_free(&x);
  bt_free(&y);
  return fail;
}

static const zk_extra_test bits_extras[] = {
    {"known_answer_dtypes", extra_known_answer},
    {"listed_lengths", extra_listed_lengths},
    {"round_trip", extra_round_trip},
    {"unpack_edges", extra_edges},
};

const zk_family_tests zk_tests_bits = {"bits", bits_tests, N_OPS, bits_extras,
                                       sizeof bits_extras / sizeof bits_extras[0]};
