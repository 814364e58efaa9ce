# SPDX-License-Identifier: Apache-2.0
#
# symbolizer-frames.awk: reads llvm-symbolizer --inlining style output (per
# address a block of "function" and "file:line:column" lines, innermost
# first, then a blank line) and prints one line per address: its frames
# joined by " | ", each "FUNC @ BASENAME:LINE" (no column, so that tools that
# print none compare equal). Used by tests/e2e/lib.sh and bench/symbolize.sh.
BEGIN { RS = ""; FS = "\n" }
{
	s = ""
	for (i = 1; i + 1 <= NF; i += 2) {
		loc = $(i + 1)
		sub(/:[0-9]+$/, "", loc)
		line = loc
		sub(/^.*:/, "", line)
		file = loc
		sub(/:[^:]*$/, "", file)
		sub(/^.*\//, "", file)
		s = s (s == "" ? "" : " | ") $i " @ " file ":" line
	}
	print s
}
