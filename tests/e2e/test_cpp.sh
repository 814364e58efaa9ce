#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_cpp: C++ function names are demangled, the mangled form kept aside.
#
# templated spends its time in ember::Mixer<int>::churn(unsigned long), whose
# symbol is _ZN5ember5MixerIiE5churnEm. The agent profiles that pid at 99 Hz
# for 5 s; the test then checks that `pprof -top` names the demangled form
# as the hottest function (>= 90% flat) called from main, that no Function
# name in the profile is still mangled (_Z...), and that churn's Function
# keeps the mangled form as its system_name (which `pprof -raw` prints in
# parentheses after "s=START").

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_bins templated

FREQ=99
DUR=5
DEMANGLED='ember::Mixer<int>::churn(unsigned long)'
MANGLED=_ZN5ember5MixerIiE5churnEm

start_workload templated 20
PID=$BG_PID
agent_cpu "$PID" -F "$FREQ" -d "$DUR" -p "$PID" -o "$T/cpp.pb.gz"
alive "$PID" || fail "templated exited before the profile ended"
check_profile "$T/cpp.pb.gz"

tot=$(total "$T/cpp.pb.gz")
pp_top "$T/cpp.pb.gz" | sort -t "$(printf '\t')" -k2,2nr >"$T/top.tsv"
IFS=$'\t' read -r hot hot_n <"$T/top.tsv"
info "total=$tot hottest=$hot ($hot_n)"
cpu_bounds "$tot" templated "$AGENT_CPU" "$FREQ" "$DUR"
[[ $hot == "$DEMANGLED" ]] || fail "hottest function is '$hot' ($hot_n of $tot), want '$DEMANGLED'"
((hot_n * 100 >= tot * 90)) || fail "$DEMANGLED has $hot_n of $tot samples flat (want >= 90%)"

samples "$T/cpp.pb.gz" >"$T/samples.tsv"
read -r leaf chained < <(awk -F '\t' -v f="$DEMANGLED" '
	{ n = split($7, fr, ";") }
	fr[n] == f { leaf += $1; if (n >= 2 && fr[n - 1] == "main") chained += $1 }
	END { print leaf + 0, chained + 0 }' "$T/samples.tsv")
((chained * 100 >= leaf * 95)) ||
	fail "only $chained of $leaf churn samples are called from main"

# No function is named by a mangled symbol, in -top or in any frame.
mangled=$(cut -f1 "$T/top.tsv" | grep -m 1 '^_Z')
[[ -z $mangled ]] || fail "function still mangled in pprof -top: $mangled"
mangled=$(cut -f7 "$T/samples.tsv" | tr ';' '\n' | grep -m 1 '^_Z')
[[ -z $mangled ]] || fail "frame still mangled in pprof -raw: $mangled"

# The system name: pprof -raw prints a Location line as
# "ID: ADDR M=N NAME FILE:LINE s=START(SYSTEM_NAME)" when the two differ.
pp -raw "$T/cpp.pb.gz" >"$T/raw.txt"
grep -F -q "$DEMANGLED " "$T/raw.txt" || fail "pprof -raw has no Location line for $DEMANGLED"
sys=$(grep -F "$DEMANGLED " "$T/raw.txt" | head -n 1 | sed -n 's/.* s=-\{0,1\}[0-9]*(\(.*\))$/\1/p')
[[ $sys == "$MANGLED" ]] || fail "system_name of $DEMANGLED is '$sys', want $MANGLED"
exit 0
