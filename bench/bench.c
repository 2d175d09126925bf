/* `zkern bench` (placeholder until the bench lands). */
#include <stdio.h>
#include "bench.h"
int zk_cmd_bench(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return 0;
}
