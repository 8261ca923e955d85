#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause-Patent
"""Independent CC event-log writer and replayer for the td-shim-eventlog tests
(measurement.md 2 and 5), written from the spec tables, not from the Rust code.

  eventlog_reference.py write OUT [FILL]   write a log (FILL bytes of 0xff after it, default
                                           4096) and print the expected replay, the record
                                           offsets and the events as JSON
  eventlog_reference.py replay LOG         replay any log (stops at 0xffffffff / 0 fill) and
                                           print rtmr0..rtmr3 as JSON

Inputs are trusted test data.
"""
import hashlib
import json
import struct
import sys

SHA384 = 0x000C


def spec_id_record():
    event = (b"Spec ID Event03\0" + struct.pack("<I", 0) + bytes([0, 2, 105, 2])
             + struct.pack("<I", 1) + struct.pack("<HH", SHA384, 48) + bytes([7]) + b"td-shim")
    assert len(event) == 40
    return struct.pack("<II", 0, 3) + bytes(20) + struct.pack("<I", len(event)) + event


def record(mr, etype, digest, data):
    return (struct.pack("<IIIH", mr, etype, 1, SHA384) + digest
            + struct.pack("<I", len(data)) + data)


def config_info(descriptor, info):
    return descriptor.ljust(16, b"\0") + struct.pack("<I", len(info)) + info


def blob2(desc, base, length):
    return bytes([len(desc)]) + desc + struct.pack("<QQ", base, length)


def h(b):
    return hashlib.sha384(b).digest()


def write(out, fill="4096"):
    hob = bytes(range(256)) * 3
    kernel = b"MZ" + bytes(((i * 13) & 0xFF) for i in range(5000))
    cmdline = b"console=ttyS0 quiet"
    events = [
        (1, 0xA, h(hob), config_info(b"td_hob", hob)),
        (1, 0xA, h(b"\x11" * 4096), config_info(b"td_cfv", struct.pack("<QQ", 0xFFE00000, 4096))),
        (2, 0x8000000A, h(kernel), blob2(b"td_payload\0", 0x1000000, len(kernel))),
        (2, 0xA, h(cmdline), config_info(b"td_payload_info", cmdline)),
        (3, 0xD, h(b"grub"), b"grub"),               # an OS-style event into RTMR2
        (4, 0x80000007, h(b"rtmr3 event"), b"rtmr3 event"),
        (1, 0x4, h(bytes(4)), bytes(4)),
        (2, 0x4, h(bytes(4)), bytes(4)),
    ]
    log = spec_id_record()
    offsets = []
    for e in events:
        offsets.append(len(log))
        log += record(*e)
    end = len(log)
    log += b"\xff" * int(fill)
    with open(out, "wb") as f:
        f.write(log)
    rtmr = [bytes(48)] * 4
    for (mr, _, d, _) in events:
        rtmr[mr - 1] = hashlib.sha384(rtmr[mr - 1] + d).digest()
    print(json.dumps({
        **{"rtmr%d" % i: rtmr[i].hex() for i in range(4)},
        "offsets": offsets,
        "end": end,
        "events": [{"mr_index": mr, "event_type": t, "digest": d.hex()} for (mr, t, d, _) in events],
        "sha384_cmdline": h(cmdline).hex(),
        "sha384_kernel": h(kernel).hex(),
    }))


def replay(path):
    log = open(path, "rb").read()
    (size,) = struct.unpack_from("<I", log, 28)
    at = 32 + size
    rtmr = [bytes(48)] * 4
    while at + 4 <= len(log):
        (mr,) = struct.unpack_from("<I", log, at)
        if mr in (0, 0xFFFFFFFF):
            break
        d = log[at + 14:at + 62]
        (n,) = struct.unpack_from("<I", log, at + 62)
        rtmr[mr - 1] = hashlib.sha384(rtmr[mr - 1] + d).digest()
        at += 66 + n
    print(json.dumps({"rtmr%d" % i: rtmr[i].hex() for i in range(4)}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"write": write, "replay": replay}[cmd](*args)
