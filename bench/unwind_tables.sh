#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/unwind_tables.sh - what clang++'s unwind tables cost: memory, build
# time, and how long one build holds the agent's event loop.
#
# 1. Offline, per file clang++ maps (libLLVM, libclang-cpp, the clang binary,
#    libstdc++, libc), from bench/unwind_tables.c: rows and MiB in the layout
#    before chunked tables (16-byte rows, a GAP row after every FDE that the
#    next does not follow directly, all built when the file was mapped) and
#    now (8-byte rows, no GAP row for alignment padding); the time to build a
#    file whole, to open it for chunk builds, and each 64 KiB chunk's build:
#    the median and the longest.
# 2. In the agent, profiling the whole system for BENCH_SECS s at 99 Hz while
#    a loop runs clang++ -std=c++17 -O2 -c on tests/e2e/data/clang_input.cpp:
#    at the default --unwind-table-mb and at BENCH_SMALL_MB, the agent's own
#    -v report of rows, chunks, builds, evictions and the longest build, and
#    the share of the compilers' samples whose stack reaches main.
#
# Needs root, clang++ and `make O=build build/emberprof build/pprof`.
# Environment: O [build], BENCH_SECS [10], BENCH_SMALL_MB [4].
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-build}
[[ $O = /* ]] || O=$ROOT/$O
SECS=${BENCH_SECS:-10}
SMALL_MB=${BENCH_SMALL_MB:-4}
INPUT=$ROOT/tests/e2e/data/clang_input.cpp
T=$(mktemp -d "${TMPDIR:-/tmp}/emberprof-bench-tables.XXXXXX")
trap 'rm -rf "$T"' EXIT

command -v clang++ >/dev/null || {
	echo "unwind_tables: clang++ is missing (apt-get install clang)" >&2
	exit 1
}
[[ -x $O/emberprof ]] || {
	echo "unwind_tables: no $O/emberprof: run make first" >&2
	exit 1
}
gcc -O2 -g -I"$ROOT" -I"$O" -I"$ROOT/bpf" -D_GNU_SOURCE "$ROOT/bench/unwind_tables.c" \
	"$ROOT/agent/unwind_table.c" "$ROOT/symbolizer/elf_file.c" "$ROOT/lib/log.c" \
	"$ROOT/lib/array.c" "$ROOT/lib/hex.c" -lelf -ldw -o "$T/unwind_tables"

clang=$(readlink -f "$(command -v clang++)")
mapfile -t libs < <(ldd "$clang" | awk '/libLLVM|libclang-cpp|libstdc\+\+|libc\.so/ { print $3 }')
echo "## 1. Tables of the files clang++ maps (offline)"
printf '%-28s %10s %8s %10s %8s %8s %8s %7s %10s %8s\n' file "rows(16B)" MiB \
	"rows(8B)" MiB "whole ms" "open ms" chunks "chunk med" "max ms"
"$T/unwind_tables" "$clang" "${libs[@]}" | while read -r f orows omib nrows nmib wms oms nch _ med mx; do
	printf '%-28s %10s %8s %10s %8s %8s %8s %7s %10s %8s\n' "$(basename "$f")" "$orows" \
		"$omib" "$nrows" "$nmib" "$wms" "$oms" "$nch" "$med" "$mx"
done

# run MB: the agent for SECS s on the whole system during the clang++ loop.
run()
{
	local args=() all main
	[[ $1 != default ]] && args=(--unwind-table-mb "$1")
	: >"$T/pids"
	(
		end=$((SECONDS + SECS + 2))
		while ((SECONDS < end)); do
			clang++ -std=c++17 -O2 -c "$INPUT" -o "$T/in.o" &
			echo "$!" >>"$T/pids"
			wait "$!" || true
		done
	) &
	local loop=$!
	sleep 0.5
	"$O/emberprof" -v -F 99 -d "$SECS" "${args[@]}" -o "$T/p.pb.gz" --folded "$T/p.folded" \
		2>"$T/agent.err" || true
	wait "$loop" || true
	grep -E '^emberprof: unwind: ' "$T/agent.err" | sed 's/^emberprof: /  /'
	grep -E 'refused for lack of room' "$T/agent.err" | sed 's/^emberprof: /  /' || true
	# The folded stacks' root is the process name: the loop's compilers are clang.
	read -r all main < <(awk '$1 ~ /^clang;/ { n = $NF; all += n; if ($1 ~ /;main(;|$)/) m += n }
		END { print all + 0, m + 0 }' "$T/p.folded")
	echo "  clang++ samples: $all, reaching main: $main ($(awk -v a="$all" -v m="$main" \
		'BEGIN { printf "%.1f", a ? 100 * m / a : 0 }')%)"
}

echo
echo "## 2. In the agent: clang++ loop, whole system, ${SECS}s at 99 Hz"
echo "default --unwind-table-mb:"
run default
echo "--unwind-table-mb $SMALL_MB:"
run "$SMALL_MB"
