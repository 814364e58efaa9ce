// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the pprof reader (gunzip, protobuf decode, id
 * resolution, the model built from it) and the flame graph written from that
 * model, which is what `emberprof flamegraph` and `emberprof diff` do with
 * files users hand them, from any tool. Seeds are real profiles. A profile
 * that reads must produce a page; garbage must be refused with -EINVAL,
 * never crash.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "profile/flamegraph.h"
#include "profile/pprof_read.h"
#include "profile/profile.h"

/* Reads @data; aborts on an error no input may cause. */
static struct profile *read_or_refuse(const uint8_t *data, size_t size)
{
	struct profile *p = NULL;
	int err = pprof__read(data, size, &p);

	if (err && err != -EINVAL && err != -ENOMEM && err != -EFBIG)
		abort();
	if (!err != !!p)
		abort();
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct profile *a, *b;
	int err;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/emberprof-fuzz-fg-%d.html", (int)getpid());
	a = read_or_refuse(data, size);
	if (a) {
		err = flamegraph__write(a, "fuzz", path);
		if (err && err != -ENOMEM)
			abort();
	}
	if (size > 4) {
		struct profile *x = read_or_refuse(data, size / 2);

		b = read_or_refuse(data + size / 2, size - size / 2);
		if (x && b && flamegraph__write_diff(x, b, "fuzz", path) == -EINVAL)
			abort();
		profile__free(x);
		profile__free(b);
	}
	profile__free(a);
	unlink(path);
	return 0;
}
