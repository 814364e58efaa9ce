#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Decode and check the OTLP profile exports that tests/otlp/receiver.py stored.

The decoder reads the protobuf wire format itself, against a schema written
out below from the wire layout in /work/shared/FORMATS.md (profiles
v1development, opentelemetry-proto v1.10/v1.11). It is strict where a
generic decoder would be lenient, because the mistakes worth catching are
silent ones: a field number the schema does not know (an older layout, say
Sample's pre-1.10 numbering), a field sent with the wrong wire type, a
truncated length or a varint that runs off the end are all errors, not
skipped fields. The tests also run protoc --decode on the same bodies, so a
body is checked against the .proto files too, not only against this table.

Subcommands (each prints "fail: REASON" on stderr and exits 1 on a problem):

  decode BODY                  the request as JSON (bytes as hex)
  check BODY [EXPECTATIONS]    every structural rule of the format; prints a
                               JSON summary of what the profile holds
  htlhash FILE                 the htlhash of FILE, computed from scratch
  requests DIR [--tsv]         one line per stored request: number, status,
                               arrival time, sample total, distinct profile ids,
                               profile start and end (ns), decode result,
                               body bytes (after gunzip)

Only the Python standard library is used.
"""

import argparse
import hashlib
import json
import os
import struct
import sys

# Wire types.
VARINT, I64, LEN, I32 = 0, 1, 2, 5

# Scalar kinds: how a field's value is read and which wire type it must have.
SCALAR_WIRE = {
    "int32": VARINT, "int64": VARINT, "uint32": VARINT, "uint64": VARINT, "bool": VARINT,
    "fixed64": I64, "double": I64,
    "string": LEN, "bytes": LEN,
}

# message -> {field number: (name, kind, repeated)}; kind is a scalar kind or
# a message name.
SCHEMA = {
    "ExportProfilesServiceRequest": {
        1: ("resource_profiles", "ResourceProfiles", True),
        2: ("dictionary", "ProfilesDictionary", False),
    },
    "ProfilesDictionary": {
        1: ("mapping_table", "Mapping", True),
        2: ("location_table", "Location", True),
        3: ("function_table", "Function", True),
        4: ("link_table", "Link", True),
        5: ("string_table", "string", True),
        6: ("attribute_table", "KeyValueAndUnit", True),
        7: ("stack_table", "Stack", True),
    },
    "ResourceProfiles": {
        1: ("resource", "Resource", False),
        2: ("scope_profiles", "ScopeProfiles", True),
        3: ("schema_url", "string", False),
    },
    "ScopeProfiles": {
        1: ("scope", "InstrumentationScope", False),
        2: ("profiles", "Profile", True),
        3: ("schema_url", "string", False),
    },
    "Profile": {
        1: ("sample_type", "ValueType", False),
        2: ("samples", "Sample", True),
        3: ("time_unix_nano", "fixed64", False),
        4: ("duration_nano", "uint64", False),
        5: ("period_type", "ValueType", False),
        6: ("period", "int64", False),
        7: ("profile_id", "bytes", False),
        8: ("dropped_attributes_count", "uint32", False),
        9: ("original_payload_format", "string", False),
        10: ("original_payload", "bytes", False),
        11: ("attribute_indices", "int32", True),
    },
    "Sample": {
        1: ("stack_index", "int32", False),
        2: ("attribute_indices", "int32", True),
        3: ("link_index", "int32", False),
        4: ("values", "int64", True),
        5: ("timestamps_unix_nano", "fixed64", True),
    },
    "Stack": {1: ("location_indices", "int32", True)},
    "Location": {
        1: ("mapping_index", "int32", False),
        2: ("address", "uint64", False),
        3: ("lines", "Line", True),
        4: ("attribute_indices", "int32", True),
    },
    "Line": {
        1: ("function_index", "int32", False),
        2: ("line", "int64", False),
        3: ("column", "int64", False),
    },
    "Mapping": {
        1: ("memory_start", "uint64", False),
        2: ("memory_limit", "uint64", False),
        3: ("file_offset", "uint64", False),
        4: ("filename_strindex", "int32", False),
        5: ("attribute_indices", "int32", True),
    },
    "Function": {
        1: ("name_strindex", "int32", False),
        2: ("system_name_strindex", "int32", False),
        3: ("filename_strindex", "int32", False),
        4: ("start_line", "int64", False),
    },
    "Link": {1: ("trace_id", "bytes", False), 2: ("span_id", "bytes", False)},
    "ValueType": {1: ("type_strindex", "int32", False), 2: ("unit_strindex", "int32", False)},
    "KeyValueAndUnit": {
        1: ("key_strindex", "int32", False),
        2: ("value", "AnyValue", False),
        3: ("unit_strindex", "int32", False),
    },
    "Resource": {
        1: ("attributes", "KeyValue", True),
        2: ("dropped_attributes_count", "uint32", False),
    },
    "InstrumentationScope": {
        1: ("name", "string", False),
        2: ("version", "string", False),
        3: ("attributes", "KeyValue", True),
        4: ("dropped_attributes_count", "uint32", False),
    },
    "KeyValue": {
        1: ("key", "string", False),
        2: ("value", "AnyValue", False),
        3: ("key_strindex", "int32", False),
    },
    "AnyValue": {
        1: ("string_value", "string", False),
        2: ("bool_value", "bool", False),
        3: ("int_value", "int64", False),
        4: ("double_value", "double", False),
        5: ("array_value", "ArrayValue", False),
        6: ("kvlist_value", "KeyValueList", False),
        7: ("bytes_value", "bytes", False),
        8: ("string_value_strindex", "int32", False),
    },
    "ArrayValue": {1: ("values", "AnyValue", True)},
    "KeyValueList": {1: ("values", "KeyValue", True)},
    "ExportProfilesServiceResponse": {1: ("partial_success", "ExportProfilesPartialSuccess", False)},
    "ExportProfilesPartialSuccess": {
        1: ("rejected_profiles", "int64", False),
        2: ("error_message", "string", False),
    },
}


class Bad(Exception):
    """The body breaks a rule; the message says which and where."""


def fail(msg):
    print("fail: " + msg, file=sys.stderr)
    sys.exit(1)


def read_varint(buf, pos, where):
    result = shift = 0
    start = pos
    while True:
        if pos >= len(buf):
            raise Bad("%s: varint at byte %d runs off the end" % (where, start))
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift >= 70:
            raise Bad("%s: varint at byte %d is longer than 10 bytes" % (where, start))
    return result, pos


def signed(v, bits):
    """A varint read as two's complement of the given width (int32 uses 64 on the wire)."""
    v &= (1 << 64) - 1
    if v >= 1 << 63:
        v -= 1 << 64
    if bits == 32 and not -(1 << 31) <= v < (1 << 31):
        raise Bad("int32 value %d out of range" % v)
    return v


def scalar(kind, raw):
    if kind == "int32":
        return signed(raw, 32)
    if kind == "int64":
        return signed(raw, 64)
    if kind == "uint32":
        if raw >= 1 << 32:
            raise Bad("uint32 value %d out of range" % raw)
        return raw
    if kind == "bool":
        return bool(raw)
    return raw


def decode(buf, msg="ExportProfilesServiceRequest", where=None):
    """buf (bytes) as message msg: a dict of field name -> value (lists for repeated)."""
    where = where or msg
    fields = SCHEMA[msg]
    out = {}
    for _num, (name, _kind, rep) in fields.items():
        if rep:
            out[name] = []
    seen_oneof = []
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos, where)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise Bad("%s: field number 0 at byte %d" % (where, pos))
        if num not in fields:
            raise Bad("%s: unknown field %d (wire type %d)" % (where, num, wt))
        name, kind, rep = fields[num]
        here = "%s.%s" % (where, name)
        if wt == VARINT:
            raw, pos = read_varint(buf, pos, here)
            payload = None
        elif wt == I64:
            if pos + 8 > len(buf):
                raise Bad("%s: fixed64 runs off the end" % here)
            payload = buf[pos:pos + 8]
            pos += 8
        elif wt == LEN:
            n, pos = read_varint(buf, pos, here)
            if pos + n > len(buf):
                raise Bad("%s: length %d at byte %d runs off the end (%d bytes)" % (here, n, pos, len(buf)))
            payload = buf[pos:pos + n]
            pos += n
        elif wt == I32:
            raise Bad("%s: wire type 5 (fixed32) is not used by this schema" % here)
        else:
            raise Bad("%s: wire type %d" % (here, wt))

        values = []
        if kind in SCHEMA:
            if wt != LEN:
                raise Bad("%s: message sent with wire type %d" % (here, wt))
            values.append(decode(payload, kind, here))
        else:
            want = SCALAR_WIRE[kind]
            if wt == LEN and want != LEN:
                # Packed repeated scalars.
                if not rep:
                    raise Bad("%s: packed encoding of a singular %s" % (here, kind))
                p = 0
                while p < len(payload):
                    if want == VARINT:
                        raw, p = read_varint(payload, p, here)
                        values.append(scalar(kind, raw))
                    else:
                        if p + 8 > len(payload):
                            raise Bad("%s: packed fixed64 is not a multiple of 8 bytes" % here)
                        values.append(unpack64(kind, payload[p:p + 8]))
                        p += 8
            elif wt != want:
                raise Bad("%s: %s sent with wire type %d" % (here, kind, wt))
            elif kind == "string":
                try:
                    values.append(payload.decode("utf-8"))
                except UnicodeDecodeError as e:
                    raise Bad("%s: not UTF-8: %s" % (here, e)) from None
            elif kind == "bytes":
                values.append(bytes(payload))
            elif want == I64:
                values.append(unpack64(kind, payload))
            else:
                values.append(scalar(kind, raw))
        if rep:
            out[name].extend(values)
        else:
            # proto3: the last one wins, but a sender writing a field twice is suspect.
            if name in out:
                raise Bad("%s: singular field sent twice" % here)
            out[name] = values[-1]
        if msg == "AnyValue":
            seen_oneof.append(name)
    if msg == "AnyValue" and len(seen_oneof) > 1:
        raise Bad("%s: more than one member of the oneof: %s" % (where, seen_oneof))
    return out


