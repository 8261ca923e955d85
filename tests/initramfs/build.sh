#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause-Patent
#
# Builds the initramfs of the Linux boot tests: a gzip'd newc cpio archive holding a static
# busybox, symlinks for the applets ./init uses, ./init itself and a /dev/console node
# (the kernel opens it for PID 1's stdio before anything is mounted).
#
# Deterministic: entries sorted by name, owner 0:0, mtime 0, inode numbers in order, gzip
# without a name or timestamp. The same busybox and init give the same bytes on any machine,
# without root (the archive is written directly, no files or device nodes are created).
#
# Usage: tests/initramfs/build.sh OUT [BUSYBOX]
#   BUSYBOX defaults to target/kernels/busybox (sh_script/fetch-kernels.sh), then to a
#   static busybox on PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:?usage: build.sh OUT [BUSYBOX]}"
bb="${2:-}"
if [ -z "$bb" ]; then
    if [ -x "$root/target/kernels/busybox" ]; then
        bb="$root/target/kernels/busybox"
    else
        bb="$(command -v busybox || true)"
    fi
fi
[ -n "$bb" ] && [ -x "$bb" ] || { echo "build.sh: no busybox (run sh_script/fetch-kernels.sh)" >&2; exit 1; }
if command -v readelf >/dev/null && readelf -l "$bb" 2>/dev/null | grep -q INTERP; then
    echo "build.sh: $bb is dynamically linked; the initramfs needs a static busybox" >&2
    exit 1
fi

mkdir -p "$(dirname "$out")"
python3 - "$out" "$bb" "$here/init" <<'PY'
import gzip, io, os, sys

out, busybox, init = sys.argv[1:4]
# Applets the init script calls, plus a few handy ones when debugging by hand.
APPLETS = ["cat", "echo", "grep", "ls", "mount", "poweroff", "sed", "sh", "sleep",
           "sort", "tr", "uname", "dmesg", "stty"]

S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR = 0o040000, 0o100000, 0o120000, 0o020000
entries = {}  # name -> (mode, data, rdevmajor, rdevminor)
def d(name): entries[name] = (S_IFDIR | 0o755, b"", 0, 0)
for name in ["bin", "dev", "proc", "sys", "tmp"]:
    d(name)
entries["dev/console"] = (S_IFCHR | 0o600, b"", 5, 1)
with open(busybox, "rb") as f:
    entries["bin/busybox"] = (S_IFREG | 0o755, f.read(), 0, 0)
for a in APPLETS:
    entries["bin/" + a] = (S_IFLNK | 0o777, b"busybox", 0, 0)
with open(init, "rb") as f:
    entries["init"] = (S_IFREG | 0o755, f.read(), 0, 0)

buf = io.BytesIO()
def pad4():
    buf.write(b"\0" * (-buf.tell() % 4))
def put(ino, name, mode, data, rmaj, rmin):
    nlink = 2 if mode & 0o170000 == S_IFDIR else 1
    fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rmaj, rmin, len(name) + 1, 0]
    buf.write(b"070701" + b"".join(b"%08X" % v for v in fields))
    buf.write(name.encode() + b"\0")
    pad4()
    buf.write(data)
    pad4()
ino = 1
for name in sorted(entries):
    put(ino, name, *entries[name])
    ino += 1
put(0, "TRAILER!!!", 0, b"", 0, 0)
buf.write(b"\0" * (-buf.tell() % 512))

tmp = out + ".part"
with open(tmp, "wb") as raw:
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        gz.write(buf.getvalue())
os.replace(tmp, out)
PY
echo "$out"
