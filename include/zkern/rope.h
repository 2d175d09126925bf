/* rope family (spec: see docs).  Declarations are added as the ops land. */
#ifndef ZKERN_ROPE_H
#define ZKERN_ROPE_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
