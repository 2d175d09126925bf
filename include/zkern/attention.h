/* attention family (spec: see docs).  Declarations are added as the ops land. */
#ifndef ZKERN_ATTENTION_H
#define ZKERN_ATTENTION_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
