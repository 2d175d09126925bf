/* Cases, runs, tolerance checks, sweeps and bad-input cases (harness.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../../src/core/dtype.h"
#include "harness.h"

#define POISON 0xFF /* every byte: NaN in f32, f16 and bf16 */
#define GAP 13      /* extra elements between strided rows */

const char *zk_tol_name(zk_tol t) {
  static const char *names[] = {"EXACT", "EW", "ROW", "ACC", "GRAD", "GRAD+ACC", "ROW+ACC"};
  return names[t];
}

static DLDataType dl_type(zk_dtype t) {
  DLDataType d = {kDLFloat, 32, 1};
  switch (t) {
    case ZK_F32: break;
    case ZK_F16: d.bits = 16; break;
    case ZK_BF16: d.code = kDLBfloat; d.bits = 16; break;
    case ZK_I32: d.code = kDLInt; break;
    case ZK_I64: d.code = kDLInt; d.bits = 64; break;
    case ZK_U32: d.code = kDLUInt; break;
    case ZK_I8: d.code = kDLInt; d.bits = 8; break;
    default: d.code = kDLUInt; d.bits = 8; break;
  }
  return d;
}

static double load_value(const void *p, zk_dtype t) {
  switch (t) {
    case ZK_F32: return *(const float *)p;
    case ZK_F16: return zk_f16_to_f32(*(const uint16_t *)p);
    case ZK_BF16: return zk_bf16_to_f32(*(const uint16_t *)p);
    case ZK_I32: return *(const int32_t *)p;
    case ZK_I64: return (double)*(const int64_t *)p;
    case ZK_U32: return *(const uint32_t *)p;
    case ZK_I8: return *(const int8_t *)p;
    default: return *(const uint8_t *)p;
  }
}

static void store_value(void *p, zk_dtype t, double v) {
  switch (t) {
    case ZK_F32: *(float *)p = (float)v; break;
    case ZK_F16: *(uint16_t *)p = zk_f32_to_f16((float)zk_round_to(v, ZK_F16)); break;
    case ZK_BF16: *(uint16_t *)p = zk_f32_to_bf16((float)zk_round_to(v, ZK_BF16)); break;
    case ZK_I32: *(int32_t *)p = (int32_t)v; break;
    case ZK_I64: *(int64_t *)p = (int64_t)v; break;
    case ZK_U32: *(uint32_t *)p = (uint32_t)v; break;
    case ZK_I8: *(int8_t *)p = (int8_t)v; break;
    default: *(uint8_t *)p = (uint8_t)v; break;
  }
}

static void *elem(const zk_case *c, int k, int64_t r, int64_t j) {
  return (char *)c->host[k] + (r * c->stride[k] + j) * zk_dtype_size(c->tdtype[k]);
}

static int owns(const zk_case *c, int k) { return c->present[k] && !c->alias[k]; }

/* Benchmark inputs: U(-2, 2) from a cheap generator, rounded into storage
 * (never zeros: they can run faster than real data). */
static void fast_fill(zk_case *c, int k, uint64_t *rng) {
  uint64_t x = zk_rand_u64(rng) | 1;
  for (int64_t r = 0; r < c->rows[k]; r++)
    for (int64_t j = 0; j < c->cols[k]; j++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      double u = (double)(x >> 11) * 0x1.0p-53;
      store_value(elem(c, k, r, j), c->tdtype[k], u * 4.0 - 2.0);
    }
}

/* Rows and columns of tensor k's values (the rows × cols the harness
 * compares), and how many dims its DLTensor has. */
typedef struct tensor_geometry {
  int64_t rows, cols;
  int rowwise; /* rows follow the case's R and get the strided gap */
} tensor_geometry;

static tensor_geometry geometry(const zk_case *c, zk_shape_rule rule) {
  switch (rule) {
    case ZK_SHAPE_ROWS2: return (tensor_geometry){c->R, 2 * c->D, 1};
    case ZK_SHAPE_VEC: return (tensor_geometry){1, c->D, 0};
    case ZK_SHAPE_VEC2: return (tensor_geometry){1, 2 * c->D, 0};
    case ZK_SHAPE_ROW_VALUE:
    case ZK_SHAPE_ROW_KEEPDIM: return (tensor_geometry){c->R, 1, 1};
    case ZK_SHAPE_ROWS_K: return (tensor_geometry){c->R, c->K, 1};
    case ZK_SHAPE_SCALAR: return (tensor_geometry){1, 1, 0};
    default: return (tensor_geometry){c->R, c->D, 1};
  }
}

/* The DLTensor's dims: rows tensors as [R, cols] ([cols] in a 1-D case),
 * parameters as [cols]; per-row values as [R] (0-d in a 1-D case, strided
 * [R] when strided) or keepdim [R, 1]; a scalar as [] ([1] when strided). */