def unpack64(kind, b):
    if kind == "double":
        return struct.unpack("<d", b)[0]
    return struct.unpack("<Q", b)[0]


def anyvalue(v):
    """An AnyValue dict as a plain Python value (None for the empty one)."""
    if not v:
        return None
    (name, val), = v.items()
    if name == "array_value":
        return [anyvalue(x) for x in val.get("values", [])]
    if name == "kvlist_value":
        return {kv.get("key", ""): anyvalue(kv.get("value")) for kv in val.get("values", [])}
    return val


def jsonable(x):
    if isinstance(x, bytes):
        return x.hex()
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [jsonable(v) for v in x]
    return x


def htlhash(path):
    """First 16 bytes of SHA-256(first 4 KiB || last 4 KiB || size as big-endian u64), hex."""
    size = os.path.getsize(path)
    n = min(4096, size)
    with open(path, "rb") as f:
        head = f.read(n)
        f.seek(size - n)
        tail = f.read(n)
    h = hashlib.sha256()
    h.update(head)
    h.update(tail)
    h.update(struct.pack(">Q", size))
    return h.digest()[:16].hex()


def read_body(path):
    with open(path, "rb") as f:
        return f.read()


# -- check ------------------------------------------------------------------


class Checker:
    """Every rule the format and the agent's contract put on one request."""

    def __init__(self, req):
        self.req = req
        d = req.get("dictionary")
        if d is None:
            raise Bad("no dictionary")
        self.d = d
        self.strings = d["string_table"]
        self.sizes = {name: len(d[name]) for name in (
            "mapping_table", "location_table", "function_table", "link_table",
            "string_table", "attribute_table", "stack_table")}

    def idx(self, table, i, where):
        if not isinstance(i, int) or not 0 <= i < self.sizes[table]:
            raise Bad("%s = %r is out of range of %s (%d entries)" % (where, i, table, self.sizes[table]))
        return i

    def s(self, i, where):
        return self.strings[self.idx("string_table", i, where)]

    def attrs(self, indices, where):
        """Attribute indices -> {key: value}; a key appearing twice is an error."""
        out = {}
        for k, i in enumerate(indices):
            a = self.d["attribute_table"][self.idx("attribute_table", i, "%s[%d]" % (where, k))]
            key = self.s(a.get("key_strindex", 0), "attribute_table[%d].key_strindex" % i)
            if key == "":
                raise Bad("%s[%d] -> attribute_table[%d] has an empty key" % (where, k, i))
            if key in out:
                raise Bad("%s has key %r twice" % (where, key))
            v = a.get("value") or {}
            if "string_value_strindex" in v:
                out[key] = self.s(v["string_value_strindex"], "attribute_table[%d].value.string_value_strindex" % i)
            else:
                out[key] = anyvalue(v)
        return out

    def check_dictionary(self):
        d = self.d
        for table in self.sizes:
            if self.sizes[table] == 0:
                raise Bad("%s is empty: entry 0 (the zero value) is missing" % table)
        if self.strings[0] != "":
            raise Bad("string_table[0] = %r, want ''" % self.strings[0])
        zero = {
            "mapping_table": ("Mapping", {"attribute_indices": []}),
            "location_table": ("Location", {"lines": [], "attribute_indices": []}),
            "function_table": ("Function", {}),
            "attribute_table": ("KeyValueAndUnit", {}),
            "stack_table": ("Stack", {"location_indices": []}),
        }
        for table, (_msg, want) in zero.items():
            got = {k: v for k, v in d[table][0].items() if v not in (0, "", [], b"", None, {})}
            if got or any(d[table][0].get(k, []) != v for k, v in want.items()):
                raise Bad("%s[0] is not the zero value: %r" % (table, jsonable(d[table][0])))
        link0 = d["link_table"][0]
        if link0.get("trace_id", b"") != bytes(16) or link0.get("span_id", b"") != bytes(8):
            raise Bad("link_table[0] is not 16 + 8 zero bytes: %r" % jsonable(link0))
        for i, link in enumerate(d["link_table"][1:], 1):
            if len(link.get("trace_id", b"")) != 16 or len(link.get("span_id", b"")) != 8:
                raise Bad("link_table[%d] has ids of %d/%d bytes" % (
                    i, len(link.get("trace_id", b"")), len(link.get("span_id", b""))))
        if len(set(self.strings)) != len(self.strings):
            dup = sorted({x for x in self.strings if self.strings.count(x) > 1})
            raise Bad("string_table holds duplicates: %r" % dup[:5])
        for i, a in enumerate(d["attribute_table"]):
            self.s(a.get("key_strindex", 0), "attribute_table[%d].key_strindex" % i)
            self.s(a.get("unit_strindex", 0), "attribute_table[%d].unit_strindex" % i)
            v = a.get("value") or {}
            if "string_value_strindex" in v:
                self.s(v["string_value_strindex"], "attribute_table[%d].value.string_value_strindex" % i)
        for i, m in enumerate(d["mapping_table"]):
            self.s(m.get("filename_strindex", 0), "mapping_table[%d].filename_strindex" % i)
            self.attrs(m["attribute_indices"], "mapping_table[%d].attribute_indices" % i)
            if m.get("memory_limit", 0) < m.get("memory_start", 0):
                raise Bad("mapping_table[%d]: memory_limit < memory_start" % i)
        for i, f in enumerate(d["function_table"]):
            for fld in ("name_strindex", "system_name_strindex", "filename_strindex"):
                self.s(f.get(fld, 0), "function_table[%d].%s" % (i, fld))
        for i, loc in enumerate(d["location_table"]):
            self.idx("mapping_table", loc.get("mapping_index", 0), "location_table[%d].mapping_index" % i)
            for j, line in enumerate(loc["lines"]):
                self.idx("function_table", line.get("function_index", 0),
                         "location_table[%d].lines[%d].function_index" % (i, j))
            self.attrs(loc["attribute_indices"], "location_table[%d].attribute_indices" % i)
        for i, st in enumerate(d["stack_table"]):
            for j, li in enumerate(st["location_indices"]):
                self.idx("location_table", li, "stack_table[%d].location_indices[%d]" % (i, j))
            if i and not st["location_indices"]:
                raise Bad("stack_table[%d] is empty (only entry 0 may be)" % i)

    def frame(self, li):
        """Location li as (frame type, [function names, innermost first], mapping file)."""
        loc = self.d["location_table"][li]
        ty = self.attrs(loc["attribute_indices"], "location_table[%d].attribute_indices" % li).get(
            "profile.frame.type")
        names = [self.s(self.d["function_table"][ln.get("function_index", 0)].get("name_strindex", 0), "")
                 for ln in loc["lines"]]
        m = self.d["mapping_table"][loc.get("mapping_index", 0)]
        return ty, names, self.s(m.get("filename_strindex", 0), "")


