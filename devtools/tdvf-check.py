#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause-Patent
"""tdvf-check: checks a firmware image against what a TDX VMM (QEMU, Cloud Hypervisor)
requires of TDVF metadata.

Written independently from ../shared/spec/metadata.md §1 (locating the metadata), §2
(descriptor), §3 (section entry), §5 (attributes) and §7 (checks QEMU performs); it imports
and mirrors nothing from the Rust code, so it can catch mistakes shared by our firmware and
our image linker. Python 3 standard library only.

Usage:  tdvf-check.py IMAGE [--allow-td-shim-types]
        tdvf-check.py --self-test
Prints a per-section table, then `OK` or one line per violation. Exit status 0 = OK,
1 = violations, 2 = usage or I/O error.
"""

import argparse
import struct
import sys
import uuid

PAGE = 0x1000
FOUR_GIB = 1 << 32

# §1: GUIDs, stored in the UEFI mixed-endian byte order.
OVMF_TABLE_FOOTER_GUID = uuid.UUID("96B582DE-1FB2-45F7-BAEA-A366C55A082D").bytes_le
TDX_METADATA_ENTRY_GUID = uuid.UUID("E47A6535-984A-4798-865E-4685A7BF8EC2").bytes_le
METADATA_GUID = uuid.UUID("E9EAF9F3-168E-44D5-A8EB-7F4D8738F6AE").bytes_le

# §1 image-tail offsets, counted back from the end of the image.
FOOTER_GUID_FROM_END = 48      # footer GUID at [size-48, size-32)
TABLE_LEN_FROM_END = 50        # u16 table length at [size-50, size-48)
FOOTER_SIZE = 18               # the u16 + GUID that the table length also counts
LEGACY_PTR_FROM_END = 0x20     # u32 descriptor offset at size-0x20
RESET_VECTOR_SIZE = 16         # a vCPU starts at GPA 0xFFFFFFF0

# §2 descriptor.
SIGNATURE = 0x46564454         # "TDVF"
DESCRIPTOR_HEADER = 16
SECTION_SIZE = 32

# §4 section types (names), §7.4 what QEMU accepts.
TYPE_NAMES = {0: "BFV", 1: "CFV", 2: "TD_HOB", 3: "TempMem", 4: "PermMem", 5: "Payload",
              6: "PayloadParam", 7: "TD_INFO", 8: "TD_PARAMS"}
BFV, CFV, TD_HOB, TEMP_MEM = 0, 1, 2, 3
QEMU_TYPES = {BFV, CFV, TD_HOB, TEMP_MEM}
TD_SHIM_EXTRA_TYPES = {5, 6}   # Cloud Hypervisor's direct kernel boot

# §5 attributes.
ATTR_MR_EXTEND = 1 << 0
ATTR_PAGE_AUG = 1 << 1
ATTR_RESERVED = 0xFFFFFFFF & ~(ATTR_MR_EXTEND | ATTR_PAGE_AUG)


class Report:
    """Violations (code, message) and warnings (messages) found while checking."""

    def __init__(self):
        self.violations = []
        self.warnings = []

    def fail(self, code, message):
        self.violations.append((code, message))

    def warn(self, message):
        self.warnings.append(message)

    def codes(self):
        return {code for code, _ in self.violations}


def u16(b, off):
    return struct.unpack_from("<H", b, off)[0]


def u32(b, off):
    return struct.unpack_from("<I", b, off)[0]