static void set_dims(zk_case *c, int k, zk_shape_rule rule) {
  DLTensor *d = &c->dl[k];
  int64_t *shape = c->shape[k], *strides = c->strides[k];
  d->ndim = 2;
  shape[0] = c->rows[k], shape[1] = c->cols[k];
  strides[0] = c->stride[k], strides[1] = 1;
  switch (rule) {
    case ZK_SHAPE_VEC:
    case ZK_SHAPE_VEC2: d->ndim = 1, shape[0] = c->cols[k], strides[0] = 1; break;
    case ZK_SHAPE_SCALAR: d->ndim = c->strided ? 1 : 0, shape[0] = 1, strides[0] = 1; break;
    case ZK_SHAPE_ROW_VALUE: d->ndim = c->one_d ? 0 : 1, strides[0] = c->stride[k]; break;
    case ZK_SHAPE_ROW_KEEPDIM: if (c->one_d) d->ndim = 1, shape[0] = 1; break;
    default: if (c->one_d) d->ndim = 1, shape[0] = c->cols[k], strides[0] = 1; break;
  }
  d->shape = shape;
  d->strides = c->strides[k];
}

/* The shape of a ZK_SHAPE_CUSTOM tensor k: the descriptor's hook. */
static void custom_layout(const zk_case *c, int k, zk_layout *L) {
  memset(L, 0, sizeof *L);
  c->test->layout(c, k, L);
  if (L->row_dims < 1) L->row_dims = 1;
}

static zk_dtype tensor_dtype(zk_dtype_rule rule, const zk_case_opts *o) {
  switch (rule) {
    case ZK_DT_CASE: return o->dtype;
    case ZK_DT_PARAM: return o->param_dtype;
    case ZK_DT_INDEX: return o->index64 ? ZK_I64 : ZK_I32;
    case ZK_DT_I32: return ZK_I32;
    case ZK_DT_U32: return ZK_U32;
    case ZK_DT_U8: return ZK_U8;
    case ZK_DT_I8: return ZK_I8;
    default: return ZK_F32;
  }
}

int zk_case_set_index(zk_case *c, int k, int64_t i, int64_t v) {
  int64_t r = i / c->cols[k], j = i % c->cols[k];
  store_value(elem(c, k, r, j), c->tdtype[k], (double)v);
  if (c->val[k]) c->val[k][i] = (double)v;
  if (c->backend == ZK_BACKEND_CUDA) return zk_dev_upload(c->dev[k], c->host[k], c->bytes[k]);
  return 0;
}

void zk_case_free(zk_case *c) {
  for (int k = 0; k < c->test->nt; k++) {
    /* By what was allocated, not by present[]: a bad-input case hides a
     * tensor after it was built. */
    if (!c->alias[k]) {
      free(c->host[k]);
      if (c->dev[k]) zk_dev_free(c->dev[k]);
    }
    free(c->val[k]);
    free(c->ref[k]);
    free(c->refabs[k]);
    free(c->got[k]);
    free(c->initial[k]);
  }
  memset(c, 0, sizeof *c);
}

