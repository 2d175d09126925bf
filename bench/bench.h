/* Subcommands of the zkern command. */
#ifndef ZK_BENCH_BENCH_H
#define ZK_BENCH_BENCH_H

int zk_cmd_list(int argc, char **argv);
int zk_cmd_check(int argc, char **argv);
int zk_cmd_bench(int argc, char **argv);

#endif
