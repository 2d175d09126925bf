/* Test descriptors of the quant family.  Filled as its ops land. */
#include "harness/harness.h"

const zk_family_tests zk_tests_quant = {"quant", NULL, 0, NULL, 0};
