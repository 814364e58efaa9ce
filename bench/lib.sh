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