int zk_case_init(zk_case *c, const zk_op_test *t, const zk_case_opts *o) {
  memset(c, 0, sizeof *c);
  c->test = t;
  c->backend = o->backend;
  c->R = o->R;
  c->D = o->D;
  c->one_d = o->one_d;
  c->dtype = o->dtype;
  c->param_dtype = o->param_dtype;
  c->strided = o->strided;
  c->seed = o->seed;
  memcpy(c->s, t->scalars, sizeof c->s);
  memcpy(c->u, t->seeds, sizeof c->u);
  c->index64 = o->index64;
  c->bench = o->bench;
  if (t->k_scalar) {
    int64_t k = (int64_t)c->s[t->k_scalar - 1];
    c->K = k < o->D ? k : o->D;
    c->s[t->k_scalar - 1] = (double)c->K;
  }
  uint64_t rng = o->seed;
  int absent = o->absent >= 0 && o->absent < t->nt ? o->absent : -1;
  for (int k = 0; k < t->nt; k++) {
    const zk_tensor_spec *sp = &t->t[k];
    /* Optional tensors sharing a group (> 1) are absent together. */
    c->present[k] = !(sp->optional && absent >= 0 &&
                      (absent == k || (sp->optional > 1 && t->t[absent].optional == sp->optional)));
    /* N-D tensors from the descriptor's hook: the row dims compact, the
     * leading dims one row stride apart; the rest by the shape rules. */
    zk_layout *L = &c->layout[k];
    memset(L, 0, sizeof *L);
    int custom = sp->shape == ZK_SHAPE_CUSTOM, lead = 0, row_strided;
    if (custom) {
      custom_layout(c, k, L);
      lead = L->ndim - L->row_dims;
      int64_t rows = 1, cols = 1;
      for (int i = 0; i < L->ndim; i++) *(i < lead ? &rows : &cols) *= L->dims[i];
      c->rows[k] = rows;
      c->cols[k] = cols;
      row_strided = o->strided && !L->compact;
    } else {
      tensor_geometry g = geometry(c, sp->shape);
      c->rows[k] = g.rows;
      c->cols[k] = g.cols;
      row_strided = o->strided && g.rowwise;
    }
    int64_t cols = c->cols[k];
    c->stride[k] = row_strided ? cols + GAP : cols;
    c->tdtype[k] = tensor_dtype(sp->dtype, o);
    if (!c->present[k]) continue;
    int64_t n = c->rows[k] * c->cols[k];
    c->bytes[k] = (size_t)(c->rows[k] * c->stride[k]) * (size_t)zk_dtype_size(c->tdtype[k]);
    if (sp->role == ZK_OUT && o->alias == k && t->alias_of[k] > 0) c->alias[k] = t->alias_of[k];
    DLTensor *d = &c->dl[k];
    if (custom) {
      d->ndim = L->ndim;
      int64_t step = 1;
      for (int i = L->ndim - 1; i >= 0; i--) {
        if (i == lead - 1) step = c->stride[k];
        c->shape[k][i] = L->dims[i];
        c->strides[k][i] = step;
        step *= L->dims[i];
      }
      d->shape = c->shape[k];
    } else {
      set_dims(c, k, sp->shape);
    }
    d->strides = row_strided ? c->strides[k] : NULL;
    d->dtype = dl_type(c->tdtype[k]);
    d->device.device_type = o->backend == ZK_BACKEND_CUDA ? kDLCUDA : kDLCPU;
    d->device.device_id = 0;
    /* Benchmark cases fill floats straight into storage; index values must
     * stay in range, so integer tensors always take their fill hook. */
    int fast = o->bench && zk_dtype_is_float(c->tdtype[k]);
    if (zk_is_input(sp) && !fast) {
      c->val[k] = malloc((size_t)(n ? n : 1) * sizeof(double));
      if (sp->dist == ZK_DIST_CUSTOM && t->fill) {
        t->fill(c, k, c->val[k], n);
      } else {
        for (int64_t i = 0; i < n; i++)
          c->val[k][i] = sp->dist == ZK_DIST_UNIFORM ? zk_rand_uniform(&rng, sp->lo, sp->hi) : zk_rand_normal(&rng);
      }
    }
    if (zk_is_output(sp) && !o->bench) {
      c->ref[k] = calloc((size_t)(n ? n : 1), sizeof(double));
      c->refabs[k] = calloc((size_t)(n ? n : 1), sizeof(double));
      c->got[k] = calloc((size_t)(n ? n : 1), sizeof(double));
    }
    if (c->alias[k]) continue;
    c->host[k] = malloc(c->bytes[k] ? c->bytes[k] : 1);
    memset(c->host[k], POISON, c->bytes[k]);
    if (zk_is_input(sp) && fast) {
      fast_fill(c, k, &rng);
    } else if (zk_is_input(sp)) {
      for (int64_t r = 0; r < c->rows[k]; r++)
        for (int64_t j = 0; j < cols; j++) {
          void *p = elem(c, k, r, j);
          store_value(p, c->tdtype[k], c->val[k][r * cols + j]);
          c->val[k][r * cols + j] = load_value(p, c->tdtype[k]);
        }
    }
    /* In-out: the reference starts from the stored input (elements the op
     * must leave alone), and the bytes before the call are kept. */
    if (sp->role == ZK_INOUT && !o->bench) {
      memcpy(c->ref[k], c->val[k], (size_t)n * sizeof(double));
      c->initial[k] = malloc(c->bytes[k] ? c->bytes[k] : 1);
      memcpy(c->initial[k], c->host[k], c->bytes[k]);
    }
  }
  /* Aliased outputs share their input's storage and layout. */
  for (int k = 0; k < t->nt; k++) {
    if (!c->alias[k]) continue;
    int j = c->alias[k] - 1;
    c->host[k] = c->host[j];
    c->bytes[k] = c->bytes[j];
  }
  for (int k = 0; k < t->nt; k++) {
    if (!c->present[k]) continue;
    if (o->backend == ZK_BACKEND_CUDA) {
      if (!c->alias[k]) {
        if (zk_dev_alloc(&c->dev[k], c->bytes[k] ? c->bytes[k] : 1)) return 1;
        if (zk_dev_upload(c->dev[k], c->host[k], c->bytes[k])) return 1;
      }
    }
  }
  for (int k = 0; k < t->nt; k++) {
    if (!c->present[k]) continue;
    int src = c->alias[k] ? c->alias[k] - 1 : k;
    c->dl[k].data = o->backend == ZK_BACKEND_CUDA ? c->dev[src] : c->host[src];
    if (c->alias[k]) c->dl[k] = c->dl[src];
  }
  return 0;
}

