#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause-Patent
"""Independent RTMR arithmetic for the td-payload-reference-calculator tests.

Reads a JSON spec on stdin: {"rtmr0": [ITEM, ...], "rtmr1": [...]}, each ITEM saying what the
firmware hashes for one event, in the words of doc/measurement.md:
  ["file", PATH]                 SHA-384 of the file (sha384sum)
  ["slice", PATH, OFFSET, LEN]   SHA-384 of LEN bytes of the file at OFFSET
  ["padded", PATH, SIZE]         SHA-384 of the file zero-extended to SIZE bytes
  ["text", STRING]               SHA-384 of the UTF-8 string (a command line, without NUL)
  ["kernel", PATH]               SHA-384 of a bzImage with the header fields a boot loader
                                 writes reset to zero (type_of_loader 0x210, CAN_USE_HEAP in
                                 loadflags 0x211, ramdisk 0x218/0x21c, heap_end_ptr 0x224,
                                 ext_loader 0x226, cmd_line_ptr 0x228, setup_data 0x250)
  ["separator"]                  SHA-384 of 00 00 00 00
Prints {"rtmr0": hex, "rtmr1": hex, "digests": {"rtmr0": [hex...], "rtmr1": [...]}} with each
register extended from zeros: R = SHA-384(R || digest).
"""
import hashlib
import json
import sys


def digest(item):
    kind = item[0]
    if kind == "file":
        data = open(item[1], "rb").read()
    elif kind == "slice":
        data = open(item[1], "rb").read()[item[2]:item[2] + item[3]]
    elif kind == "padded":
        data = open(item[1], "rb").read()
        assert len(data) <= item[2]
        data += bytes(item[2] - len(data))
    elif kind == "text":
        data = item[1].encode()
    elif kind == "kernel":
        k = bytearray(open(item[1], "rb").read())
        for off, n in [(0x210, 1), (0x218, 4), (0x21C, 4), (0x224, 2), (0x226, 2),
                       (0x228, 4), (0x250, 8)]:
            k[off:off + n] = bytes(n)
        k[0x211] &= 0x7F
        data = bytes(k)
    elif kind == "separator":
        data = bytes(4)
    else:
        raise ValueError(kind)
    return hashlib.sha384(data).digest()


spec = json.load(sys.stdin)
out = {"digests": {}}
for reg, items in spec.items():
    r = bytes(48)
    ds = []
    for it in items:
        d = digest(it)
        ds.append(d.hex())
        r = hashlib.sha384(r + d).digest()
    out[reg] = r.hex()
    out["digests"][reg] = ds
print(json.dumps(out))
