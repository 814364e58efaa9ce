// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the OTel process-context payload parser, which reads
 * bytes another process wrote. Whatever it accepts must leave bounded,
 * NUL-terminated strings behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/otelctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct otel_ctx c = {0};

	if (otelctx_parse_payload(data, size, &c) == 0) {
		if (c.nresource > PROF_MAX_ATTRS || c.nkeys > OTEL_CTX_MAX_KEYS)
			abort();
		for (size_t i = 0; i < c.nresource; i++)
			if (strlen(c.resource[i].key) + strlen(c.resource[i].value) > size)
				abort();
		for (size_t i = 0; i < c.nkeys; i++)
			if (strlen(c.keys[i]) > size)
				abort();
	}
	otelctx_clear(&c);
	return 0;
}