static int bytes_all(const unsigned char *p, size_t n, unsigned char v) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != v) return 0;
  return 1;
}

zk_status zk_case_run(zk_case *c, zk_ctx *ctx) {
  const zk_op_test *t = c->test;
  zk_status s = t->call(ctx, c);
  if (c->backend == ZK_BACKEND_CUDA) {
    zk_status sync = zk_ctx_synchronize(ctx);
    if (s == ZK_OK) s = sync;
    for (int k = 0; k < t->nt; k++)
      if (owns(c, k) && zk_dev_download(c->host[k], c->dev[k], c->bytes[k])) return ZK_ERR_BACKEND;
  }
  for (int k = 0; k < t->nt; k++) {
    if (!c->present[k] || !zk_is_output(&t->t[k])) continue;
    for (int64_t r = 0; r < c->rows[k]; r++)
      for (int64_t j = 0; j < c->cols[k]; j++)
        c->got[k][r * c->cols[k] + j] = load_value(elem(c, k, r, j), c->tdtype[k]);
  }
  return s;
}

typedef struct tol_row {
  double rtol, atol, racc, nmse;
} tol_row;

static tol_row tolerance(zk_tol cls, zk_dtype dt) {
  int i = dt == ZK_F32 ? 0 : dt == ZK_F16 ? 1 : 2;
  static const double ew[3][2] = {{1e-5, 1e-6}, {2e-3, 1e-5}, {1.6e-2, 1e-5}};
  static const double row[3][2] = {{1e-4, 1e-6}, {4e-3, 1e-5}, {3.2e-2, 1e-5}};
  static const double grad[3][2] = {{2e-4, 1e-5}, {4e-3, 1e-4}, {3.2e-2, 1e-3}};
  static const double nmse_row[3] = {1e-10, 1e-6, 2e-5}, nmse_grad[3] = {1e-9, 1e-6, 2e-5};
  tol_row t = {0, 0, 0, 0};
  switch (cls) {
    case ZK_TOL_EXACT: break;
    case ZK_TOL_EW: t.rtol = ew[i][0], t.atol = ew[i][1]; break;
    case ZK_TOL_ROW: t.rtol = row[i][0], t.atol = row[i][1], t.nmse = nmse_row[i]; break;
    case ZK_TOL_ACC: t.rtol = ew[i][0], t.atol = ew[i][1], t.racc = 5e-5, t.nmse = nmse_row[i]; break;
    case ZK_TOL_GRAD: t.rtol = grad[i][0], t.atol = grad[i][1], t.nmse = nmse_grad[i]; break;
    case ZK_TOL_GRAD_ACC: t.rtol = grad[i][0], t.atol = grad[i][1], t.racc = 5e-5, t.nmse = nmse_grad[i]; break;
    case ZK_TOL_ROW_ACC: t.rtol = row[i][0], t.atol = row[i][1], t.racc = 5e-5, t.nmse = nmse_row[i]; break;
  }
  return t;
}

static const char *dtype_label(zk_dtype t) { return zk_dtype_name(t); }

static void describe(const zk_case *c, char *buf, size_t cap) {
  snprintf(buf, cap, "%s %s %s(param %s) R=%lld D=%lld%s%s", c->test->op,
           c->backend == ZK_BACKEND_CUDA ? "cuda" : "cpu", dtype_label(c->dtype), dtype_label(c->param_dtype),
           (long long)c->R, (long long)c->D, c->strided ? " strided" : "", c->one_d ? " 1-D" : "");
}

