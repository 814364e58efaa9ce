# SPDX-License-Identifier: Apache-2.0
"""py_deep: a Python stack of known depth for bench/python.sh.

level() recurses DEPTH times down to leaf(), which spins; each level calls
the next one through map() and a lambda, so the interpreter is entered
again from C at every level. On CPython 3.11 that gives some 30 Python
frames over some 60 native ones at each sample: the stack the benchmark's
figure is for.

Usage: py_deep.py SECONDS [DEPTH]   (default DEPTH 14)
"""
import sys
import time


def leaf(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) & 0xFFFF
    return acc


def level(depth, n):
    if depth == 0:
        return leaf(n)
    return sum(map(lambda d: level(d, n), (depth - 1,)))


def main():
    seconds = float(sys.argv[1])
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 14
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        level(depth, 20000)


main()
