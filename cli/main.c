// SPDX-License-Identifier: Apache-2.0
/*
 * emberprof's entry point: a table of commands, as perf's cmd_struct. The
 * first argument names the command; without one (or with a flag first) the
 * command is record, so `emberprof -F 99 -d 10` profiles as it always did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

#ifndef EMBERPROF_VERSION
#define EMBERPROF_VERSION "0.1.0"
#endif

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
	{"record", cmd_record},		{"top", cmd_top},   {"symbolize", cmd_symbolize},
	{"flamegraph", cmd_flamegraph}, {"diff", cmd_diff}, {"version", cmd_version},
};

int cmd_version(int argc, char **argv)
{
	printf("emberprof %s\n", EMBERPROF_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	/*
	 * libdw would fetch missing debug info from the debuginfod servers this
	 * variable names (Debian sets it for login shells): a profiler must not
	 * send what its hosts run over the network, nor stall on it.
	 */
	unsetenv("DEBUGINFOD_URLS");
	if (argc > 1)
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				return commands[i].fn(argc - 1, argv + 1);
	return cmd_record(argc, argv);
}