int zk_case_check(zk_case *c, char *msg, size_t cap) {
  const zk_op_test *t = c->test;
  char what[200];
  describe(c, what, sizeof what);
  for (int k = 0; k < t->nt; k++) {
    if (!c->present[k]) continue;
    /* Nothing outside the outputs' elements was written: input bytes as
     * laid out, output gaps still poison. */
    if (zk_is_output(&t->t[k]) && !c->alias[k] && c->strided) {
      size_t es = (size_t)zk_dtype_size(c->tdtype[k]);
      for (int64_t r = 0; r < c->rows[k]; r++) {
        const unsigned char *gap = (const unsigned char *)elem(c, k, r, c->cols[k]);
        if (!bytes_all(gap, (size_t)(c->stride[k] - c->cols[k]) * es, POISON)) {
          snprintf(msg, cap, "%s: the gap after row %lld of %s was written", what, (long long)r, t->t[k].name);
          return 1;
        }
      }
    }
    if (t->t[k].role == ZK_IN) {
      int written_over = 0;
      for (int j = 0; j < t->nt; j++) written_over |= c->alias[j] == k + 1;
      if (written_over) continue;
      for (int64_t r = 0; r < c->rows[k]; r++)
        for (int64_t j = 0; j < c->cols[k]; j++) {
          double v = load_value(elem(c, k, r, j), c->tdtype[k]), want = c->val[k][r * c->cols[k] + j];
          if (!(v == want || (isnan(v) && isnan(want)))) {
            snprintf(msg, cap, "%s: input %s[%lld,%lld] was modified", what, t->t[k].name, (long long)r,
                     (long long)j);
            return 1;
          }
        }
      continue;
    }
    zk_dtype dt = c->tdtype[k];
    tol_row tol = tolerance(t->t[k].tol, dt);
    int64_t n = zk_case_numel(c, k);
    double se = 0, sr = 0;
    for (int64_t i = 0; i < n; i++) {
      double y = c->got[k][i], r = c->ref[k][i], rr = zk_round_to(r, dt);
      if (t->t[k].role == ZK_INOUT && !memcmp(&c->ref[k][i], &c->val[k][i], sizeof r)) {
        /* Outside the update: the bytes from before the call. */
        int64_t row = i / c->cols[k], col = i % c->cols[k];
        size_t es = (size_t)zk_dtype_size(dt), at = (size_t)(row * c->stride[k] + col) * es;
        if (memcmp(elem(c, k, row, col), (const char *)c->initial[k] + at, es)) {
          snprintf(msg, cap, "%s: %s[%lld,%lld] = %.9g was %.9g and lies outside the update", what, t->t[k].name,
                   (long long)row, (long long)col, y, c->val[k][i]);
          return 1;
        }
        continue;
      }
      int ok;
      if (isnan(r) || isnan(y)) {
        ok = isnan(r) && isnan(y);
      } else if (t->t[k].tol == ZK_TOL_EXACT) {
        ok = y == rr;
      } else if (isinf(rr) || isinf(y)) {
        ok = y == rr;
      } else {
        double bound = tol.atol + tol.rtol * fabs(r) + tol.racc * c->refabs[k][i];
        ok = fabs(y - r) <= bound;
        /* NMSE counts the error beyond the output dtype's own rounding of
         * the reference: a correctly rounded result scores 0, also where
         * the values are subnormal in f16. */
        double excess = fabs(y - r) - fabs(rr - r);
        if (excess > 0) se += excess * excess;
        sr += r * r;
      }
      if (!ok) {
        int64_t row = i / c->cols[k], col = i % c->cols[k];
        snprintf(msg, cap, "%s: %s[%lld,%lld] = %.9g, reference %.9g (%s)", what, t->t[k].name, (long long)row,
                 (long long)col, y, r, zk_tol_name(t->t[k].tol));
        return 1;
      }
    }
    /* NMSE catches systematic error over a tensor: it needs a sample (64
     * elements or more) of meaningful values.  Tiny tensors and references
     * whose RMS is below atol (cancellation to ~0, as in a D = 1 norm
     * gradient) are judged by the element bounds alone. */
    int short_norm_rows = t->t[k].tol == ZK_TOL_ROW_ACC && c->cols[k] < 64;
    if (tol.nmse > 0 && n >= 64 && !short_norm_rows && sr > (double)n * tol.atol * tol.atol && se / sr > tol.nmse) {
      snprintf(msg, cap, "%s: %s NMSE %.3g above %.3g", what, t->t[k].name, se / sr, tol.nmse);
      return 1;
    }
  }
  return 0;
}

int zk_case_setup(zk_case *c, const zk_op_test *t, const zk_case_opts *o, char *msg, size_t cap) {
  if (!zk_case_init(c, t, o)) return 0;
  snprintf(msg, cap, "%s: cannot set up a case (device memory)", t->op);
  zk_case_free(c);
  return 1;
}

int zk_case_run_ok(zk_case *c, zk_ctx *ctx, char *msg, size_t cap) {
  zk_status s = zk_case_run(c, ctx);
  if (s == ZK_OK) return 0;
  snprintf(msg, cap, "%s %s R=%lld D=%lld returned %s: %s", c->test->op, zk_dtype_name(c->dtype), (long long)c->R,
           (long long)c->D, zk_status_name(s), zk_ctx_last_error(ctx));
  return 1;
}

int zk_case_run_checked(zk_case *c, zk_ctx *ctx, char *msg, size_t cap) {
  if (zk_case_run_ok(c, ctx, msg, cap)) return 1;
  c->test->ref(c);
  return zk_case_check(c, msg, cap);
}

int zk_case_run_only_output(zk_case *c, zk_ctx *ctx, int keep, char *msg, size_t cap) {
  for (int k = 0; k < c->test->nt; k++)
    if (c->test->t[k].role == ZK_OUT && k != keep) c->present[k] = 0;
  return zk_case_run_checked(c, ctx, msg, cap);
}

