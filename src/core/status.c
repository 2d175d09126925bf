/* Status names and the context's error message. */
#include <stdio.h>
#include "internal.h"

#define ZK_STR2(x) #x
#define ZK_STR(x) ZK_STR2(x)

const char *zk_version(void) {
  return ZK_STR(ZK_VERSION_MAJOR) "." ZK_STR(ZK_VERSION_MINOR) "." ZK_STR(ZK_VERSION_PATCH);
}

const char *zk_status_name(zk_status s) {
  switch (s) {
    case ZK_OK: return "ZK_OK";
    case ZK_ERR_ARG: return "ZK_ERR_ARG";
    case ZK_ERR_DTYPE: return "ZK_ERR_DTYPE";
    case ZK_ERR_SHAPE: return "ZK_ERR_SHAPE";
    case ZK_ERR_LAYOUT: return "ZK_ERR_LAYOUT";
    case ZK_ERR_DEVICE: return "ZK_ERR_DEVICE";
    case ZK_ERR_INDEX: return "ZK_ERR_INDEX";
    case ZK_ERR_OOM: return "ZK_ERR_OOM";
    case ZK_ERR_UNSUPPORTED: return "ZK_ERR_UNSUPPORTED";
    case ZK_ERR_BACKEND: return "ZK_ERR_BACKEND";
  }
  return "ZK_ERR_?";
}

zk_status zk_fail(const zk_call *call, zk_status status, const char *fmt, ...) {
  if (!call->ctx) return status;
  char *buf = call->ctx->error;
  size_t cap = sizeof call->ctx->error;
  int n = snprintf(buf, cap, "%s: ", call->op);
  if (n < 0 || (size_t)n >= cap) return status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
  va_end(ap);
  return status;
}
