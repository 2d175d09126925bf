/* quant family.  Declarations are added as the ops land. */
#ifndef ZKERN_QUANT_H
#define ZKERN_QUANT_H
#include <zkern/zkern.h>
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
