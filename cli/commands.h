/* SPDX-License-Identifier: Apache-2.0 */
/*
 * emberprof's commands, one file each under cli/ (as perf's builtin-*.c).
 * Each takes the command's own argv (argv[0] is the command's name) and
 * returns the process exit code: 0, 1 for a failure, 2 for a usage error.
 * A new command is a file here and a row in main.c's table.
 */
#ifndef EMBER_CLI_COMMANDS_H
#define EMBER_CLI_COMMANDS_H

/* Profile and write pprof / folded / flame graph / OTLP: the default command. */
int cmd_record(int argc, char **argv);
/* A live view of the hottest functions, processes or spans. */
int cmd_top(int argc, char **argv);
/* Name addresses of a process or an ELF file. */
int cmd_symbolize(int argc, char **argv);
/* A self-contained HTML flame graph of a pprof file. */
int cmd_flamegraph(int argc, char **argv);
/* A differential flame graph of two pprof files. */
int cmd_diff(int argc, char **argv);
/* Prints the version. */
int cmd_version(int argc, char **argv);

#endif
