#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause-Patent
#
# Unpacks the uncompressed kernel (vmlinux, an ELF file) from a bzImage: the Linux boot
# protocol's setup header gives the compressed payload's place (payload_offset at 0x248,
# payload_length at 0x24C, relative to the protected-mode part); its first bytes say the
# compression. gzip and xz are unpacked by python3 itself, zstd by the zstd program (Debian's
# 6.12 kernels; the kernel build appends the uncompressed size as 4 bytes, cut off here).
# What comes out is the kernel's vmlinux followed by its relocation table, which ELF loaders
# ignore. The boot tests use it for `qemu -kernel vmlinux`.
#
# Usage: sh_script/extract-vmlinux.sh BZIMAGE OUT
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 BZIMAGE OUT" >&2; exit 2; }
in="$1"
out="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Writes $tmp/payload (unpacked) or $tmp/payload.zst (for zstd), or fails with a reason.
python3 - "$in" "$tmp/payload" <<'PY'
import gzip, lzma, struct, sys
src, dst = sys.argv[1], sys.argv[2]
b = open(src, "rb").read()
if len(b) < 0x250 or b[0x202:0x206] != b"HdrS":
    sys.exit(f"extract-vmlinux: {src} is not a bzImage (no HdrS)")
setup = ((b[0x1F1] or 4) + 1) * 512
off, length = struct.unpack_from("<II", b, 0x248)
start = setup + off
payload = b[start:start + length]
if len(payload) != length or length < 8:
    sys.exit(f"extract-vmlinux: payload [{start:#x}, +{length:#x}) is not inside {src}")
if payload.startswith(b"\x1f\x8b"):
    open(dst, "wb").write(gzip.decompress(payload))
elif payload.startswith(b"\xfd7zXZ"):
    open(dst, "wb").write(lzma.decompress(payload[:-4], format=lzma.FORMAT_XZ))
elif payload.startswith(b"\x28\xb5\x2f\xfd"):
    open(dst + ".zst", "wb").write(payload[:-4])
else:
    sys.exit(f"extract-vmlinux: unsupported compression (first bytes {payload[:6].hex()})")
PY
if [ -f "$tmp/payload.zst" ]; then
    command -v zstd >/dev/null || { echo "extract-vmlinux: needs zstd (apt-get install zstd)" >&2; exit 1; }
    zstd -q -d -f "$tmp/payload.zst" -o "$tmp/payload"
fi
[ "$(head -c 4 "$tmp/payload" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ] ||
    { echo "extract-vmlinux: the unpacked payload is not an ELF file" >&2; exit 1; }
mv "$tmp/payload" "$out"
echo "$out"
