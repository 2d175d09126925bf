/* Bit ops on the CPU (spec §13).  Both run over chunks of whole bytes of
 * the packed side, so every output byte is written by exactly one thread
 * and the result cannot depend on the thread count.  pack's inner loop has
 * a fixed trip count of 8 per byte, which gcc vectorizes; unpack spreads a
 * byte with one multiply (unpack_full).
 *
 * Entry points follow the slots of src/api/bits.c. */
#include <string.h>
#include "cpu.h"

/* Packed bytes per chunk: 32 KiB of unpacked elements. */
#define BITS_CHUNK 4096

typedef struct bits_job {
  const uint8_t *src;
  uint8_t *dst;
  int64_t n;  /* unpacked elements */
} bits_job;

/* bytes whole bytes of 8 elements each (x and y never overlap: no aliases). */
ZK_HOT static void pack_full(const uint8_t *restrict x, uint8_t *restrict y, int64_t bytes) {
  for (int64_t i = 0; i < bytes; i++) {
    unsigned b = 0;
    for (int j = 0; j < 8; j++) b |= (unsigned)(x[8 * i + j] != 0) << j;
    y[i] = (uint8_t)b;
  }
}

/* A byte's 8 bits as 8 bytes of 0/1 in one 64-bit word: replicate the byte
 * into every lane, keep bit k in lane k, and turn each nonzero lane into
 * 0x80 or more by adding 0x7f (no carry leaves a lane), then move that top
 * bit to the lane's bit 0.  Lane k is stored at y + k on a little-endian
 * machine; the bit-by-bit loop (about a third of memcpy's rate) remains
 * for a big-endian one. */
ZK_HOT static void unpack_full(const uint8_t *restrict x, uint8_t *restrict y, int64_t bytes) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (int64_t i = 0; i < bytes; i++) {
    uint64_t lanes = ((uint64_t)x[i] * 0x0101010101010101ull) & 0x8040201008040201ull;
    lanes = ((lanes + 0x7f7f7f7f7f7f7f7full) >> 7) & 0x0101010101010101ull;
    memcpy(y + 8 * i, &lanes, 8);
  }
#else
  for (int64_t i = 0; i < bytes; i++)
    for (int j = 0; j < 8; j++) y[8 * i + j] = (uint8_t)((x[i] >> j) & 1u);
#endif
}

/* Chunk c: packed bytes [b0, b0 + full) hold elements [e0, e0 + 8·full),
 * and `tail` elements (< 8) follow in byte b0 + full, the last byte of the
 * last chunk (n not a multiple of 8). */
typedef struct bits_span {
  int64_t b0, e0, full;
  int tail;
} bits_span;

static bits_span span_of(const bits_job *a, int64_t c) {
  bits_span s = {c * BITS_CHUNK, 8 * c * BITS_CHUNK, 0, 0};
  int64_t left = a->n - s.e0;
  s.full = left / 8 < BITS_CHUNK ? left / 8 : BITS_CHUNK;
  if (s.full < BITS_CHUNK) s.tail = (int)(left % 8);
  return s;
}

/* The partial byte's padding bits are 0. */
static void pack_chunk(int64_t c, float *scratch, const void *arg) {
  const bits_job *a = arg;
  (void)scratch;
  bits_span s = span_of(a, c);
  pack_full(a->src + s.e0, a->dst + s.b0, s.full);
  if (s.tail) {
    unsigned b = 0;
    for (int j = 0; j < s.tail; j++) b |= (unsigned)(a->src[s.e0 + 8 * s.full + j] != 0) << j;
    a->dst[s.b0 + s.full] = (uint8_t)b;
  }
}

/* Bits past n are never read. */
static void unpack_chunk(int64_t c, float *scratch, const void *arg) {
  const bits_job *a = arg;
  (void)scratch;
  bits_span s = span_of(a, c);
  unpack_full(a->src + s.b0, a->dst + s.e0, s.full);
  for (int j = 0; j < s.tail; j++) a->dst[s.e0 + 8 * s.full + j] = (uint8_t)((a->src[s.b0 + s.full] >> j) & 1u);
}

static zk_status run_chunks(zk_ctx *ctx, const zk_call *call, int64_t n, zk_row_fn fn, const bits_job *job) {
  int64_t bytes = (n + 7) / 8, chunks = (bytes + BITS_CHUNK - 1) / BITS_CHUNK;
  return zk_cpu_for_rows(ctx, call, chunks, 8 * BITS_CHUNK, 0, fn, job);
}

zk_status zk_cpu_pack_bits(zk_ctx *ctx, const zk_args *args) {
  ZK_CPU_CALL(ctx, pack_bits);
  bits_job job = {args->t[0].data, args->t[1].data, args->i[0]};
  return run_chunks(ctx, call, job.n, pack_chunk, &job);
}

zk_status zk_cpu_unpack_bits(zk_ctx *ctx, const zk_args *args) {
  ZK_CPU_CALL(ctx, unpack_bits);
  bits_job job = {args->t[0].data, args->t[1].data, args->i[0]};
  return run_chunks(ctx, call, job.n, unpack_chunk, &job);
}
