#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write synthetic pprof profiles (gzip'd) of a known shape for the flame graph tests.

The protobuf is encoded by hand (field numbers from proto/profile.proto), so
the tests need nothing beyond the standard library.

  synth_pprof.py large N OUT   N distinct stacks, 2 to 40 frames deep, drawn
                               from a call tree of 5000 functions; prints a
                               JSON summary: total, and the share (count each
                               sample once) of synth_hot, a function found
                               at most once per stack.
  synth_pprof.py labels OUT    a small profile with two processes, three
                               threads, trace and span labels and every
                               frame kind; prints its expected numbers.
"""

import gzip
import json
import random
import sys


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v) if v else b""


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def packed(num, values):
    return field_bytes(num, b"".join(varint(v) for v in values)) if values else b""


class Profile:
    def __init__(self):
        self.strings = [""]
        self.index = {"": 0}
        self.parts = []

    def s(self, text):
        if text not in self.index:
            self.index[text] = len(self.strings)
            self.strings.append(text)
        return self.index[text]

    def sample_type(self, type_, unit):
        self.parts.append(field_bytes(1, field_varint(1, self.s(type_)) + field_varint(2, self.s(unit))))

    def mapping(self, id_, start, limit, filename):
        body = (field_varint(1, id_) + field_varint(2, start) + field_varint(3, limit) +
                field_varint(5, self.s(filename)) + field_varint(7, 1))
        self.parts.append(field_bytes(3, body))

    def function(self, id_, name, filename, start_line=0):
        body = (field_varint(1, id_) + field_varint(2, self.s(name)) + field_varint(3, self.s(name)) +
                field_varint(4, self.s(filename)) + field_varint(5, start_line))
        self.parts.append(field_bytes(5, body))

    def location(self, id_, mapping_id, address, lines):
        """lines: [(function_id, line)], innermost first."""
        body = field_varint(1, id_) + field_varint(2, mapping_id) + field_varint(3, address)
        for fid, line in lines:
            body += field_bytes(4, field_varint(1, fid) + field_varint(2, line))
        self.parts.append(field_bytes(4, body))

    def sample(self, locs_leaf_first, values, labels=()):
        body = packed(1, locs_leaf_first) + packed(2, values)
        for key, val in labels:
            if isinstance(val, int):
                lab = field_varint(1, self.s(key)) + field_varint(3, val)
            else:
                lab = field_varint(1, self.s(key)) + field_varint(2, self.s(val))
            body += field_bytes(3, lab)
        self.parts.append(field_bytes(2, body))

    def encode(self, period=10000000):
        period_type = field_varint(1, self.s("cpu")) + field_varint(2, self.s("nanoseconds"))
        parts = self.parts + [field_bytes(6, text.encode()) for text in self.strings]
        parts += [field_bytes(11, period_type), field_varint(12, period)]
        return gzip.compress(b"".join(parts), 6)


def large(n, path):
    rnd = random.Random(42)
    p = Profile()
    p.sample_type("samples", "count")
    p.sample_type("cpu", "nanoseconds")
    nfn = 5000
    p.mapping(1, 0x400000, 0x800000, "/usr/bin/synth")
    p.mapping(2, 0xFFFF800000000000, (1 << 64) - 1, "[kernel.kallsyms]")
    for i in range(1, nfn + 1):
        name = "synth_hot" if i == nfn else "fn_%04d_%s" % (i, "abcdefgh"[i % 8] * (i % 13 + 3))
        kernel = i > nfn - 200 and i != nfn
        p.function(i, name, "[kernel.kallsyms]" if kernel else "src/synth/file_%02d.c" % (i % 50), 10 + i % 400)
        p.location(i, 2 if kernel else 1, (0xFFFF800000001000 if kernel else 0x401000) + 16 * i,
                   [(i, 10 + i % 400 + 3)])
    # A call graph: each function calls a few others, one of them far more
    # often, so that stacks share their callers as real ones do.
    callees = {i: rnd.sample(range(1, nfn - 200), 6) for i in range(1, nfn)}
    pick = [0] * 60 + [1] * 20 + [2] * 10 + [3] * 5 + [4] * 3 + [5] * 2
    rand = rnd.random
    seen = set()
    total = hot = 0
    roots = list(range(1, 20))
    while len(seen) < n:
        depth = rnd.randint(2, 40)
        stack = [rnd.choice(roots)]
        while len(stack) < depth:
            stack.append(callees[stack[-1]][pick[int(rand() * 100)]])
        if rnd.random() < 0.2:
            stack.append(rnd.randint(nfn - 199, nfn - 1))  # a kernel leaf
        has_hot = rnd.random() < 0.25
        if has_hot:
            stack.insert(rnd.randint(1, len(stack)), nfn)
        key = tuple(stack)
        if key in seen:
            continue
        seen.add(key)
        count = rnd.randint(1, 20)
        total += count
        hot += count if has_hot else 0
        tid = 1000 + len(seen) % 7
        p.sample(list(reversed(stack)), [count, count * 10000000],
                 [("pid", 1000), ("tid", tid), ("comm", "synth-%d" % (tid % 7)), ("process", "synth")])
    with open(path, "wb") as f:
        f.write(p.encode())
    print(json.dumps({"stacks": n, "total": total, "hot_share": hot / total}))


def labels(path):
    p = Profile()
    p.sample_type("samples", "count")
    p.sample_type("cpu", "nanoseconds")
    p.mapping(1, 0x400000, 0x500000, "/srv/app")
    p.mapping(2, 0xFFFF800000000000, (1 << 64) - 1, "[kernel.kallsyms]")
    p.mapping(3, 0x7F0000000000, 0x7F0000100000, "[anon]")
    fns = ["main", "handle", "parse", "render", "idle", "compute", "helper_inl", "do_syscall_64", "jit_fn"]
    for i, name in enumerate(fns, 1):
        p.function(i, name, "[kernel.kallsyms]" if name == "do_syscall_64" else "" if name == "jit_fn"
                   else "app/%s.c" % name, 10 * i)
    loc = {}
    for i, name in enumerate(fns, 1):
        if name == "helper_inl":
            continue
        m = 2 if name == "do_syscall_64" else 3 if name == "jit_fn" else 1
        base = 0xFFFF800000100000 if m == 2 else 0x7F0000001000 if m == 3 else 0x401000
        lines = [(i, 10 * i + 1)]
        if name == "compute":  # helper_inl inlined into compute
            lines = [(fns.index("helper_inl") + 1, 71), (i, 55)]
        p.location(i, m, base + 64 * i, lines)
        loc[name] = i
    T1, S1, S2 = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "00f067aa0ba902b8"

    def smp(names, n, pid, proc, tid, comm, trace=None, span=None):
        lab = [("pid", pid), ("tid", tid), ("comm", comm), ("process", proc)]
        if trace:
            lab += [("trace_id", trace), ("span_id", span)]
        p.sample([loc[x] for x in reversed(names)], [n, n * 10000000], lab)

    smp(["main", "handle", "parse"], 30, 100, "server", 101, "worker-1", T1, S1)
    smp(["main", "handle", "render"], 20, 100, "server", 102, "worker-2", T1, S2)
    smp(["main", "idle"], 10, 100, "server", 101, "worker-1")
    smp(["main", "compute", "do_syscall_64"], 25, 200, "batch", 200, "batch")
    smp(["main", "jit_fn"], 15, 200, "batch", 200, "batch")
    with open(path, "wb") as f:
        f.write(p.encode())
    print(json.dumps({"total": 100, "process": {"server (100)": 0.6, "batch (200)": 0.4},
                      "thread": {"worker-1 (101)": 0.4, "worker-2 (102)": 0.2, "batch (200)": 0.4},
                      "trace": T1, "trace_total": 50, "span": S2, "span_total": 20,
                      "kinds": {"parse": "native", "helper_inl": "inline", "do_syscall_64": "kernel",
                                "jit_fn": "JIT"}}))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "large":
        large(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "labels":
        labels(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
