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
#   profile/     lib/, symbolizer/, itself and protobuf-c's generated headers
#   agent/       anything but cli/
#   cli/         anything
# An include in angle brackets counts when it names a file of this tree.
set -euo pipefail

cd "$(dirname "$0")/.."

bad=0
# check DIR GENERATED ALLOWED...: every include of DIR's sources that names
# a file of this tree (quoted, or in angle brackets but found from the top:
# the build has -I.) must start with one of ALLOWED/. GENERATED says which
# headers of the build directory it may include: none, pb (protobuf-c's) or
# all (those and the skeleton and vmlinux.h).
check()
{
	local dir=$1 gen=$2 file line inc ok a
	shift 2
	while IFS=: read -r file line inc; do
		if [[ $inc == *\"* ]]; then
			inc=${inc#*\"}
			inc=${inc%%\"*}
		else
			inc=${inc#*<}
			inc=${inc%%>*}
			[[ -e $inc ]] || continue # a system header
		fi
		ok=0
		case $gen:$inc in
		pb:*.pb-c.h | all:*.pb-c.h | all:emberprof.skel.h | all:vmlinux.h) ok=1 ;;
		esac
		for a in "$@"; do
			[[ $inc == "$a"/* ]] && ok=1
		done
		if ((!ok)); then
			echo "$file:$line: $dir/ may not include \"$inc\" (allowed: ${*/%//})"
			bad=1
		fi
	done < <(grep -Hn -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' "$dir"/*.[ch] || true)
}

check lib none lib
check symbolizer none lib symbolizer
check profile pb lib symbolizer profile
check agent all lib symbolizer profile agent bpf
check cli all lib symbolizer profile agent bpf cli
exit "$bad"
