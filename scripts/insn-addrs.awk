# SPDX-License-Identifier: Apache-2.0
#
# insn-addrs.awk: reads `objdump -d --no-show-raw-insn -j .text ELF` and
# prints `want` instruction addresses ("0x" hex, file virtual addresses),
# spread evenly over the functions of .text and the same on every run: every
# (total / want)th instruction, PLT stubs and crt start-up code left out.
# Used by tests/e2e/lib.sh and bench/symbolize.sh:
#   objdump -d --no-show-raw-insn -j .text ELF | awk -v want=N -f insn-addrs.awk
/^[0-9a-f]+ <.*>:$/ {
	skip = $2 ~ /@plt>:$/ || $2 ~ /^<(_start|_init|_fini|deregister_tm_clones|register_tm_clones|__do_global_dtors_aux|frame_dummy)>:$/
	next
}
!skip && /^ *[0-9a-f]+:\t/ { a[++n] = $1 }
END {
	if (n < want)
		want = n
	for (i = 0; i < want; i++) {
		s = a[int(i * n / want) + 1]
		sub(/:$/, "", s)
		print "0x" s
	}
}
