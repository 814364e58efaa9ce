#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# check-layout.sh: the include rules that keep the tree's folders its layers.
# Arrows point down only: cli -> agent -> profile -> symbolizer -> lib; bpf/
# is reached through the skeleton and the ABI header (bpf/emberprof.h).
# Prints each breach as FILE:LINE: the include, and exits 1 if there is one.
#
#   lib/         includes nothing of emberprof's but lib/
#   symbolizer/  lib/ and itself
#   profile/     lib/, symbolizer/ and itself
#   agent/       anything but cli/
#   cli/         anything
set -euo pipefail

cd "$(dirname "$0")/.."

bad=0
# check DIR ALLOWED...: every quoted include of DIR's sources must start with
# one of ALLOWED/ or name a generated header (protobuf-c's, the skeleton).
check()
{
	local dir=$1 file line inc ok a
	shift
	while IFS=: read -r file line inc; do
		inc=${inc#*\"}
		inc=${inc%%\"*}
		ok=0
		case $inc in
		*.pb-c.h | emberprof.skel.h | vmlinux.h) ok=1 ;;
		esac
		for a in "$@"; do
			[[ $inc == "$a"/* ]] && ok=1
		done
		if ((!ok)); then
			echo "$file:$line: $dir/ may not include \"$inc\" (allowed: ${*/%//})"
			bad=1
		fi
	done < <(grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$dir"/*.[ch] || true)
}

check lib lib
check symbolizer lib symbolizer
check profile lib symbolizer profile
check agent lib symbolizer profile agent bpf
check cli lib symbolizer profile agent bpf cli
exit "$bad"
