# SPDX-License-Identifier: Apache-2.0
# Helpers the BPF benchmarks share; sourced, not run.

# prog_stats ID: "run_time_ns run_cnt" of program ID (nothing once it is gone).
prog_stats()
{
	{ bpftool prog show id "$1" 2>/dev/null || true; } | awk '
		NR == 1 {
			for (i = 1; i < NF; i++) {
				if ($i == "run_time_ns") t = $(i + 1)
				if ($i == "run_cnt") c = $(i + 1)
			}
			if (c != "") print t + 0, c + 0
		}'
}

# on_sample_id PID: the id of the BPF program named on_sample that PID holds.
on_sample_id()
{
	local id

	{ awk '/^prog_id:/ { print $2 }' "/proc/$1/fdinfo/"* 2>/dev/null || true; } | sort -u |
		while read -r id; do
			bpftool prog show id "$id" 2>/dev/null |
				awk -v id="$id" 'NR == 1 && / name on_sample / { print id }'
		done | head -n 1
}
