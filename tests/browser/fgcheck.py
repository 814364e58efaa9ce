#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks on what headless Chromium makes of a flame graph page, stdlib only.

  fgcheck.py rows DOM.html     one line per row of the page's "top functions"
                               table: NAME TAB TOTAL TAB SELF TAB BASE TAB DELTA
                               (percentages; BASE and DELTA "-" outside a
                               diff), after a line "ready READY STATUS".
  fgcheck.py png SHOT.png      "W H COLOURS INK": the image's size, its
                               number of distinct colours and the share of
                               pixels that are not near white, decoding the
                               PNG with zlib and struct.
  fgcheck.py data PAGE.html [TYPE]
                               the numbers the page holds, decoded here as
                               its script decodes them (not through it): a
                               line "total N" in TYPE (default samples; e.g.
                               off_cpu), then "NAME TAB SELF" for every
                               function that is a stack's innermost frame,
                               heaviest first.
"""

import html.parser
import json
import re
import struct
import sys
import zlib


class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows = []
        self.ready = "0"
        self.status = ""
        self.in_status = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-name" in a:
            self.rows.append(a)
        if a.get("id") == "status":
            self.ready = a.get("data-ready", "0")
            self.in_status = True

    def handle_endtag(self, tag):
        self.in_status = False

    def handle_data(self, data):
        if self.in_status:
            self.status += data


def rows(path):
    d = Dom()
    with open(path, encoding="utf-8", errors="replace") as f:
        d.feed(f.read())
    print("ready\t%s\t%s" % (d.ready, " ".join(d.status.split())))
    for r in d.rows:
        print("\t".join([r["data-name"], r.get("data-total", "-"), r.get("data-self", "-"),
                         r.get("data-base", "-"), r.get("data-delta", "-")]))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("fail: %s is not a PNG" % path)
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    if depth != 8 or ctype not in (2, 6):
        sys.exit("fail: unexpected PNG format (depth %d, colour type %d)" % (depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours, ink = set(), 0
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif ft == 4:
                line[i] = (line[i] + paeth(a, b, c)) & 255
        for x in range(0, stride, bpp):
            px = bytes(line[x:x + 3])
            colours.add(px)
            if min(px) < 230:
                ink += 1
        prev = line
    print(w, h, len(colours), "%.4f" % (ink / float(w * h)))


B32_END = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
B32_MORE = "ghijklmnopqrstuvwxyz0123456789-_"


def b32(text):
    """The page's base-32 varints: a digit of B32_MORE carries, B32_END ends."""
    out, v, mul = [], 0, 1
    for ch in text:
        if ch in B32_END:
            out.append(v + B32_END.index(ch) * mul)
            v, mul = 0, 1
        else:
            v += B32_MORE.index(ch) * mul
            mul *= 32
    return out


def data(path, want="samples"):
    page = open(path, encoding="utf-8").read()
    m = re.search(r'<script[^>]*id="data"[^>]*>(.*?)</script>', page, re.S)
    if not m:
        sys.exit("no data script in " + path)
    d = json.loads(m.group(1))
    strings, frames = d["strings"], d["frames"]
    nodes, tframe, i = b32(d["nodes"]), [], 0
    while i < len(nodes):
        fv = nodes[i]
        i += 2 if fv % 2 else 1
        tframe.append(fv // 2)
    types = d["types"]
    names = [strings[t[0]] for t in types]
    if want not in names:
        sys.exit("no sample type %s in %s (types: %s)" % (want, path, ",".join(names)))
    col = names.index(want)
    stride = 2 + len(types)
    rows = b32(d["samples"])
    self_, total = {}, 0
    for r in range(0, len(rows), stride):
        n = rows[r + 2 + col] * types[col][2]
        name = strings[frames[4 * tframe[rows[r]]]]
        if n:
            self_[name] = self_.get(name, 0) + n
        total += n
    print("total", total)
    for name, n in sorted(self_.items(), key=lambda kv: (-kv[1], kv[0])):
        print("%s\t%d" % (name, n))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "rows":
        rows(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "png":
        png(sys.argv[2])
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "data":
        data(*sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