def check(req, args):
    c = Checker(req)
    c.check_dictionary()
    d = c.d
    rps = req["resource_profiles"]
    if not rps:
        raise Bad("no resource_profiles")
    summary = {"resources": [], "frame_types": {}, "leaf": {}, "samples": 0,
               "profile_ids": [], "mappings": {}, "threads": {}, "linked_samples": 0,
               "off_cpu": {"resources": [], "frame_types": {}, "leaf": {}, "samples": 0,
                           "threads": {}, "linked_samples": 0}}
    used = {"stack_table": set(), "attribute_table": set()}
    seen_pids = set()
    for r_i, rp in enumerate(rps):
        where = "resource_profiles[%d]" % r_i
        res = rp.get("resource") or {"attributes": []}
        rattrs = {}
        for kv in res["attributes"]:
            key = kv.get("key") or (c.s(kv["key_strindex"], where + ".key_strindex") if "key_strindex" in kv else "")
            if not key:
                raise Bad("%s: resource attribute without a key" % where)
            if key in rattrs:
                raise Bad("%s: resource attribute %r twice" % (where, key))
            rattrs[key] = anyvalue(kv.get("value"))
        # One ResourceProfiles per process.
        if not isinstance(rattrs.get("process.pid"), int) or rattrs["process.pid"] <= 0:
            raise Bad("%s: process.pid = %r, want an int > 0" % (where, rattrs.get("process.pid")))
        if rattrs["process.pid"] in seen_pids:
            raise Bad("%s: a second resource for process.pid %d" % (where, rattrs["process.pid"]))
        seen_pids.add(rattrs["process.pid"])
        if not isinstance(rattrs.get("host.name"), str) or not rattrs["host.name"]:
            raise Bad("%s: host.name = %r" % (where, rattrs.get("host.name")))
        if len(rp["scope_profiles"]) != 1:
            raise Bad("%s has %d scope_profiles, want 1" % (where, len(rp["scope_profiles"])))
        sp = rp["scope_profiles"][0]
        scope = (sp.get("scope") or {}).get("name", "")
        if scope != "emberprof":
            raise Bad("%s scope name %r, want 'emberprof'" % (where, scope))
        if len(sp["profiles"]) not in (1, 2):
            raise Bad("%s has %d profiles, want 1 (CPU), or 2 with --off-cpu" % (where, len(sp["profiles"])))
        rwhere = where
        for p_i, p in enumerate(sp["profiles"]):
            # The second profile, with --off-cpu, is blocked time: its own summary.
            off = p_i == 1
            sm = summary["off_cpu"] if off else summary
            where = rwhere + (".profile[off_cpu]" if off else ".profile")
            st = p.get("sample_type") or {}
            pt = p.get("period_type") or {}
            got = (c.s(st.get("type_strindex", 0), where + ".sample_type.type_strindex"),
                   c.s(st.get("unit_strindex", 0), where + ".sample_type.unit_strindex"),
                   c.s(pt.get("type_strindex", 0), where + ".period_type.type_strindex"),
                   c.s(pt.get("unit_strindex", 0), where + ".period_type.unit_strindex"))
            if off and got != ("off_cpu", "nanoseconds", "", ""):
                raise Bad("%s sample_type/period_type = %s/%s, %s/%s; want off_cpu/nanoseconds, none" % (
                    (where,) + got))
            if not off and got != ("samples", "count", "cpu", "nanoseconds"):
                raise Bad("%s sample_type/period_type = %s/%s, %s/%s; want samples/count, cpu/nanoseconds" % (
                    (where,) + got))
            if not off and args.hz and p.get("period", 0) != 10**9 // args.hz:
                raise Bad("%s period = %r, want %d (1e9 / %d Hz)" % (where, p.get("period"), 10**9 // args.hz, args.hz))
            pid = p.get("profile_id", b"")
            if len(pid) != 16 or pid == bytes(16):
                raise Bad("%s profile_id = %r, want 16 bytes, not all zero" % (where, pid.hex()))
            summary["profile_ids"].append(pid.hex())
            c.attrs(p["attribute_indices"], where + ".attribute_indices")
            total = 0
            for s_i, smp in enumerate(p["samples"]):
                sw = "%s.samples[%d]" % (where, s_i)
                si = c.idx("stack_table", smp.get("stack_index", 0), sw + ".stack_index")
                used["stack_table"].add(si)
                if si == 0:
                    raise Bad("%s.stack_index = 0 (the empty stack)" % sw)
                li = c.idx("link_table", smp.get("link_index", 0), sw + ".link_index")
                if li:
                    # A trace link: only where the sampled thread had a trace context.
                    sm["linked_samples"] += smp["values"][0] if smp["values"] else 0
                sattrs = c.attrs(smp["attribute_indices"], sw + ".attribute_indices")
                used["attribute_table"].update(smp["attribute_indices"])
                if not isinstance(sattrs.get("thread.id"), int) or sattrs["thread.id"] <= 0:
                    raise Bad("%s: thread.id = %r, want an int > 0" % (sw, sattrs.get("thread.id")))
                if not isinstance(sattrs.get("thread.name"), str) or not sattrs["thread.name"]:
                    raise Bad("%s: thread.name = %r, want a non-empty string" % (sw, sattrs.get("thread.name")))
                if len(smp["values"]) != 1 or smp["values"][0] <= 0:
                    raise Bad("%s.values = %r, want one count > 0" % (sw, smp["values"]))
                total += smp["values"][0]
                sm["threads"]["%s/%s" % (sattrs["thread.id"], sattrs["thread.name"])] = \
                    sm["threads"].get("%s/%s" % (sattrs["thread.id"], sattrs["thread.name"]), 0) + smp["values"][0]
                stack = d["stack_table"][si]["location_indices"]
                frames = [c.frame(li) for li in stack]
                kinds = [f[0] for f in frames]
                for k, f in zip(kinds, frames):
                    if k not in ("kernel", "native", "cpython"):
                        raise Bad("%s: a frame's profile.frame.type is %r, want kernel, native or cpython"
                                  % (sw, k))
                    # emberprof's CPython frames, and only they, are in the [python] mapping.
                    if (k == "cpython") != (f[2] == "[python]"):
                        raise Bad("%s: a %s frame in mapping %r" % (sw, k, f[2]))
                    sm["frame_types"][k] = sm["frame_types"].get(k, 0) + smp["values"][0]
                # Leaf first: kernel frames (if any) come before every user frame.
                uk = [i for i, k in enumerate(kinds) if k != "kernel"]
                if "kernel" in kinds and uk and \
                        max(i for i, k in enumerate(kinds) if k == "kernel") > uk[0]:
                    raise Bad("%s: a kernel frame below a user one (stack is not leaf first)" % sw)
                user = [f for f in frames if f[0] != "kernel"]
                leaf = (user[0][1][0] if user[0][1] else "?") if user else "?"
                sm["leaf"][leaf] = sm["leaf"].get(leaf, 0) + smp["values"][0]
                chain = [n for f in user for n in f[1]]
                for name in args.chain or []:
                    want = name.split(";")
                    if chain[:len(want)] == want:
                        key = "chain:" + name
                        sm[key] = summary.get(key, 0) + smp["values"][0]
            sm["samples"] += total
            t = p.get("time_unix_nano", 0)
            dur = p.get("duration_nano", 0)
            sm["resources"].append({"attrs": rattrs, "samples": total, "time_unix_nano": t,
                                         "duration_nano": dur, "period": p.get("period", 0)})
    # Every mapping's file and build ids, by file name.
    for i, m in enumerate(d["mapping_table"][1:], 1):
        name = c.s(m.get("filename_strindex", 0), "")
        summary["mappings"].setdefault(name, []).append(
            c.attrs(m["attribute_indices"], "mapping_table[%d].attribute_indices" % i))
    # The format calls profile_id globally unique, but also lets a reader
    # treat equal ids as different profiles; the agent gives every profile of
    # one export the same id. Reported, not failed: the tests use the ids to
    # tell exports apart, not the profiles inside one.
    summary["distinct_profile_ids"] = len(set(summary["profile_ids"]))
    return summary


def cmd_check(args):
    body = read_body(args.body)
    try:
        req = decode(body)
        summary = check(req, args)
    except Bad as e:
        fail("%s: %s" % (args.body, e))
    json.dump(jsonable(summary), sys.stdout, sort_keys=True)
    print()


def cmd_decode(args):
    try:
        req = decode(read_body(args.body), args.message)
    except Bad as e:
        fail("%s: %s" % (args.body, e))
    json.dump(jsonable(req), sys.stdout, indent=1)
    print()


def cmd_requests(args):
    """One line per stored request, in arrival order."""
    names = sorted(n for n in os.listdir(args.dir) if n.endswith(".json") and n[:4].isdigit())
    for n in names:
        with open(os.path.join(args.dir, n), encoding="utf-8") as f:
            meta = json.load(f)
        line = {"n": meta["n"], "status": meta["status"], "time": meta["time"],
                "headers": {k.lower(): v for k, v in meta["headers"]}}
        try:
            req = decode(read_body(os.path.join(args.dir, n[:-5] + ".body")))
            ids, samples, t0, t1 = [], 0, None, None
            for rp in req["resource_profiles"]:
                for sp in rp["scope_profiles"]:
                    for p in sp["profiles"]:
                        pid = p.get("profile_id", b"").hex()
                        if pid not in ids:
                            ids.append(pid)
                        samples += sum(s["values"][0] for s in p["samples"] if s["values"])
                        t = p.get("time_unix_nano", 0)
                        e = t + p.get("duration_nano", 0)
                        t0 = t if t0 is None else min(t0, t)
                        t1 = e if t1 is None else max(t1, e)
            line.update(profile_ids=ids, samples=samples, start_ns=t0, end_ns=t1, decoded=True)
        except Bad as e:
            line.update(decoded=False, error=str(e), profile_ids=[], samples=0, start_ns=0, end_ns=0)
        if args.tsv:
            print("%d\t%d\t%.3f\t%d\t%s\t%d\t%d\t%s\t%d" % (
                line["n"], line["status"], line["time"], line["samples"],
                ",".join(line["profile_ids"]) or "-", line["start_ns"] or 0, line["end_ns"] or 0,
                "ok" if line["decoded"] else line["error"], meta["bytes"]))
        else:
            json.dump(line, sys.stdout, sort_keys=True)
            print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("decode")
    p.add_argument("body")
    p.add_argument("--message", default="ExportProfilesServiceRequest", choices=sorted(SCHEMA))
    p.set_defaults(fn=cmd_decode)
    p = sub.add_parser("check")
    p.add_argument("body")
    p.add_argument("--hz", type=int, default=0, help="the -F used: period must be 1e9 / HZ")
    p.add_argument("--chain", action="append",
                   help="count samples whose user frames start (leaf first) with F1;F2;...")
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("htlhash")
    p.add_argument("file")
    p.set_defaults(fn=lambda a: print(htlhash(a.file)))
    p = sub.add_parser("requests")
    p.add_argument("dir")
    p.add_argument("--tsv", action="store_true",
                   help="N, status, time, samples, profile ids, start ns, end ns, decode result, bytes")
    p.set_defaults(fn=cmd_requests)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
