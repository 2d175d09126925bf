/* The zkern command: list, check, bench. */
#include <stdio.h>
#include <string.h>
#include "bench.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: zkern list [--json]\n"
          "       zkern check [--backend cpu|cuda] [OPS...]\n"
          "       zkern bench [OPS...] [--backend cpu|cuda] [--json] [--out FILE] [--quick] [--rows R --cols D]\n"
          "                   [--reps N]   (--json: JSON on stdout, table on stderr; --out: JSON to FILE)\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "list")) return zk_cmd_list(argc - 2, argv + 2);
  if (!strcmp(argv[1], "check")) return zk_cmd_check(argc - 2, argv + 2);
  if (!strcmp(argv[1], "bench")) return zk_cmd_bench(argc - 2, argv + 2);
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  usage(stderr);
  return 2;
}
