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
	/*
	 * The page goes to /dev/null through a stream: writing a file per input
	 * (temporary file, fsync, rename) took most of each run's time.
	 */
	static FILE *sink;
	struct profile *a, *b;
	int err;

	if (!sink && !(sink = fopen("/dev/null", "w")))
		abort();
	a = read_or_refuse(data, size);
	if (a) {
		err = flamegraph__fwrite(a, "fuzz", sink);
		if (err && err != -ENOMEM)
			abort();
	}
	if (size > 4) {
		struct profile *x = read_or_refuse(data, size / 2);

		b = read_or_refuse(data + size / 2, size - size / 2);
		if (x && b && flamegraph__fwrite_diff(x, b, "fuzz", sink) == -EINVAL)
			abort();
		profile__free(x);
		profile__free(b);
	}
	profile__free(a);
	return 0;
}
