#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause-Patent
"""Independent reference for the td-shim-tee-info-hash tests (measurement.md 6-7, metadata.md).

Written separately from the Rust code, on purpose with a different structure (build the whole
byte stream of 128-byte blocks, hash it once with hashlib), so that the tests do not compare the
Rust calculator with itself. Also usable by hand:

  mrtd_reference.py synth OUT_IMAGE [OUT_PAYLOAD]  write a synthetic image (variant "a": payload
                                                   raw data in the image; with OUT_PAYLOAD,
                                                   variant "b": VMM-loaded payload) and print
                                                   the expected values as JSON
  mrtd_reference.py image IMAGE [PAYLOAD]          print MRTD of an image in both orders (JSON),
                                                   metadata found via the legacy pointer
  mrtd_reference.py tdinfo MRTD_HEX MANIFEST       print TDINFO (hex) and TEE_INFO_HASH (JSON)

Inputs are trusted test data: this script does no validation beyond what it needs.
"""
import hashlib
import json
import struct
import sys
import uuid

PAGE = 4096
TDX_ENTRY_GUID = uuid.UUID("E47A6535-984A-4798-865E-4685A7BF8EC2").bytes_le
FOOTER_GUID = uuid.UUID("96B582DE-1FB2-45F7-BAEA-A366C55A082D").bytes_le
METADATA_GUID = uuid.UUID("E9EAF9F3-168E-44D5-A8EB-7F4D8738F6AE").bytes_le


def block(name, gpa):
    """One 128-byte record: ASCII name at 0, zero pad to 16, GPA u64 LE at 16, zeros."""
    b = bytearray(128)
    b[0:len(name)] = name
    b[16:24] = struct.pack("<Q", gpa)
    return bytes(b)


def mrtd(image, sections, order, payload=None):
    """sections: (data_offset, raw_size, mem_addr, mem_size, type, attr) tuples, table order."""
    first, second = [], []
    for (off, raw, addr, msize, typ, attr) in sections:
        if typ in (7, 8):  # TD_INFO / TD_PARAMS: no memory
            continue
        if raw:
            data = image[off:off + raw]
        elif typ == 5 and attr & 1:
            data = payload
        else:
            data = b""
        data = data + bytes(msize - len(data))
        for i in range(msize // PAGE):
            gpa = addr + i * PAGE
            adds = [] if attr & 2 else [block(b"MEM.PAGE.ADD", gpa)]
            exts = []
            if attr & 1:
                for k in range(16):
                    lo = i * PAGE + k * 256
                    exts.append(block(b"MR.EXTEND", gpa + k * 256))
                    exts.append(data[lo:lo + 256])
            if order == "interleaved":
                first += adds + exts
            else:
                first += adds
                second += exts
    return hashlib.sha384(b"".join(first + second)).hexdigest()


def synth(out_image, out_payload=None):
    size = 0x4000
    img = bytearray(((i * 131 + 7) & 0xFF) for i in range(size))
    payload = None
    sections = [
        (0x1000, 0x2000, 0x100000, 0x3000, 0, 1),  # BFV, memory larger than raw data
        (0x0000, 0x1000, 0x200000, 0x1000, 1, 0),  # CFV: PAGE.ADD only
        (0, 0, 0x300000, 0x2000, 2, 0),            # TD_HOB: GPAs only
        (0, 0, 0x400000, 0x1000, 3, 0),            # TempMem: GPAs only
        (0, 0, 0x100000000, 0x2000, 4, 2),         # PermMem: PAGE.AUG, nothing
    ]
    if out_payload is None:
        sections.append((0x3000, 0x800, 0x600000, 0x1000, 5, 1))  # Payload, half a page raw
    else:
        sections.append((0, 0, 0x600000, 0x2000, 5, 1))  # Payload, VMM-loaded
        payload = bytes(((i * 29 + 3) & 0xFF) for i in range(0x1234))
        with open(out_payload, "wb") as f:
            f.write(payload)
    sections.append((0x1000, 0x40, 0, 0, 7, 0))  # TD_INFO inside the BFV: nothing
    desc = 0x3A10
    n = len(sections)
    img[desc - 16:desc] = METADATA_GUID
    img[desc:desc + 16] = struct.pack("<4sIII", b"TDVF", 16 + 32 * n, 1, n)
    for j, s in enumerate(sections):
        img[desc + 16 + 32 * j:desc + 48 + 32 * j] = struct.pack("<IIQQII", *s)
    # Tail: OVMF GUID table (TDX entry + footer) and the legacy pointer (metadata.md 1).
    img[size - 0x48:size - 0x20] = (struct.pack("<IH", size - desc, 22) + TDX_ENTRY_GUID
                                    + struct.pack("<H", 40) + FOOTER_GUID)
    img[size - 0x20:size - 0x1C] = struct.pack("<I", desc)
    with open(out_image, "wb") as f:
        f.write(img)
    img = bytes(img)
    print(json.dumps({
        "interleaved": mrtd(img, sections, "interleaved", payload),
        "add_first": mrtd(img, sections, "add-first", payload),
        "descriptor_offset": desc,
    }))


def image(path, payload_path=None):
    img = open(path, "rb").read()
    payload = open(payload_path, "rb").read() if payload_path else None
    (desc,) = struct.unpack_from("<I", img, len(img) - 0x20)
    sig, length, version, n = struct.unpack_from("<4sIII", img, desc)
    assert sig == b"TDVF" and version == 1 and length == 16 + 32 * n
    sections = [struct.unpack_from("<IIQQII", img, desc + 16 + 32 * j) for j in range(n)]
    print(json.dumps({
        "interleaved": mrtd(img, sections, "interleaved", payload),
        "add_first": mrtd(img, sections, "add-first", payload),
    }))


def tdinfo(mrtd_hex, manifest_path):
    m = json.load(open(manifest_path))

    def u64(name):
        return int(m.get(name, "0"), 16)  # int() accepts both "0x.." and bare digits

    def reg(name):
        v = m.get(name, "00" * 48)
        return bytes.fromhex(v[2:] if v.startswith("0x") else v)

    ti = struct.pack("<QQ", u64("attributes"), u64("xfam")) + bytes.fromhex(mrtd_hex)
    for name in ["mrconfigid", "mrowner", "mrownerconfig",
                 "rtmr0", "rtmr1", "rtmr2", "rtmr3", "servtd_hash"]:
        ti += reg(name)
    ti += bytes(64)
    assert len(ti) == 512
    print(json.dumps({"tdinfo": ti.hex(), "tee_info_hash": hashlib.sha384(ti).hexdigest()}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"synth": synth, "image": image, "tdinfo": tdinfo}[cmd](*args)
