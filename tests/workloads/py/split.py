# SPDX-License-Identifier: Apache-2.0
"""py-split: a Python workload with a known CPU split, for the tests of
CPython frames.

main() loops over Worker.handle(), which calls the methods work_a, work_b and
work_c for 6, 3 and 1 times the same number of iterations of the same loop:
a profiler must find them as the innermost Python frames in 60%, 30% and 10%
of the samples, each under Worker.handle, main and <module>.

Why it is written this way:
- Each work function's loop is one line, marked with a comment naming it, so
  that every instruction of the loop has that line: the tests read the line
  from this file by its marker, not from an earlier run.
- The loop uses only integer operators, which the interpreter runs without
  calling out to C functions, so the interpreter's own frames are the native
  leaves and the Python function is the innermost Python frame.
- Each round's length comes from a fixed pseudo-random sequence, so that no
  round stays in step with the sampling period.
- With a second argument "threads", two threads run: one in work_a only,
  one in work_c only, so that their samples can be told apart by thread.
- With "zlib", each round also compresses a buffer, so that zlib's C
  frames appear above the Python function calling it (mixed stacks).

Usage: py-split.py [SECONDS [threads|zlib]]   (default 10)
"""
import sys
import threading
import time

STEP = 2000


class Worker:
    def work_a(self, n):
        acc = 0
        for i in range(n): acc = (acc * 31 + i) & 0xFFFFFFFF  # loop: work_a
        return acc

    def work_b(self, n):
        acc = 0
        for i in range(n): acc = (acc * 31 + i) & 0xFFFFFFFF  # loop: work_b
        return acc

    def work_c(self, n):
        acc = 0
        for i in range(n): acc = (acc * 31 + i) & 0xFFFFFFFF  # loop: work_c
        return acc

    def handle(self, steps):
        return self.work_a(6 * STEP * steps) ^ self.work_b(3 * STEP * steps) ^ \
            self.work_c(STEP * steps)


def compress_loop(deadline):
    import zlib
    data = bytes(range(256)) * 512
    n = 0
    while time.monotonic() < deadline:
        n += len(zlib.compress(data, 9))  # loop: compress_loop
    return n


def only(fn, deadline):
    w = Worker()
    while time.monotonic() < deadline:
        fn(w, STEP * 4)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    mode = sys.argv[2] if len(sys.argv) > 2 else ""
    deadline = time.monotonic() + seconds
    if mode == "threads":
        ts = [threading.Thread(target=only, args=(Worker.work_a, deadline), name="py-a"),
              threading.Thread(target=only, args=(Worker.work_c, deadline), name="py-c")]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return
    if mode == "zlib":
        compress_loop(deadline)
        return
    w = Worker()
    sink = 0
    rng = 0x9E3779B97F4A7C15
    while time.monotonic() < deadline:
        rng ^= (rng << 13) & 0xFFFFFFFFFFFFFFFF
        rng ^= rng >> 7
        rng ^= (rng << 17) & 0xFFFFFFFFFFFFFFFF
        sink ^= w.handle(1 + (rng >> 62))
    if sink == 0x5EED:
        print("py-split: sink", sink)


main()
