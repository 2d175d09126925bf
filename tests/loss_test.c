/* Test descriptors of the loss family.  Filled as its ops land. */
#include "harness/harness.h"

const zk_family_tests zk_tests_loss = {"loss", NULL, 0, NULL, 0};
