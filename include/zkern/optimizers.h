/* optimizers family.  Declarations are added as the ops land. */
#ifndef ZKERN_OPTIMIZERS_H
#define ZKERN_OPTIMIZERS_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
