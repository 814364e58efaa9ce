// SPDX-License-Identifier: Apache-2.0
/* Placeholder until the flame graph lands: every entry point reports ENOSYS. */
#include <errno.h>

#include "flamegraph.h"
#include "log.h"

int flamegraph__write(const uint8_t *pprof, size_t len, const char *title, const char *path)
{
	(void)pprof;
	(void)len;
	(void)title;
	(void)path;
	return -ENOSYS;
}

int flamegraph__write_diff(const uint8_t *base, size_t base_len, const uint8_t *next,
			   size_t next_len, const char *title, const char *path)
{
	(void)base;
	(void)base_len;
	(void)next;
	(void)next_len;
	(void)title;
	(void)path;
	return -ENOSYS;
}

int flamegraph_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pr_warn("flamegraph: not built yet");
	return 1;
}

int diff_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pr_warn("diff: not built yet");
	return 1;
}