def find_via_ovmf_table(img, rep):
    """§1 (1): walks the OVMF GUID table at the image tail; returns the descriptor offset."""
    size = len(img)
    if size < TABLE_LEN_FROM_END:
        rep.fail("ovmf-missing", "image too small for an OVMF GUID table")
        return None
    if img[size - FOOTER_GUID_FROM_END:size - FOOTER_GUID_FROM_END + 16] != OVMF_TABLE_FOOTER_GUID:
        rep.fail("ovmf-missing", "no OVMF GUID table footer GUID at image size - 48 (QEMU needs it)")
        return None
    table_len = u16(img, size - TABLE_LEN_FROM_END)
    entries_end = size - TABLE_LEN_FROM_END
    entries_start = entries_end - (table_len - FOOTER_SIZE)
    if table_len < FOOTER_SIZE or entries_start < 0:
        rep.fail("ovmf-malformed", f"OVMF GUID table length {table_len} is out of range")
        return None
    p = entries_end
    while p > entries_start:
        if p - FOOTER_SIZE < entries_start:
            rep.fail("ovmf-malformed", f"OVMF GUID table entry ending at {p:#x} is truncated")
            return None
        guid = img[p - 16:p]
        entry_len = u16(img, p - 18)
        if entry_len < FOOTER_SIZE or p - entry_len < entries_start:
            rep.fail("ovmf-malformed", f"OVMF GUID table entry ending at {p:#x} has length {entry_len}")
            return None
        data = img[p - entry_len:p - 18]
        if guid == TDX_METADATA_ENTRY_GUID:
            if len(data) < 4:
                rep.fail("ovmf-malformed", "TDX metadata entry has less than 4 data bytes")
                return None
            back_offset = u32(data, 0)
            if back_offset > size or back_offset == 0:
                rep.fail("locate-range", f"TDX metadata back offset {back_offset:#x} is outside the image")
                return None
            return size - back_offset
        p -= entry_len
    rep.fail("tdx-entry-missing", "OVMF GUID table has no TDX metadata entry (E47A6535-...)")
    return None


def find_via_legacy_pointer(img, rep):
    """§1 (2): the u32 at image size - 0x20; returns the descriptor offset."""
    if len(img) < LEGACY_PTR_FROM_END:
        rep.fail("legacy-missing", "image too small for the legacy metadata pointer")
        return None
    off = u32(img, len(img) - LEGACY_PTR_FROM_END)
    if off == 0 or off >= len(img):
        rep.fail("locate-range", f"legacy metadata pointer (u32 at image size - 0x20) is {off:#x}, "
                 "outside the image (Cloud Hypervisor reads it)")
        return None
    return off


def parse_sections(img, off, rep):
    """§2: validates the descriptor at `off`; returns its sections as dicts (or None)."""
    size = len(img)
    if off + DESCRIPTOR_HEADER > size:
        rep.fail("desc-bounds", f"descriptor at {off:#x} does not fit in the image")
        return None
    if off < 16 or img[off - 16:off] != METADATA_GUID:
        rep.warn("no metadata GUID (E9EAF9F3-...) right before the descriptor "
                 "(td-shim checks it; VMMs do not)")
    sig, length, version, count = struct.unpack_from("<4I", img, off)
    ok = True
    if sig != SIGNATURE:
        rep.fail("signature", f"descriptor signature {sig:#010x}, want {SIGNATURE:#010x} (\"TDVF\")")
        ok = False
    if version != 1:
        rep.fail("version", f"descriptor version {version}, want 1")
        ok = False
    if count < 2:
        rep.fail("count", f"{count} section(s); QEMU requires at least 2")
    if length != DESCRIPTOR_HEADER + SECTION_SIZE * count:
        rep.fail("length", f"descriptor length {length:#x}, want 16 + 32 * {count} = "
                           f"{DESCRIPTOR_HEADER + SECTION_SIZE * count:#x}")
        ok = False
    if off + length > size or off + DESCRIPTOR_HEADER + SECTION_SIZE * count > size:
        rep.fail("desc-bounds", f"descriptor [{off:#x}, +{length:#x}) runs past the image end")
        ok = False
    if not ok:
        return None
    sections = []
    for i in range(count):
        d_off, raw, addr, mem, typ, attr = struct.unpack_from(
            "<IIQQII", img, off + DESCRIPTOR_HEADER + SECTION_SIZE * i)
        sections.append(dict(index=i, data_offset=d_off, raw_size=raw, addr=addr,
                             mem_size=mem, type=typ, attr=attr))
    return sections