int zk_run_case(const zk_op_test *t, zk_ctx *ctx, const zk_case_opts *o, char *msg, size_t cap) {
  zk_case c;
  if (zk_case_setup(&c, t, o, msg, cap)) return 1;
  int fail = zk_case_run_checked(&c, ctx, msg, cap);
  zk_case_free(&c);
  return fail;
}

/* ------------------------------------------------------------------ sweep */

static const int64_t sweep_rows[] = {0, 1, 3, 257};
static const int64_t sweep_cols[] = {1, 3, 31, 33, 255, 257, 4095, 4097, 32769};
const zk_sweep zk_standard_sweep = {sweep_rows, 4, sweep_cols, 9, 0};

static const zk_dtype float_dtypes[] = {ZK_F32, ZK_F16, ZK_BF16};

static void record(zk_sweep_result *res, int fail, const char *msg) {
  res->cases++;
  if (!fail) return;
  if (!res->failed++) snprintf(res->first_failure, sizeof res->first_failure, "%s", msg);
}

static int outputs_equal(const zk_case *a, const zk_case *b) {
  for (int k = 0; k < a->test->nt; k++) {
    if (!a->present[k] || !zk_is_output(&a->test->t[k])) continue;
    if (memcmp(a->host[k], b->host[k], a->bytes[k])) return 0;
  }
  return 1;
}

/* CPU results must not depend on the thread count, bit for bit. */
static int check_thread_independence(const zk_op_test *t, zk_ctx *ctx, uint64_t seed, char *msg, size_t cap) {
  zk_case_opts o = {ZK_BACKEND_CPU, ZK_BF16, ZK_F32, 1031, 1029, 0, 0, seed, -1, -1};
  if (t->max_cols && o.D > t->max_cols) o.D = t->max_cols;
  zk_case a, b;
  int saved = zk_ctx_threads(ctx), fail = 0;
  zk_case_init(&a, t, &o);
  zk_case_init(&b, t, &o);
  zk_ctx_set_threads(ctx, 1);
  zk_status s1 = zk_case_run(&a, ctx);
  zk_ctx_set_threads(ctx, 3);
  zk_status s2 = zk_case_run(&b, ctx);
  zk_ctx_set_threads(ctx, saved);
  if (s1 != ZK_OK || s2 != ZK_OK || !outputs_equal(&a, &b)) {
    snprintf(msg, cap, "%s cpu: outputs with 1 and 3 threads differ (status %s / %s)", t->op, zk_status_name(s1),
             zk_status_name(s2));
    fail = 1;
  }
  zk_case_free(&a);
  zk_case_free(&b);
  return fail;
}

void zk_run_sweep(const zk_op_test *t, zk_ctx *ctx, zk_backend backend, const zk_sweep *sw, uint64_t seed,
                  zk_sweep_result *res) {
  char msg[512];
  memset(res, 0, sizeof *res);
  uint64_t rng = seed;
  for (int di = 0; di < 3; di++) {
    zk_dtype dt = float_dtypes[di];
    for (int ri = 0; ri < sw->nrows; ri++)
      for (int ci = 0; ci < sw->ncols; ci++)
        for (int strided = 0; strided < 2; strided++) {
          int64_t R = sw->rows[ri], D = sw->cols[ci];
          if (D < t->min_cols || (t->max_cols && D > t->max_cols)) continue;
          if (sw->max_elements && R * D > sw->max_elements) continue;
          /* Parameters in the activations' dtype when compact, in another
           * float dtype when strided: mixed dtypes are the contract. */
          zk_dtype pdt = strided ? float_dtypes[(di + 1 + ri) % 3] : dt;
          zk_case_opts o = {backend, dt, pdt, R, D, strided, 0, zk_rand_u64(&rng), -1, -1, 0, strided};
          record(res, zk_run_case(t, ctx, &o, msg, sizeof msg), msg);
        }
    /* 1-D tensors, each allowed alias, each optional tensor absent. */
    zk_case_opts one = {backend, dt, dt, 1, 33, 0, 1, zk_rand_u64(&rng), -1, -1};
    record(res, zk_run_case(t, ctx, &one, msg, sizeof msg), msg);
    for (int k = 0; k < t->nt; k++) {
      zk_case_opts o = {backend, dt, dt, 3, 257, di == 1, 0, zk_rand_u64(&rng), -1, -1, 0, di == 2};
      if (t->t[k].role == ZK_OUT && t->alias_of[k] > 0) {
        o.alias = k;
        record(res, zk_run_case(t, ctx, &o, msg, sizeof msg), msg);
      }
      if (t->t[k].optional) {
        o.alias = -1;
        o.absent = k;
        record(res, zk_run_case(t, ctx, &o, msg, sizeof msg), msg);
      }
    }
  }
  if (backend == ZK_BACKEND_CPU && !t->threads_vary) record(res, check_thread_independence(t, ctx, zk_rand_u64(&rng), msg, sizeof msg), msg);
}

