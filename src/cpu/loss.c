/* Softmax cross-entropy on the CPU (spec §11): one row per task through
 * zk_cpu_for_rows.
 *
 * The logits are read once for the forward: each chunk of ZK_CHUNK
 * elements (in place for f32, converted for f16/bf16) gives its max cm,
 * Σ e^(z - cm) and Σ z while it is in L1; the chunks' results are then
 * combined in a fixed order (max, then the sums rescaled to the row max and
 * added pairwise), so the result depends on C only.  The grad makes a
 * second pass that writes dlogits chunk by chunk, reading each logit before
 * writing its gradient, so dlogits = logits works.
 *
 * Targets are scanned before anything is written: an index outside [0, C)
 * that is not ignore_index is ZK_ERR_INDEX.  The mean and sum reductions add
 * the per-row losses pairwise in row order, whatever the thread count. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include "cpu.h"

static int64_t target_of(const zk_rows *t, int64_t r) {
  const void *p = zk_row_ptr(t, r, 0);
  return t->dtype == ZK_I32 ? *(const int32_t *)p : *(const int64_t *)p;
}

/* Validates every target; counts the rows not ignored. */
static zk_status check_targets(const zk_call *call, const zk_rows *targets, int64_t C, int64_t ignore_index,
                               int64_t *n_valid) {
  int64_t n = 0;
  *n_valid = 0;
  for (int64_t r = 0; r < targets->rows; r++) {
    int64_t t = target_of(targets, r);
    if (t == ignore_index) continue;
    if (t < 0 || t >= C)
      return zk_fail(call, ZK_ERR_INDEX, "targets[%" PRId64 "] is %" PRId64 ", outside [0, %" PRId64
                     ") and not ignore_index (%" PRId64 ")", r, t, C, ignore_index);
    n++;
  }
  *n_valid = n;
  return ZK_OK;
}

ZK_HOT static float exp_sum(const float *z, int64_t n, float shift) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) acc[l] += zk_exp_nonpos_f(z[i + l] - shift);
  for (int l = 0; i < n; i++, l++) acc[l] += zk_exp_nonpos_f(z[i] - shift);
  for (int w = 8; w; w >>= 1)
    for (int l = 0; l < w; l++) acc[l] += acc[l + w];
  return acc[0];
}

static inline int64_t chunks_of(int64_t n) { return (n + ZK_CHUNK - 1) / ZK_CHUNK; }

/* A row's statistics: max m, s = Σ e^(z - m), lse = m + log s (-Inf for an
 * all -Inf row, NaN for a row with a NaN or +Inf), zsum = Σ z (smoothing). */
typedef struct row_stats {
  float m, s, lse, zsum;
} row_stats;

typedef struct ce_job {
  const zk_rows *z, *t, *loss, *dz;
  int64_t ignore_index;
  float eps;
  int reduction;
  float scale;   /* grad: the factor of sum and mean (dloss, or dloss/N_valid) */
  float *losses; /* forward with a reduction: per-row losses */
} ce_job;

/* Scratch: two chunk buffers, then cm, cs, cz per chunk. */
static int64_t job_scratch(int64_t C) { return 2 * ZK_CHUNK + 3 * ((chunks_of(C) + 15) & ~(int64_t)15); }

static row_stats statistics(const ce_job *job, int64_t r, float *scratch) {
  const zk_rows *z = job->z;
  int64_t C = z->cols, nch = chunks_of(C), stride = (nch + 15) & ~(int64_t)15;
  float *cm = scratch + 2 * ZK_CHUNK, *cs = cm + stride, *cz = cs + stride;
  for (int64_t c = 0, j = 0; j < C; c++, j += ZK_CHUNK) {
    int64_t k = C - j < ZK_CHUNK ? C - j : ZK_CHUNK;
    const float *v = zk_cpu_view(z, r, j, k, scratch);
    cm[c] = zk_cpu_max(v, k);
    cs[c] = isfinite(cm[c]) ? exp_sum(v, k, cm[c]) : 0.0f; /* the row's fate is settled by the max below */
    cz[c] = job->eps > 0.0f ? zk_cpu_sum(v, k) : 0.0f;
  }
  row_stats st = {zk_cpu_max(cm, nch), 0.0f, 0.0f, 0.0f};
  if (!(st.m < INFINITY)) { /* a NaN or +Inf logit */
    st.lse = st.s = NAN;
    return st;
  }
  if (st.m == -INFINITY) {
    st.lse = -INFINITY;
    return st;
  }
  for (int64_t c = 0; c < nch; c++) cs[c] *= cm[c] == st.m ? 1.0f : zk_exp_nonpos_f(cm[c] - st.m);
  st.s = zk_cpu_sum_pairwise(cs, nch);
  st.lse = st.m + logf(st.s);
  st.zsum = zk_cpu_sum_pairwise(cz, nch);
  return st;
}

static float logit(const zk_rows *z, int64_t r, int64_t j) {
  float v;
  zk_cpu_load(z, r, j, 1, &v);
  return v;
}

