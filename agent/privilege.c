// SPDX-License-Identifier: Apache-2.0
/* Capability checks and the post-load drop, through libcap (see privilege.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>

#include "lib/log.h"
#include "agent/privilege.h"

/*
 * CAP_DAC_OVERRIDE is kept only if held (root on a host): outputs are written
 * fresh every interval, and the user may have pointed them at a directory
 * only root's override can write to. The DaemonSet and the systemd unit never
 * grant it.
 */
static const cap_value_t kept[] = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_CHECKPOINT_RESTORE,
				   CAP_SYSLOG, CAP_DAC_OVERRIDE};
/* Not CAP_SYS_RESOURCE: kernels since 5.11 charge BPF memory to the cgroup, not memlock. */
static const cap_value_t optional[] = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_CHECKPOINT_RESTORE,
				       CAP_SYSLOG};

static int has(cap_t caps, cap_value_t c)
{
	cap_flag_value_t v = CAP_CLEAR;

	cap_get_flag(caps, c, CAP_EFFECTIVE, &v);
	return v == CAP_SET;
}

static void append(char *buf, size_t size, const char *name)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s%s", len ? ", " : "", name);
}

int privilege_check(void)
{
	cap_t caps = cap_get_proc();
	char missing[256] = "";
	int admin;

	if (!caps) {
		pr_warn("cannot read this process's capabilities: %s", strerror(errno));
		return -1;
	}
	admin = has(caps, CAP_SYS_ADMIN);
	if (!admin && !has(caps, CAP_BPF))
		append(missing, sizeof(missing), "CAP_BPF");
	if (!admin && !has(caps, CAP_PERFMON))
		append(missing, sizeof(missing), "CAP_PERFMON");
	if (missing[0]) {
		cap_free(caps);
		pr_warn("missing %s (run as root, or grant CAP_BPF and CAP_PERFMON)", missing);
		return -1;
	}
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
		if (!has(caps, optional[i])) {
			char *name = cap_to_name(optional[i]);

			append(missing, sizeof(missing), name ? name : "?");
			cap_free(name);
		}
	}
	cap_free(caps);
	if (missing[0])
		pr_warn("running without %s: processes of other users, deleted binaries or "
			"kernel symbols may go unnamed",
			missing);
	return 0;
}

/*
 * Attaching uprobes and their programs, for privilege_drop(1). Kernels with
 * the fix for uprobes on data words ("perf: Require CAP_SYS_ADMIN for
 * uprobes", 2025) refuse a uprobe perf event without CAP_SYS_ADMIN, whatever
 * else is held: this kernel (6.18) answers EACCES with CAP_PERFMON and
 * CAP_BPF alone. So --alloc keeps CAP_SYS_ADMIN too, when it has it.
 */
static const cap_value_t kept_attach[] = {CAP_PERFMON, CAP_BPF, CAP_SYS_ADMIN};

int privilege_drop(int attach_later)
{
	cap_t cur = cap_get_proc(), next = cap_init();
	cap_value_t
		keep[sizeof(kept) / sizeof(kept[0]) + sizeof(kept_attach) / sizeof(kept_attach[0])];
	cap_value_t
		want[sizeof(kept) / sizeof(kept[0]) + sizeof(kept_attach) / sizeof(kept_attach[0])];
	size_t nwant = 0;
	int n = 0, err = 0;

	if (!cur || !next) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		want[nwant++] = kept[i];
	if (attach_later)
		for (size_t i = 0; i < sizeof(kept_attach) / sizeof(kept_attach[0]); i++)
			want[nwant++] = kept_attach[i];
	/* Keep only what we hold already: capabilities cannot be added here. */
	for (size_t i = 0; i < nwant; i++) {
		cap_flag_value_t v = CAP_CLEAR;

		cap_get_flag(cur, want[i], CAP_PERMITTED, &v);
		if (v == CAP_SET)
			keep[n++] = want[i];
	}
	if (n && (cap_set_flag(next, CAP_PERMITTED, n, keep, CAP_SET) ||
		  cap_set_flag(next, CAP_EFFECTIVE, n, keep, CAP_SET))) {
		err = -errno;
		goto out;
	}
	if (cap_set_proc(next))
		err = -errno;
out:
	cap_free(cur);
	cap_free(next);
	return err;
}
