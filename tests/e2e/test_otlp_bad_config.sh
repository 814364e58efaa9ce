#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# test_otlp_bad_config: a bad OTLP setting stops the agent before it does
# anything, with exit code 2 and one line saying what is wrong.
#
# Each case sets one bad value (endpoint flag or variable, headers,
# compression, timeout, resource attributes, queue and flush flags) next to
# otherwise good settings, and runs the agent under strace. It must exit 2
# within a second, print exactly one line on stderr, starting "emberprof: "
# and naming the setting (a word of it, case-insensitive), print nothing on
# stdout, write no profile, and never call bpf(2) or perf_event_open(2):
# the check comes before any BPF is loaded. A good configuration with the
# same harness (a control) must get past that point and call bpf(2).

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
[[ -x $EMBERPROF ]] || fail "$EMBERPROF is missing (run make)"
command -v strace >/dev/null || fail "strace is missing (apt-get install strace)"

GOOD=http://127.0.0.1:9
cd "$T" || fail "cannot cd to $T"

# try WORD ENV... -- ARGS...: run the agent with the environment settings
# ENV (NAME=VALUE, on top of a clean OTEL_* environment) and ARGS; leaves
# its exit status in rc, its wall time in secs and its syscalls in $T/strace.
try()
{
	local envs=() start end

	while [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	shift
	rm -f "$T/strace" "$T/emberprof.pb.gz"
	start=$(date +%s.%N)
	env -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT \
		-u OTEL_EXPORTER_OTLP_HEADERS -u OTEL_EXPORTER_OTLP_PROFILES_HEADERS \
		-u OTEL_EXPORTER_OTLP_COMPRESSION -u OTEL_EXPORTER_OTLP_TIMEOUT \
		-u OTEL_RESOURCE_ATTRIBUTES -u OTEL_SERVICE_NAME "${envs[@]}" \
		timeout -k 2 10 strace -f -qq -o "$T/strace" -e trace=bpf,perf_event_open \
		"$EMBERPROF" "$@" >"$T/agent.out" 2>"$T/agent.err"
	rc=$?
	end=$(date +%s.%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
}

# bad WORD ENV... -- ARGS...: the agent must refuse this setting, naming
# WORD. A case that goes wrong is reported and remembered, and the test
# fails at the end with the first one, so one run lists them all.
nbad=0
FAILS=()
bad()
{
	local word=$1 what nl line why=

	shift
	what="$*"
	nbad=$((nbad + 1))
	try "$@"
	nl=$(wc -l <"$T/agent.err")
	line=$(head -n 1 "$T/agent.err")
	if ((rc != 2)); then
		why="exited $rc, want 2 (stderr: $line)"
	elif ((nl != 1)); then
		why="printed $nl lines on stderr, want 1: $(tr '\n' '|' <"$T/agent.err")"
	elif [[ $line != "emberprof: "* ]]; then
		why="message does not start 'emberprof: ': $line"
	elif ! grep -qi -- "$word" "$T/agent.err"; then
		why="message does not name '$word': $line"
	elif [[ -s $T/agent.out ]]; then
		why="printed on stdout: $(head -n 1 "$T/agent.out")"
	elif [[ -e $T/emberprof.pb.gz ]]; then
		why="wrote a profile"
	elif grep -qE '(bpf|perf_event_open)\(' "$T/strace"; then
		why="called $(grep -m 1 -oE '(bpf|perf_event_open)\([A-Z_]*' "$T/strace") before refusing"
	elif ! within "$secs" 0 1; then
		why="took ${secs}s to refuse"
	fi
	if [[ -n $why ]]; then
		info "not refused properly: [$what] $why"
		FAILS+=("[$what] $why")
	fi
}

# The control: good settings get as far as loading BPF.
try OTEL_EXPORTER_OTLP_ENDPOINT=$GOOD OTEL_EXPORTER_OTLP_HEADERS=a=b%20c \
	OTEL_EXPORTER_OTLP_COMPRESSION=gzip OTEL_EXPORTER_OTLP_TIMEOUT=500 \
	OTEL_RESOURCE_ATTRIBUTES=k=v -- -d 1 --otlp-flush-timeout 1
((rc == 0)) || fail "control run exited $rc: $(head -n 1 "$T/agent.err")"
grep -q 'bpf(' "$T/strace" || fail "control run never called bpf(2): the strace check sees nothing"

# Endpoints, by flag and by variable.
for url in 'ftp://x' 'not a url' 'http://' 'http://127.0.0.1:99999' 'http:// 127.0.0.1' '127.0.0.1:4318'; do
	bad endpoint -- -d 1 --otlp-endpoint "$url"
	bad endpoint "OTEL_EXPORTER_OTLP_ENDPOINT=$url" -- -d 1
	bad endpoint "OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT=$url" -- -d 1
done

# Headers: no '=', an empty key, bad percent-encoding, a line break.
for h in novalue '=x' 'a=%zz' 'a=%4' 'a=b,novalue' 'a=b%0D%0AX-Evil: 1' 'bad key=v'; do
	bad headers "OTEL_EXPORTER_OTLP_ENDPOINT=$GOOD" "OTEL_EXPORTER_OTLP_HEADERS=$h" -- -d 1
	bad headers "OTEL_EXPORTER_OTLP_ENDPOINT=$GOOD" "OTEL_EXPORTER_OTLP_PROFILES_HEADERS=$h" -- -d 1
done

# Compression and timeout.
for v in lz4 GZIP2 deflate; do
	bad compression "OTEL_EXPORTER_OTLP_ENDPOINT=$GOOD" "OTEL_EXPORTER_OTLP_COMPRESSION=$v" -- -d 1
done
for v in abc -5 0 10x 1.5s; do
	bad timeout "OTEL_EXPORTER_OTLP_ENDPOINT=$GOOD" "OTEL_EXPORTER_OTLP_TIMEOUT=$v" -- -d 1
done

# Resource attributes.
for v in novalue '=x' 'a=%zz'; do
	bad RESOURCE_ATTRIBUTES "OTEL_EXPORTER_OTLP_ENDPOINT=$GOOD" "OTEL_RESOURCE_ATTRIBUTES=$v" -- -d 1
done

# The OTLP flags.
bad otlp-queue-mb -- -d 1 --otlp-endpoint "$GOOD" --otlp-queue-mb x
bad otlp-queue-mb -- -d 1 --otlp-endpoint "$GOOD" --otlp-queue-mb -1
bad otlp-flush-timeout -- -d 1 --otlp-endpoint "$GOOD" --otlp-flush-timeout x
bad otlp-flush-timeout -- -d 1 --otlp-endpoint "$GOOD" --otlp-flush-timeout -1
info "$((nbad - ${#FAILS[@]})) of $nbad bad settings refused properly"
((${#FAILS[@]} == 0)) || fail "${#FAILS[@]} of $nbad bad settings not refused properly; first: ${FAILS[0]}"
exit 0
