/* Test descriptors of the scan family.  Filled as its ops land. */
#include "harness/harness.h"

const zk_family_tests zk_tests_scan = {"scan", NULL, 0, NULL, 0};