def check_sections(img, sections, allow_td_shim_types, rep):
    """§3, §5, §7.4 per-section rules, plus the cross-section ones."""
    size = len(img)
    allowed = QEMU_TYPES | (TD_SHIM_EXTRA_TYPES if allow_td_shim_types else set())
    for s in sections:
        i, typ, raw, mem = s["index"], s["type"], s["raw_size"], s["mem_size"]
        where = f"section {i} ({TYPE_NAMES.get(typ, 'unknown')})"
        if typ not in allowed:
            hint = "" if allow_td_shim_types or typ not in TD_SHIM_EXTRA_TYPES else \
                " (pass --allow-td-shim-types for Cloud Hypervisor)"
            rep.fail("type", f"{where}: type {typ} is not accepted by the VMM{hint}")
        if mem < raw:
            rep.fail("raw-gt-mem", f"{where}: MemoryDataSize {mem:#x} < RawDataSize {raw:#x}")
        if s["addr"] % PAGE or mem % PAGE:
            rep.fail("align", f"{where}: MemoryAddress {s['addr']:#x} / MemoryDataSize {mem:#x} "
                              "not 4 KiB aligned")
        if typ in (BFV, CFV) and raw == 0:
            rep.fail("raw-zero", f"{where}: RawDataSize must not be 0")
        if typ in (TD_HOB, TEMP_MEM) and raw != 0:
            rep.fail("raw-nonzero", f"{where}: RawDataSize must be 0, is {raw:#x}")
        if raw == 0 and s["data_offset"] != 0:
            rep.fail("data-offset", f"{where}: DataOffset {s['data_offset']:#x} must be 0 "
                                    "when RawDataSize is 0")
        if s["data_offset"] + raw > size:
            rep.fail("raw-outside", f"{where}: raw data [{s['data_offset']:#x}, +{raw:#x}) "
                                    f"runs past the image end {size:#x}")
        if s["attr"] & ATTR_RESERVED:
            rep.fail("attr-reserved", f"{where}: reserved attribute bits set in {s['attr']:#x}")
        if typ == BFV and not s["attr"] & ATTR_MR_EXTEND:
            rep.fail("mr-extend", f"{where}: BFV must have attribute MR.EXTEND (bit 0)")

    with_memory = sorted((s for s in sections if s["mem_size"]), key=lambda s: s["addr"])
    for a, b in zip(with_memory, with_memory[1:]):
        if b["addr"] < a["addr"] + a["mem_size"]:
            rep.fail("overlap", f"sections {a['index']} and {b['index']} overlap in GPA space: "
                                f"[{a['addr']:#x}, +{a['mem_size']:#x}) and "
                                f"[{b['addr']:#x}, +{b['mem_size']:#x})")

    bfvs = [s for s in sections if s["type"] == BFV]
    if not bfvs:
        rep.fail("no-bfv", "no BFV section")
        return
    reset = size - RESET_VECTOR_SIZE
    covering = [s for s in bfvs
                if s["data_offset"] <= reset and size <= s["data_offset"] + s["raw_size"]]
    if not covering:
        rep.fail("reset-vector", f"no BFV holds the image's last 16 bytes [{reset:#x}, {size:#x})")
        return
    for s in covering:
        gpa = s["addr"] + (reset - s["data_offset"])
        if gpa != FOUR_GIB - RESET_VECTOR_SIZE:
            rep.fail("reset-vector", f"section {s['index']} (BFV) puts the image's last 16 bytes "
                                     f"at GPA {gpa:#x}, not 0xfffffff0")


def check_image(img, allow_td_shim_types=False):
    """Runs every check; returns (report, sections or None)."""
    rep = Report()
    if len(img) == 0 or len(img) % PAGE:
        rep.fail("size-align", f"image size {len(img):#x} is not a non-zero multiple of 4 KiB")
    via_table = find_via_ovmf_table(img, rep)
    via_legacy = find_via_legacy_pointer(img, rep)
    if via_table is not None and via_legacy is not None and via_table != via_legacy:
        rep.fail("locate-mismatch", f"OVMF table says the descriptor is at {via_table:#x}, "
                                    f"the legacy pointer says {via_legacy:#x}")
    off = via_table if via_table is not None else via_legacy
    if off is None:
        return rep, None
    sections = parse_sections(img, off, rep)
    if sections is not None:
        check_sections(img, sections, allow_td_shim_types, rep)
    return rep, sections


def attr_names(attr):
    names = [n for bit, n in ((ATTR_MR_EXTEND, "MR.EXTEND"), (ATTR_PAGE_AUG, "PAGE.AUG"))
             if attr & bit]
    return f"{attr:#x}" + (" " + "|".join(names) if names else "")


def print_table(sections, out):
    out.write(f"{'#':>2}  {'type':<16} {'DataOffset':>10} {'RawDataSize':>11} "
              f"{'MemoryAddress':>18} {'MemoryDataSize':>14}  attributes\n")
    for s in sections:
        t = f"{TYPE_NAMES.get(s['type'], 'unknown')} ({s['type']})"
        out.write(f"{s['index']:>2}  {t:<16} {s['data_offset']:>#10x} {s['raw_size']:>#11x} "
                  f"{s['addr']:>#18x} {s['mem_size']:>#14x}  {attr_names(s['attr'])}\n")


