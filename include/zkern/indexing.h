/* indexing family.  Declarations are added as the ops land. */
#ifndef ZKERN_INDEXING_H
#define ZKERN_INDEXING_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