/* -------------------------------------------------------------- bad input */

struct bad_env;
static int untouched_outputs(struct bad_env *e, zk_case *c, const char *what);

typedef struct bad_env {
  const zk_op_test *t;
  zk_ctx *ctx;
  zk_backend backend;
  char *msg;
  size_t cap;
} bad_env;

/* Runs a mutated case: expects status `want`, a message naming the op (and
 * `needle` if given), and every output untouched. */
static int expect_rejected(bad_env *e, zk_case *c, zk_ctx *ctx, zk_status want, const char *needle,
                           const char *what) {
  zk_status s = c->test->call(ctx, c);
  if (ctx && c->backend == ZK_BACKEND_CUDA) {
    zk_status sync = zk_ctx_synchronize(ctx);
    if (s == ZK_OK) s = sync;
  }
  char opname[96];
  snprintf(opname, sizeof opname, "zk_%s:", e->t->op);
  if (s != want) {
    snprintf(e->msg, e->cap, "%s %s: %s gave %s, expected %s (%s)", e->t->op,
             e->backend == ZK_BACKEND_CUDA ? "cuda" : "cpu", what, zk_status_name(s), zk_status_name(want),
             ctx ? zk_ctx_last_error(ctx) : "");
    return 1;
  }
  if (ctx) {
    const char *m = zk_ctx_last_error(ctx);
    if (strncmp(m, opname, strlen(opname)) || (needle && !strstr(m, needle))) {
      snprintf(e->msg, e->cap, "%s: %s: message \"%s\" should start with \"%s\" and name \"%s\"", e->t->op, what, m,
               opname, needle ? needle : "");
      return 1;
    }
  }
  return untouched_outputs(e, c, what);
}

/* Every output still as built: poison, or an in-out tensor's bytes from
 * before the call. */
static int untouched_outputs(bad_env *e, zk_case *c, const char *what) {
  for (int k = 0; k < e->t->nt; k++) {
    if (!c->present[k] || !zk_is_output(&e->t->t[k])) continue;
    if (c->backend == ZK_BACKEND_CUDA) zk_dev_download(c->host[k], c->dev[k], c->bytes[k]);
    int same = e->t->t[k].role == ZK_INOUT ? !memcmp(c->host[k], c->initial[k], c->bytes[k])
                                           : bytes_all(c->host[k], c->bytes[k], POISON);
    if (!same) {
      snprintf(e->msg, e->cap, "%s: %s: output %s was written by a rejected call", e->t->op, what, e->t->t[k].name);
      return 1;
    }
  }
  return 0;
}

/* An out-of-range index value: ZK_ERR_INDEX.  On the CPU as any rejected
 * call (message, nothing written); on CUDA from the next synchronisation,
 * with the bad work item's outputs unspecified (spec §0). */
static int expect_index_fault(bad_env *e, zk_case *c, const char *needle, const char *what) {
  if (c->backend == ZK_BACKEND_CPU) return expect_rejected(e, c, e->ctx, ZK_ERR_INDEX, needle, what);
  zk_status s = c->test->call(e->ctx, c), sync = zk_ctx_synchronize(e->ctx);
  if (s == ZK_OK && sync == ZK_ERR_INDEX) return 0;
  snprintf(e->msg, e->cap, "%s cuda: %s gave %s, then %s at the synchronisation, expected ZK_ERR_INDEX (%s)", e->t->op,
           what, zk_status_name(s), zk_status_name(sync), zk_ctx_last_error(e->ctx));
  return 1;
}

/* Whether another tensor of the op has the case's dtype too. */
static int case_dtype_shared(const zk_op_test *t, int k) {
  for (int j = 0; j < t->nt; j++)
    if (j != k && t->t[j].dtype == ZK_DT_CASE) return 1;
  return 0;
}

/* Whether another tensor of the op has a shape that follows D. */
static int last_dim_shared(const zk_op_test *t, int k) {
  for (int j = 0; j < t->nt; j++) {
    zk_shape_rule r = t->t[j].shape;
    if (j != k && (r == ZK_SHAPE_ROWS || r == ZK_SHAPE_ROWS2 || r == ZK_SHAPE_VEC || r == ZK_SHAPE_VEC2)) return 1;
  }
  return 0;
}

