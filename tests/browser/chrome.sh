# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034 # SC2034: the tests that source this read its globals
#
# Headless Chromium for the flame graph tests, sourced after tests/e2e/lib.sh
# (which provides $T and fail). Every run is offline and uses its own profile
# directory under $T; Chromium's own chatter goes to $T/chrome.err.

BROWSER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
FGCHECK=$BROWSER_DIR/fgcheck.py
SYNTH=$BROWSER_DIR/synth_pprof.py
CHROME_ARGS=(--headless --no-sandbox --disable-gpu --disable-background-networking
	--no-first-run --disable-component-update --disable-sync
	--user-data-dir="$T/chrome")

require_chromium()
{
	[[ -x $CHROMIUM ]] || fail "$CHROMIUM is missing (apt-get install chromium)"
}

# chrome_dump SECS PAGE OUT: the page's DOM after its scripts ran (5 s of
# virtual time for timers), within SECS seconds of wall time.
chrome_dump()
{
	timeout -k 5 "$1" "$CHROMIUM" "${CHROME_ARGS[@]}" --virtual-time-budget=5000 \
		--dump-dom "file://$2" >"$3" 2>>"$T/chrome.err" ||
		fail "chromium could not dump $2 within $1 s (exit $?)"
}

# chrome_shot PAGE PNG: a 1200x800 screenshot of the page.
chrome_shot()
{
	timeout -k 5 60 "$CHROMIUM" "${CHROME_ARGS[@]}" --virtual-time-budget=5000 \
		--window-size=1200,800 --screenshot="$2" "file://$1" >/dev/null 2>>"$T/chrome.err" ||
		fail "chromium could not screenshot $1 (exit $?)"
	[[ -s $2 ]] || fail "chromium wrote no screenshot of $1"
}

# no_urls PAGE: the page references nothing on the network.
no_urls()
{
	local hit

	hit=$(grep -o -i -m 1 -E '.{0,30}https?://.{0,30}' "$1")
	[[ -z $hit ]] || fail "$1 references the network: $hit"
	grep -q -F '/*EMBERPROF_DATA*/' "$1" && fail "$1 still holds the data marker"
	return 0
}

# page_rows DOM: fgcheck.py rows (the "top functions" table, after "ready").
page_rows()
{
	python3 "$FGCHECK" rows "$1" || fail "cannot parse the DOM dump $1"
}

# row_field ROWS NAME N: field N (2 total, 3 self, 4 base, 5 delta) of NAME's row.
row_field()
{
	awk -F '\t' -v n="$2" -v f="$3" '$1 == n { print $f; found = 1; exit }
		END { if (!found) print "missing" }' "$1"
}

# need_playwright: tests/browser/node_modules, which make test-deps installs
# from the lock file; a test never reaches for the npm registry itself.
need_playwright()
{
	command -v node >/dev/null || fail "node is missing (apt-get install nodejs npm)"
	[[ -d $BROWSER_DIR/node_modules/playwright-core ]] ||
		fail "tests/browser/node_modules/playwright-core is missing (run make test-deps)"
}

# interact ARGS...: tests/browser/interact.js with a time limit; its output
# goes to stderr (the test log), and its "fail: " line fails the test.
interact()
{
	local out

	out=$(CHROMIUM=$CHROMIUM timeout -k 5 90 node "$BROWSER_DIR/interact.js" "$@" 2>&1)
	local rc=$?
	printf '%s\n' "$out" | sed 's/^/  /' >&2
	((rc == 0)) || fail "interact.js $1: $(printf '%s\n' "$out" | grep -m 1 '^fail: ' | sed 's/^fail: //')"
}