def run(path, allow_td_shim_types):
    try:
        with open(path, "rb") as f:
            img = f.read()
    except OSError as e:
        print(f"tdvf-check: {e}", file=sys.stderr)
        return 2
    rep, sections = check_image(img, allow_td_shim_types)
    print(f"{path}: {len(img):#x} bytes")
    if sections:
        print_table(sections, sys.stdout)
    for w in rep.warnings:
        print(f"warning: {w}")
    if rep.violations:
        for _, msg in rep.violations:
            print(f"error: {msg}")
        return 1
    print("OK")
    return 0


# ---- self-test ---------------------------------------------------------------------------

def build_image(size=0x10000, sections=None, desc_off=0x1010, table=True, legacy=True,
                legacy_off=None, signature=SIGNATURE, version=1, length=None, guid=True):
    """A synthetic image laid out as §1-§3 describe: metadata GUID + descriptor at
    `desc_off`, the OVMF GUID table and legacy pointer at the tail. Default sections: a CFV
    of one page at the image start, a BFV over the rest (reset vector included), a TD_HOB
    and a TempMem."""
    base = FOUR_GIB - size
    if sections is None:
        sections = [
            # (DataOffset, RawDataSize, MemoryAddress, MemoryDataSize, Type, Attributes)
            (0, 0x1000, base, 0x1000, CFV, 0),
            (0x1000, size - 0x1000, base + 0x1000, size - 0x1000, BFV, ATTR_MR_EXTEND),
            (0, 0, 0x80_0000, 0x2_0000, TD_HOB, 0),
            (0, 0, 0x10_0000, 0x4_0000, TEMP_MEM, 0),
        ]
    img = bytearray(size)
    if guid:
        img[desc_off - 16:desc_off] = METADATA_GUID
    n = len(sections)
    if length is None:
        length = DESCRIPTOR_HEADER + SECTION_SIZE * n
    struct.pack_into("<4I", img, desc_off, signature, length, version, n)
    for i, s in enumerate(sections):
        struct.pack_into("<IIQQII", img, desc_off + DESCRIPTOR_HEADER + SECTION_SIZE * i, *s)
    if table:
        # TDX entry: u32 data, u16 length 22, GUID; then footer: u16 table length 40, GUID.
        struct.pack_into("<IH", img, size - 72, size - desc_off, 22)
        img[size - 66:size - 50] = TDX_METADATA_ENTRY_GUID
        struct.pack_into("<H", img, size - 50, 40)
        img[size - 48:size - 32] = OVMF_TABLE_FOOTER_GUID
    if legacy:
        struct.pack_into("<I", img, size - 0x20, desc_off if legacy_off is None else legacy_off)
    img[size - 16:size - 12] = b"\x90\x90\xeb\xfe"  # nop; nop; jmp $ (cosmetic)
    return bytes(img)