int zk_run_bad_inputs(const zk_op_test *t, zk_ctx *ctx, zk_backend backend, char *msg, size_t cap) {
  bad_env e = {t, ctx, backend, msg, cap};
  zk_case_opts o = {backend, ZK_F32, ZK_F32, 3, ZK_BAD_CASE_COLS, 0, 0, 12345, -1, -1};
  zk_case c;
  char what[128];
  int fail = 0;
#define FRESH() (zk_case_free(&c), zk_case_init(&c, t, &o))
  zk_case_init(&c, t, &o);
  fail |= expect_rejected(&e, &c, NULL, ZK_ERR_ARG, NULL, "a NULL context");
  DLDeviceType other_device = backend == ZK_BACKEND_CUDA ? kDLCPU : kDLCUDA;
  for (int k = 0; k < t->nt && !fail; k++) {
    const zk_tensor_spec *sp = &t->t[k];
    const char *name = sp->name;
    if (!sp->optional) {
      FRESH();
      c.present[k] = 0;
      snprintf(what, sizeof what, "%s = NULL", name);
      fail |= expect_rejected(&e, &c, ctx, ZK_ERR_ARG, name, what);
    }
    FRESH();
    int integer = !zk_dtype_is_float(c.tdtype[k]);
    c.dl[k].dtype = integer ? (DLDataType){kDLFloat, 32, 1} : (DLDataType){kDLInt, 32, 1};
    snprintf(what, sizeof what, "%s as %s", name, integer ? "f32" : "int32");
    fail |= expect_rejected(&e, &c, ctx, ZK_ERR_DTYPE, name, what);
    if (sp->dtype == ZK_DT_I32) {
      FRESH();
      c.dl[k].dtype = (DLDataType){kDLInt, 64, 1};
      snprintf(what, sizeof what, "%s as int64", name);
      fail |= expect_rejected(&e, &c, ctx, ZK_ERR_DTYPE, name, what);
    }
    if (sp->dtype == ZK_DT_CASE && case_dtype_shared(t, k)) {
      FRESH();
      c.dl[k].dtype = (DLDataType){kDLFloat, 16, 1};
      snprintf(what, sizeof what, "%s as f16 beside f32", name);
      fail |= expect_rejected(&e, &c, ctx, ZK_ERR_DTYPE, NULL, what);
    }
    FRESH();
    if (c.dl[k].ndim > 0 && !c.layout[k].any_larger) {
      /* The last dimension; a reduction's input (no other tensor follows
       * its D) gets its rows grown instead, and a free last dimension
       * (block_table's) its first. */
      int dim = c.layout[k].free_last ? 0 : c.dl[k].ndim - 1;
      if (dim > 0 && t->t[k].shape != ZK_SHAPE_CUSTOM && !last_dim_shared(t, k)) dim = 0;
      c.shape[k][dim] += 1;
      snprintf(what, sizeof what, "%s with dimension %d + 1", name, dim);
      fail |= expect_rejected(&e, &c, ctx, ZK_ERR_SHAPE, NULL, what);
    }
    FRESH();
    c.dl[k].device.device_type = other_device;
    snprintf(what, sizeof what, "%s on another device", name);
    fail |= expect_rejected(&e, &c, ctx, ZK_ERR_DEVICE, name, what);
    /* A row of one element ([R] per-row values, scalars) has no layout to get wrong. */
    if (c.dl[k].ndim > 0 && c.cols[k] > 1 && c.shape[k][c.dl[k].ndim - 1] > 1) {
      FRESH();
      int last = c.dl[k].ndim - 1;
      c.strides[k][last] = 2;
      for (int i = last - 1; i >= 0; i--) c.strides[k][i] = c.strides[k][i + 1] * c.shape[k][i + 1];
      c.dl[k].strides = c.strides[k];
      snprintf(what, sizeof what, "%s with last-dimension stride 2", name);
      fail |= expect_rejected(&e, &c, ctx, ZK_ERR_LAYOUT, name, what);
    }
  }
  for (int b = 0; b < t->nbad && !fail; b++) {
    FRESH();
    const zk_bad_scalar *bs = &t->bad[b];
    c.s[bs->slot] = bs->value;
    snprintf(what, sizeof what, "scalar %d = %g", bs->slot, bs->value);
    fail |= expect_rejected(&e, &c, ctx, bs->expect, NULL, what);
  }
  for (int b = 0; b < t->nbad_index && !fail; b++) {
    FRESH();
    const zk_bad_index *bi = &t->bad_index[b];
    int64_t at = bi->at < 0 ? zk_case_numel(&c, bi->slot) - 1 : bi->at;
    zk_case_set_index(&c, bi->slot, at, bi->value(&c));
    snprintf(what, sizeof what, "%s (%s[%lld] = %lld)", bi->what, t->t[bi->slot].name, (long long)at,
             (long long)bi->value(&c));
    fail |= expect_index_fault(&e, &c, t->t[bi->slot].name, what);
  }
#undef FRESH
  zk_case_free(&c);
  return fail;
}
