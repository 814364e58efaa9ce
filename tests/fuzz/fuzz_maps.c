// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the /proc/PID/maps line parser, fed arbitrary lines. The
 * parser must never read past the line, and a line it accepts must describe a
 * sane range whose path lies inside the line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/proc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	struct proc_mapping m;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (proc_maps_parse_line(line, &m) == 0) {
		if (m.end < m.start || m.path < line || m.path > line + strlen(line))
			abort();
	}
	free(line);
	return 0;
}
