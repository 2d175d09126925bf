/* bits family.  Declarations are added as the ops land. */
#ifndef ZKERN_BITS_H
#define ZKERN_BITS_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
