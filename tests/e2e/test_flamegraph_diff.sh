#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_flamegraph_diff: `emberprof diff` colours by the change of share.
#
# The base is cpusplit (work_a/work_b/work_c at 6:3:1). The new profile is
# of a variant built here from a copy of the same loop with a 2:3:5 split
# (the same function names and callers); one agent run profiles both, and
# each pid's samples make its profile. In the differential page, read
# back through headless Chromium's DOM dump, work_a's share must have
# dropped by about 40 points and work_c's risen by about as much, work_b's
# stayed put, and the frames are sized by the new profile (work_c ~50%).
# A function only in the new profile (new_only, a few percent) must count as
# new: its base share 0. The drawn frames (read through the page's hook by
# tests/browser/interact.js) must carry the same signs: the two programs'
# frames are matched by name although their source files differ.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../browser/chrome.sh
. "$ROOT/tests/browser/chrome.sh"

require_root
require_bins cpusplit
require_chromium
need_playwright

cat >"$T/split235.c" <<'C'
/* cpusplit's loop with a 2:3:5 split, and a little new_only. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define UNIT 250000UL
#define BURN(units)                                                                \
	({                                                                         \
		volatile unsigned long acc = 0;                                    \
		for (unsigned long i = 0; i < UNIT * (units); i++)                 \
			acc = acc * 31 + (i ^ (acc >> 7));                         \
		acc;                                                               \
	})

static volatile unsigned long sink;

__attribute__((noinline)) unsigned long work_a(void) { return BURN(2); }
__attribute__((noinline)) unsigned long work_b(void) { return BURN(3); }
__attribute__((noinline)) unsigned long work_c(void) { return BURN(5); }
__attribute__((noinline)) unsigned long new_only(void) { return BURN(1) / 2; }

__attribute__((noinline)) void run_round(int n)
{
	sink += work_a();
	sink += work_b();
	sink += work_c();
	if (n % 4 == 0)
		sink += new_only();
	sink++;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void *worker(void *arg)
{
	double deadline = *(double *)arg;

	for (int n = 0; now() < deadline; n++)
		run_round(n);
	sink++;
	return NULL;
}

int main(int argc, char **argv)
{
	double deadline = now() + (argc > 1 ? atof(argv[1]) : 10);
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, &deadline);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return 0;
}
C
gcc -O2 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -pthread \
	-o "$T/split235" "$T/split235.c" 2>"$T/gcc.err" || fail "cannot build the variant: $(head -n 1 "$T/gcc.err")"

# Both programs in one run (-p both), then a profile of each pid's samples.
start_workload cpusplit 20
BASE=$BG_PID
start_bg "$T/split235" 20
NEW=$BG_PID
sleep 0.3
agent_ok -F 199 -d 5 -p "$BASE,$NEW" -o "$T/both.pb.gz"
check_profile "$T/both.pb.gz"
pid_profile "$T/both.pb.gz" "$BASE" "$T/base.pb.gz"
pid_profile "$T/both.pb.gz" "$NEW" "$T/new.pb.gz"

agent_ok diff "$T/base.pb.gz" "$T/new.pb.gz" -o "$T/d.html"
no_urls "$T/d.html"
chrome_dump 60 "$T/d.html" "$T/d.dom"
page_rows "$T/d.dom" >"$T/d.rows"
read -r _ ready status < <(head -n 1 "$T/d.rows")
[[ $ready == 1 ]] || fail "d.html did not report ready (status: $status)"
info "$status"
grep -q '<title>base.pb.gz vs new.pb.gz — differential flame graph</title>' "$T/d.dom" ||
	fail "the page is not titled as a differential graph of base.pb.gz vs new.pb.gz"

for fn in work_a work_b work_c new_only; do
	IFS=: read -r now base d <<<"$(row_field "$T/d.rows" "$fn" 2):$(row_field "$T/d.rows" "$fn" 4):$(row_field "$T/d.rows" "$fn" 5)"
	[[ $now != missing ]] || fail "the diff page's table has no $fn"
	info "$fn: new $now%, base $base%, change $d points"
	case $fn in
	work_a) within "$d" -60 -20 || fail "work_a changed by $d points (want about -40)" ;;
	work_b) within "$d" -10 10 || fail "work_b changed by $d points (want about 0)" ;;
	work_c) within "$d" 20 60 || fail "work_c changed by $d points (want about +40)" ;;
	new_only)
		within "$base" 0 0 || fail "new_only has a base share of $base% (want 0: new)"
		within "$now" 0.5 15 || fail "new_only is $now% of the new profile (want a few %)"
		;;
	esac
done
# Sized by the new profile: work_c is the widest of the three now.
now_c=$(row_field "$T/d.rows" work_c 2)
within "$now_c" 35 60 || fail "work_c is $now_c% of the new profile (want about 48)"

# The drawn frames: matched with the base's by name, coloured by the sign.
interact frames "$T/d.html" "$T/d.frames.json"
python3 - "$T/d.frames.json" <<'PY' 2>"$T/frames.err" >&2 || fail "$(tail -n 1 "$T/frames.err")"
import json, sys
d = json.load(open(sys.argv[1]))
want = {"work_a": -1, "work_c": 1, "run_round": 0}
seen = {}
for f in d["frames"]:
    if f["name"] in want or f["name"] == "new_only":
        seen[f["name"]] = f
for name, sign in want.items():
    f = seen.get(name)
    if not f or f["fresh"]:
        sys.exit("frame %s is %s" % (name, "not drawn" if not f else "marked new"))
    if sign and (f["delta"] > 0) != (sign > 0):
        sys.exit("frame %s changed by %.3f, want sign %d" % (name, f["delta"], sign))
    if not sign and abs(f["delta"]) > 0.02:
        sys.exit("frame %s changed by %.3f, want ~0" % (name, f["delta"]))
if not seen.get("new_only", {}).get("fresh"):
    sys.exit("frame new_only is not marked new")
print("frames: " + ", ".join("%s %+.1f" % (n, 100 * f["delta"]) for n, f in sorted(seen.items())))
PY
info "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["frames"]))' "$T/d.frames.json") frames drawn"

# The other way round the signs flip.
agent_ok diff "$T/new.pb.gz" "$T/base.pb.gz" -o "$T/r.html"
chrome_dump 60 "$T/r.html" "$T/r.dom"
page_rows "$T/r.dom" >"$T/r.rows"
d=$(row_field "$T/r.rows" work_a 5)
within "$d" 20 60 || fail "reversed: work_a changed by $d points (want about +40)"
run_agent diff "$T/base.pb.gz" -o "$T/x.html"
((AGENT_RC == 2)) || fail "diff with one input exited $AGENT_RC (want 2)"
exit 0
