// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup path parsing (see cgroup.h). Each path component is matched on its
 * own, so the same rules serve the systemd and cgroupfs layouts and both
 * cgroup versions: the last component that is (a runtime prefix and) 64 hex
 * digits is the container, the component naming a pod gives its uid, and
 * the kubepods level above it the QoS class.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cgroup.h"

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return 1;
}

/* A container component: [prefix-]<64 hex>[.scope]. */
static int container_id(const char *c, size_t len, char *out)
{
	static const char *const prefixes[] = {"cri-containerd-", "crio-", "docker-", "libpod-",
					       ""};

	if (len > 6 && strncmp(c + len - 6, ".scope", 6) == 0)
		len -= 6;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t pl = strlen(prefixes[i]);

		if (len == pl + 64 && strncmp(c, prefixes[i], pl) == 0 && all_hex(c + pl, 64)) {
			memcpy(out, c + pl, 64);
			out[64] = '\0';
			return 1;
		}
	}
	return 0;
}

/* A pod uid, 36 characters with '-' or '_' at 8, 13, 18, 23: normalized to '-'. */
static int pod_uid(const char *s, size_t len, char *out)
{
	if (len != 36)
		return 0;
	for (size_t i = 0; i < 36; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-' && c != '_')
				return 0;
			out[i] = '-';
		} else if (isxdigit((unsigned char)c)) {
			out[i] = (char)tolower((unsigned char)c);
		} else {
			return 0;
		}
	}
	out[36] = '\0';
	return 1;
}

static void set_qos(struct container_info *out, const char *c, size_t len)
{
	if (memmem(c, len, "burstable", 9))
		snprintf(out->qos, sizeof(out->qos), "Burstable");
	else if (memmem(c, len, "besteffort", 10))
		snprintf(out->qos, sizeof(out->qos), "BestEffort");
}

/* Fills @out from one cgroup path. Returns 1 if it named a container or a pod. */
static int parse_path(const char *path, struct container_info *out)
{
	const char *c = path;
	int in_kubepods = 0, found = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->path, sizeof(out->path), "%s", path);
	while (*c) {
		size_t len;
		char id[65], uid[37];

		while (*c == '/')
			c++;
		len = strcspn(c, "/");
		if (!len)
			break;
		if (len >= 8 && strncmp(c, "kubepods", 8) == 0) {
			in_kubepods = 1;
			set_qos(out, c, len);
			/* kubepods-<qos>-pod<uid>.slice or kubepods-pod<uid>.slice */
			const char *pod = memmem(c, len, "-pod", 4);

			if (pod && len > 6 && strncmp(c + len - 6, ".slice", 6) == 0 &&
			    pod_uid(pod + 4, (size_t)(c + len - 6 - (pod + 4)), uid)) {
				memcpy(out->pod_uid, uid, sizeof(uid));
				found = 1;
			}
		} else if (in_kubepods && len > 3 && strncmp(c, "pod", 3) == 0 &&
			   pod_uid(c + 3, len - 3, uid)) {
			memcpy(out->pod_uid, uid, sizeof(uid));
			found = 1;
		} else if (in_kubepods && ((len == 9 && strncmp(c, "burstable", 9) == 0) ||
					   (len == 10 && strncmp(c, "besteffort", 10) == 0))) {
			set_qos(out, c, len);
		} else if (container_id(c, len, id)) {
			memcpy(out->id, id, sizeof(id));
			found = 1;
		}
		c += len;
	}
	/* A pod with no burstable/besteffort level is Guaranteed. */
	if (out->pod_uid[0] && !out->qos[0])
		snprintf(out->qos, sizeof(out->qos), "Guaranteed");
	return found;
}

int cgroup_parse(const char *text, struct container_info *out)
{
	struct container_info best = {0}, cur;
	const char *line = text;
	int have = 0, have_v1_container = 0;

	while (line && *line) {
		const char *nl = strchr(line, '\n'), *c1, *c2;
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char path[512];

		c1 = memchr(line, ':', len);
		c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
		if (c2 && (size_t)(line + len - (c2 + 1)) < sizeof(path)) {
			memcpy(path, c2 + 1, (size_t)(line + len - (c2 + 1)));
			path[line + len - (c2 + 1)] = '\0';
			int named = parse_path(path, &cur);
			/* The unified hierarchy ("0::") is the authority when present. */
			if (line[0] == '0' && c1 == line + 1 && c2 == c1 + 1) {
				*out = cur;
				return 0;
			}
			if (!have || (named && !have_v1_container)) {
				best = cur;
				have = 1;
				have_v1_container = named;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!have)
		return -EINVAL;
	*out = best;
	return 0;
}

int cgroup_read(const char *proc_root, unsigned int pid, struct container_info *out)
{
	char path[256], text[8192];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/cgroup", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return cgroup_parse(text, out);
}