def self_test():
    size = 0x10000
    base = FOUR_GIB - size
    cfv = (0, 0x1000, base, 0x1000, CFV, 0)
    bfv = (0x1000, size - 0x1000, base + 0x1000, size - 0x1000, BFV, ATTR_MR_EXTEND)
    hob = (0, 0, 0x80_0000, 0x2_0000, TD_HOB, 0)
    tmp = (0, 0, 0x10_0000, 0x4_0000, TEMP_MEM, 0)

    def secs(*replace):
        """Default sections with some replaced: (index, new tuple) or (index, None) to drop."""
        out = [cfv, bfv, hob, tmp]
        for i, s in replace:
            out[i] = s
        return [s for s in out if s is not None]

    # (name, image, allow_td_shim_types, exact expected violation codes)
    cases = [
        ("good", build_image(), False, set()),
        ("good, two sections only", build_image(sections=[bfv, hob]), False, set()),
        ("size not a 4 KiB multiple", build_image(size=size + 0x800, sections=[
            (0x800, size, base, size, BFV, 1), hob]),  # the rest of this BFV is valid
         False, {"size-align"}),
        ("no OVMF table", build_image(table=False), False, {"ovmf-missing"}),
        ("no legacy pointer", build_image(legacy=False), False, {"locate-range"}),
        ("pointers disagree", build_image(legacy_off=0x2010), False, {"locate-mismatch"}),
        ("bad signature", build_image(signature=0x12345678), False, {"signature"}),
        ("bad version", build_image(version=2), False, {"version"}),
        ("bad length", build_image(length=16 + 32 * 3), False, {"length"}),
        ("one section", build_image(sections=[bfv]), False, {"count"}),
        ("PermMem type", build_image(sections=secs((3, (0, 0, 0x10_0000, 0x4_0000, 4, 2)))),
         False, {"type"}),
        ("Payload type without flag", build_image(sections=secs((3, (0, 0, 0x10_0000, 0x4_0000, 5, 0)))),
         False, {"type"}),
        ("Payload type with flag", build_image(sections=secs((3, (0, 0, 0x10_0000, 0x4_0000, 5, 0)))),
         True, set()),
        ("type 9", build_image(sections=secs((3, (0, 0, 0x10_0000, 0x4_0000, 9, 0)))),
         True, {"type"}),
        ("MemoryDataSize < RawDataSize", build_image(sections=secs((0, (0, 0x2000, base, 0x1000, CFV, 0)))),
         False, {"raw-gt-mem"}),
        ("misaligned address", build_image(sections=secs((3, (0, 0, 0x10_0800, 0x4_0000, TEMP_MEM, 0)))),
         False, {"align"}),
        ("misaligned size", build_image(sections=secs((3, (0, 0, 0x10_0000, 0x4_0800, TEMP_MEM, 0)))),
         False, {"align"}),
        ("CFV without raw data", build_image(sections=secs((0, (0, 0, base, 0x1000, CFV, 0)))),
         False, {"raw-zero"}),
        ("TD_HOB with raw data", build_image(sections=secs((2, (0, 0x1000, 0x80_0000, 0x2_0000, TD_HOB, 0)))),
         False, {"raw-nonzero"}),
        ("TempMem with DataOffset", build_image(sections=secs((3, (0x1000, 0, 0x10_0000, 0x4_0000, TEMP_MEM, 0)))),
         False, {"data-offset"}),
        ("raw data past the end", build_image(sections=secs((0, (0xF000, 0x2000, base, 0x2000, CFV, 0)))),
         False, {"raw-outside", "overlap"}),
        ("GPA overlap", build_image(sections=secs((3, (0, 0, 0x81_0000, 0x4_0000, TEMP_MEM, 0)))),
         False, {"overlap"}),
        ("reserved attribute", build_image(sections=secs((2, (0, 0, 0x80_0000, 0x2_0000, TD_HOB, 4)))),
         False, {"attr-reserved"}),
        ("BFV without MR.EXTEND", build_image(sections=secs((1, bfv[:5] + (0,)))),
         False, {"mr-extend"}),
        ("no BFV", build_image(sections=secs((1, None))), False, {"no-bfv"}),
        ("BFV misses the last 16 bytes", build_image(sections=secs((1, (0x1000, size - 0x2000, base + 0x1000, size - 0x2000, BFV, 1)))),
         False, {"reset-vector"}),
        ("BFV maps the reset vector elsewhere", build_image(sections=secs((1, (0x1000, size - 0x1000, 0x200_0000, size - 0x1000, BFV, 1)))),
         False, {"reset-vector"}),
    ]
    failures = 0
    for name, img, allow, want in cases:
        rep, _ = check_image(img, allow)
        got = rep.codes()
        if got != want:
            failures += 1
            print(f"FAIL  {name}: want {sorted(want)}, got {sorted(got)}")
            for _, msg in rep.violations:
                print(f"        {msg}")
        else:
            print(f"ok    {name}")
    # The metadata GUID is a warning, not a violation (VMMs do not check it).
    rep, _ = check_image(build_image(guid=False))
    if rep.codes() or not rep.warnings:
        failures += 1
        print("FAIL  missing metadata GUID: want one warning and no violation")
    else:
        print("ok    missing metadata GUID is a warning")
    print("self-test: " + ("all passed" if not failures else f"{failures} failure(s)"))
    return 0 if not failures else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", nargs="?", help="firmware image (raw TDVF binary)")
    ap.add_argument("--allow-td-shim-types", action="store_true",
                    help="also accept section types 5 (Payload) and 6 (PayloadParam), "
                         "as Cloud Hypervisor does")
    ap.add_argument("--self-test", action="store_true",
                    help="check the checker against synthetic images")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.image:
        ap.print_usage(sys.stderr)
        return 2
    return run(args.image, args.allow_td_shim_types)


if __name__ == "__main__":
    sys.exit(main())
