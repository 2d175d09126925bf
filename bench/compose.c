/* Unfused baselines of the benchmark: each fused op recomposed from the
 * separate zkern ops a user would otherwise chain (extra passes over
 * memory included), writing the same outputs. */
#include <string.h>
#include "bench.h"

#if __has_include(<zkern/fused.h>)
#include <zkern/fused.h>
#define ZK_BENCH_HAVE_FUSED 1
#endif

#ifdef ZK_BENCH_HAVE_FUSED
/* A [rows, cols] view of memory with a row stride (elements) and offset. */
typedef struct view {
  DLTensor t;
  int64_t shape[2], strides[2];
} view;

static DLTensor *make_view(view *v, const DLTensor *like, void *data, int64_t rows, int64_t cols, int64_t stride,
                           int64_t offset_elems) {
  memset(v, 0, sizeof *v);
  v->t = *like;
  v->t.data = data;
  v->t.ndim = 2;
  v->shape[0] = rows, v->shape[1] = cols;
  v->strides[0] = stride, v->strides[1] = 1;
  v->t.shape = v->shape;
  v->t.strides = v->strides;
  v->t.byte_offset = (uint64_t)offset_elems * (uint64_t)(like->dtype.bits / 8);
  return &v->t;
}

/* A temporary shaped like the case's activation rows. */
static DLTensor *temp_rows(view *v, const zk_case *c, int like_slot, void *tmp, int64_t cols) {
  return make_view(v, &c->dl[like_slot], tmp, c->R, cols, cols, 0);
}

/* A [D] parameter broadcast over the rows (row stride 0). */
static DLTensor *broadcast(view *v, const zk_case *c, int slot) {
  return make_view(v, &c->dl[slot], c->dl[slot].data, c->R, c->D, 0, 0);
}

/* gate = x[..., :D] and up = x[..., D:] as views. */
static void halves(const zk_case *c, int slot, view *gate, view *up) {
  int64_t stride = c->stride[slot];
  make_view(gate, &c->dl[slot], c->dl[slot].data, c->R, c->D, stride, 0);
  make_view(up, &c->dl[slot], c->dl[slot].data, c->R, c->D, stride, c->D);
}

static zk_status rmsnorm_residual(zk_ctx *ctx, zk_case *c, void *tmp) {
  (void)tmp;
  zk_status s = zk_add(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 4));
  return s ? s : zk_rmsnorm(ctx, ZT(c, 4), ZT(c, 2), ZT(c, 3), (float)c->s[0]);
}

static zk_status layernorm_residual(zk_ctx *ctx, zk_case *c, void *tmp) {
  (void)tmp;
  zk_status s = zk_add(ctx, ZT(c, 0), ZT(c, 1), ZT(c, 5));
  return s ? s : zk_layernorm(ctx, ZT(c, 5), ZT(c, 2), ZT(c, 3), ZT(c, 4), (float)c->s[0]);
}

static zk_status fused_add_rmsnorm(zk_ctx *ctx, zk_case *c, void *tmp) {
  view h;
  DLTensor *ht = temp_rows(&h, c, 0, tmp, c->D);
  zk_status s = zk_add(ctx, ZT(c, 0), ZT(c, 1), ht);
  return s ? s : zk_rmsnorm(ctx, ht, ZT(c, 2), ZT(c, 3), (float)c->s[0]);
}

static zk_status fused_add_layernorm(zk_ctx *ctx, zk_case *c, void *tmp) {
  view h;
  DLTensor *ht = temp_rows(&h, c, 0, tmp, c->D);
  zk_status s = zk_add(ctx, ZT(c, 0), ZT(c, 1), ht);
  return s ? s : zk_layernorm(ctx, ht, ZT(c, 2), ZT(c, 3), ZT(c, 4), (float)c->s[0]);
}

static zk_status rmsnorm(zk_ctx *ctx, zk_case *c, void *tmp) {
  view n, w;
  DLTensor *nt = temp_rows(&n, c, 0, tmp, c->D);
  zk_status s = zk_rms_norm_no_weight(ctx, ZT(c, 0), nt, (float)c->s[0]);
  return s ? s : zk_mul(ctx, nt, broadcast(&w, c, 1), ZT(c, 2));
}

static zk_status layernorm(zk_ctx *ctx, zk_case *c, void *tmp) {
  view n, g, b;
  DLTensor *nt = temp_rows(&n, c, 0, tmp, c->D);
  zk_status s = zk_layer_norm_no_weight(ctx, ZT(c, 0), nt, (float)c->s[0]);
  if (!s) s = zk_mul(ctx, nt, broadcast(&g, c, 1), ZT(c, 3));
  if (!s && c->present[2]) s = zk_add(ctx, ZT(c, 3), broadcast(&b, c, 2), ZT(c, 3));
  return s;
}

/* silu(gate) (or gelu_tanh) into a temporary, then times up. */
static zk_status gated(zk_ctx *ctx, zk_case *c, void *tmp, zk_status (*act)(zk_ctx *, const DLTensor *, DLTensor *)) {
  view gate, up, a;
  halves(c, 0, &gate, &up);
  DLTensor *at = temp_rows(&a, c, 0, tmp, c->D);
  zk_status s = act(ctx, &gate.t, at);
  return s ? s : zk_mul(ctx, at, &up.t, ZT(c, 1));
}
static zk_status swiglu(zk_ctx *ctx, zk_case *c, void *tmp) { return gated(ctx, c, tmp, zk_silu); }
static zk_status geglu(zk_ctx *ctx, zk_case *c, void *tmp) { return gated(ctx, c, tmp, zk_gelu_tanh); }

static zk_status bias_gated(zk_ctx *ctx, zk_case *c, void *tmp, zk_status (*gate)(zk_ctx *, const DLTensor *, DLTensor *)) {
  view xb;
  DLTensor *xt = temp_rows(&xb, c, 0, tmp, 2 * c->D);
  zk_status s = zk_add_bias(ctx, ZT(c, 0), ZT(c, 1), xt);
  return s ? s : gate(ctx, xt, ZT(c, 2));
}
static zk_status bias_swiglu(zk_ctx *ctx, zk_case *c, void *tmp) { return bias_gated(ctx, c, tmp, zk_swiglu); }
static zk_status bias_geglu(zk_ctx *ctx, zk_case *c, void *tmp) { return bias_gated(ctx, c, tmp, zk_geglu); }

static const zk_composition compositions[] = {
    {"rmsnorm", "rms_norm_no_weight + mul", rmsnorm, 1},
    {"layernorm", "layer_norm_no_weight + mul + add", layernorm, 1},
    {"rmsnorm_residual", "add + rmsnorm", rmsnorm_residual, 0},
    {"layernorm_residual", "add + layernorm", layernorm_residual, 0},
    {"fused_add_rmsnorm", "add + rmsnorm", fused_add_rmsnorm, 1},
    {"fused_add_layernorm", "add + layernorm", fused_add_layernorm, 1},
    {"swiglu", "silu + mul", swiglu, 1},
    {"geglu", "gelu_tanh + mul", geglu, 1},
    {"bias_swiglu", "add_bias + swiglu", bias_swiglu, 1},
    {"bias_geglu", "add_bias + geglu", bias_geglu, 1},
};
static const int ncompositions = sizeof compositions / sizeof compositions[0];
#else
static const zk_composition *const compositions = NULL;
static const int ncompositions = 0;
#endif

const zk_composition *zk_find_composition(const char *op) {
  for (int i = 0; i < ncompositions; i++)
    if (!strcmp(compositions[i].op, op)) return &compositions[i];
  return NULL;
}
