// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the flame graph's pprof reader (gunzip, protobuf decode,
 * id resolution, tree building, page writing), which reads files users hand
 * to `emberprof flamegraph` and `emberprof diff`, from any tool. Seeds are
 * real profiles. A decoded profile must produce a page; garbage must be
 * refused with -EINVAL, never crash.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/flamegraph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	int err;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/emberprof-fuzz-fg-%d.html", (int)getpid());
	err = flamegraph__write(data, size, "fuzz", path);
	if (err && err != -EINVAL && err != -ENOMEM && err != -EFBIG && err != -E2BIG)
		abort();
	if (size > 4)
		flamegraph__write_diff(data, size / 2, data + size / 2, size - size / 2, "fuzz",
				       path);
	unlink(path);
	return 0;
}