static float row_loss(const ce_job *job, const row_stats *st, float zt) {
  return zk_cross_entropy_row(st->lse, zt, st->zsum, job->eps, job->z->cols);
}

static void forward_row(int64_t r, float *scratch, const void *arg) {
  const ce_job *job = arg;
  int64_t t = target_of(job->t, r);
  float loss = 0.0f;
  if (t != job->ignore_index) {
    row_stats st = statistics(job, r, scratch);
    loss = row_loss(job, &st, logit(job->z, r, t));
  }
  if (job->losses) job->losses[r] = loss;
  else zk_cpu_store(job->loss, r, 0, 1, &loss);
}

ZK_HOT static void fill_row(float *y, int64_t n, float v) {
  for (int64_t j = 0; j < n; j++) y[j] = v;
}

/* dz_j = c·(e^(z_j - m)/s - ε/C); dz may be z. */
ZK_HOT static void grad_chunk(float *dz, const float *z, int64_t n, float m, float c_over_s, float c_eps) {
  for (int64_t j = 0; j < n; j++) dz[j] = c_over_s * zk_exp_nonpos_f(z[j] - m) - c_eps;
}

static void grad_row(int64_t r, float *scratch, const void *arg) {
  const ce_job *job = arg;
  const zk_rows *z = job->z, *dz = job->dz;
  int64_t C = z->cols, t = target_of(job->t, r);
  float *out_buf = scratch + ZK_CHUNK;
  if (t == job->ignore_index) {
    for (int64_t j = 0; j < C; j += ZK_CHUNK) {
      int64_t k = C - j < ZK_CHUNK ? C - j : ZK_CHUNK;
      float *out = zk_cpu_target(dz, r, j, out_buf);
      fill_row(out, k, 0.0f);
      zk_cpu_commit(dz, r, j, k, out);
    }
    return;
  }
  float c = job->scale;
  if (job->reduction == ZK_REDUCTION_NONE) zk_cpu_load(job->loss, r, 0, 1, &c);
  row_stats st = statistics(job, r, scratch);
  float zt = logit(z, r, t), eps_c = job->eps / (float)C, inv_s = 1.0f / st.s;
  for (int64_t j = 0; j < C; j += ZK_CHUNK) {
    int64_t k = C - j < ZK_CHUNK ? C - j : ZK_CHUNK;
    const float *v = zk_cpu_view(z, r, j, k, scratch);
    float *out = zk_cpu_target(dz, r, j, out_buf);
    grad_chunk(out, v, k, st.m, c * inv_s, c * eps_c);
    if (t >= j && t < j + k) /* the target's own term, from z_t read before any write */
      out[t - j] = c * ((zk_exp_nonpos_f(zt - st.m) * inv_s - (1.0f - job->eps)) - eps_c);
    zk_cpu_commit(dz, r, j, k, out);
  }
}

/* ------------------------------------------------------- entry points
 * Slots follow include/zkern/loss.h (see src/api/loss.c). */

static ce_job job_of(const zk_args *a) {
  ce_job job = {&a->t[0], &a->t[1], &a->t[2], &a->t[3], a->i[1], a->f[0], (int)a->i[0], 1.0f, NULL};
  return job;
}

zk_status zk_cpu_softmax_cross_entropy(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, softmax_cross_entropy);
  ce_job job = job_of(a);
  int64_t R = a->t[0].rows, C = a->t[0].cols, n_valid;
  zk_status s = check_targets(call, job.t, C, job.ignore_index, &n_valid);
  if (s != ZK_OK) return s;
  if (job.reduction == ZK_REDUCTION_NONE) return zk_cpu_for_rows(ctx, call, R, C, job_scratch(C), forward_row, &job);
  job.losses = malloc((size_t)(R ? R : 1) * sizeof(float));
  if (!job.losses) return zk_fail(call, ZK_ERR_OOM, "cannot allocate %" PRId64 " per-row losses", R);
  s = zk_cpu_for_rows(ctx, call, R, C, job_scratch(C), forward_row, &job);
  if (s == ZK_OK) {
    float total = zk_cpu_sum_pairwise(job.losses, R);
    if (job.reduction == ZK_REDUCTION_MEAN) total /= (float)n_valid; /* no valid row: 0/0 = NaN */
    zk_cpu_store(job.loss, 0, 0, 1, &total);
  }
  free(job.losses);
  return s;
}

zk_status zk_cpu_softmax_cross_entropy_grad(zk_ctx *ctx, const zk_args *a) {
  ZK_CPU_CALL(ctx, softmax_cross_entropy_grad);
  ce_job job = job_of(a);
  int64_t R = a->t[0].rows, C = a->t[0].cols, n_valid;
  zk_status s = check_targets(call, job.t, C, job.ignore_index, &n_valid);
  if (s != ZK_OK) return s;
  if (job.reduction != ZK_REDUCTION_NONE) {
    zk_cpu_load(job.loss, 0, 0, 1, &job.scale);
    if (job.reduction == ZK_REDUCTION_MEAN) job.scale /= (float)n_valid;
  }
  return zk_cpu_for_rows(ctx, call, R, C, job_scratch(C), grad_row, &job);
}
