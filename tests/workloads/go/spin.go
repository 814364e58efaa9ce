// SPDX-License-Identifier: Apache-2.0

// spin: a Go workload of known shape for the profiler's tests. main calls
// hot in a loop for SECONDS (default 10); hot burns CPU and is kept out of
// line, so a whole stack is main.hot <- main.main <- runtime.main.
package main

import (
	"os"
	"strconv"
	"time"
)

var sink uint64

//go:noinline
func hot(n int) uint64 {
	var acc uint64
	for i := 0; i < n; i++ {
		acc = acc*31 + uint64(i)
	}
	return acc
}

func main() {
	secs := 10.0
	if len(os.Args) > 1 {
		if v, err := strconv.ParseFloat(os.Args[1], 64); err == nil {
			secs = v
		}
	}
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	for time.Now().Before(end) {
		sink += hot(1 << 20)
	}
}
