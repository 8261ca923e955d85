#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause-Patent
#
# Fetches the inputs of the Linux boot tests and the boot benchmark into CACHE_DIR
# (default target/kernels), from the distribution's package archive:
#   vmlinuz-6.1   the newest linux-image-6.1.0-*-cloud-amd64 kernel (bzImage)
#   vmlinuz-6.12  the newest linux-image-6.12.*-cloud-amd64 kernel (bzImage)
#   busybox       the static busybox from busybox-static (for the test initramfs)
#   vmlinux-6.12  the uncompressed kernel (ELF) inside vmlinuz-6.12, unpacked by
#                 sh_script/extract-vmlinux.sh (for the `-kernel vmlinux` tests)
# The stable names are symlinks to the versioned files next to them. Nothing is installed:
# packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x`. A run that
# finds all three files does nothing else (no apt calls); `apt-get update` runs only when a
# wanted package is not known to apt.
#
# Usage: sh_script/fetch-kernels.sh [CACHE_DIR]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${1:-$root/target/kernels}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

log() { echo "fetch-kernels: $*" >&2; }

report() {
    local f
    for f in vmlinuz-6.1 vmlinuz-6.12 busybox vmlinux-6.12; do
        printf '%s -> %s (%s bytes)\n' "$cache/$f" "$(readlink "$cache/$f" || echo "$f")" \
            "$(stat -L -c %s "$cache/$f")"
    done
}

if [ -s "$cache/vmlinuz-6.1" ] && [ -s "$cache/vmlinuz-6.12" ] && [ -x "$cache/busybox" ] &&
    [ -s "$cache/vmlinux-6.12" ]; then
    report
    exit 0
fi

command -v apt-get >/dev/null && command -v apt-cache >/dev/null && command -v dpkg-deb >/dev/null ||
    { log "needs apt-get, apt-cache and dpkg-deb (a Debian/Ubuntu machine)"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        log "need root for: $*"
        exit 1
    fi
}

updated=0
apt_update_once() {
    if [ "$updated" -eq 0 ]; then
        log "running apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        updated=1
    fi
}

# Newest package whose name matches the extended regex $1 (the whole name), by version sort.
# Only real kernel images match (meta packages such as linux-image-cloud-amd64, -dbg and
# -unsigned variants do not).
newest() {
    apt-cache search --names-only "$1" 2>/dev/null | awk '{print $1}' | grep -E "$1" |
        sort -V | tail -n 1
}
find_pkg() { # regex, what
    local p
    p="$(newest "$1")"
    if [ -z "$p" ]; then
        apt_update_once
        p="$(newest "$1")"
    fi
    [ -n "$p" ] || { log "no package matches $1 ($2)"; exit 1; }
    echo "$p"
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# apt-get download into $tmp, retrying once after an update (stale lists give 404s).
download() { # package
    if ! (cd "$tmp" && apt-get download -q "$1" >&2 2>/dev/null); then
        apt_update_once
        (cd "$tmp" && apt-get download -q "$1" >&2)
    fi
    ls "$tmp"/"$1"_*.deb
}

fetch_kernel() { # short name, package regex
    local short=$1 regex=$2 pkg deb ver
    if [ -s "$cache/vmlinuz-$short" ]; then
        return
    fi
    pkg="$(find_pkg "$regex" "Linux $short")"
    ver="${pkg#linux-image-}"
    if [ ! -s "$cache/vmlinuz-$ver" ]; then
        log "downloading $pkg"
        deb="$(download "$pkg")"
        rm -rf "$tmp/x"
        dpkg-deb -x "$deb" "$tmp/x"
        [ -s "$tmp/x/boot/vmlinuz-$ver" ] || { log "$pkg has no boot/vmlinuz-$ver"; exit 1; }
        cp "$tmp/x/boot/vmlinuz-$ver" "$cache/vmlinuz-$ver.part"
        chmod 0644 "$cache/vmlinuz-$ver.part"
        mv "$cache/vmlinuz-$ver.part" "$cache/vmlinuz-$ver"
        rm -rf "$tmp/x" "$deb"
    fi
    ln -sfn "vmlinuz-$ver" "$cache/vmlinuz-$short"
}

fetch_kernel 6.1 '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$'
fetch_kernel 6.12 '^linux-image-6\.12\.[0-9]+(\+[a-z0-9.]+)?-cloud-amd64$'

if [ ! -x "$cache/busybox" ]; then
    log "downloading busybox-static"
    deb="$(download busybox-static)"
    rm -rf "$tmp/x"
    dpkg-deb -x "$deb" "$tmp/x"
    [ -x "$tmp/x/bin/busybox" ] || { log "busybox-static has no bin/busybox"; exit 1; }
    cp "$tmp/x/bin/busybox" "$cache/busybox.part"
    chmod 0755 "$cache/busybox.part"
    mv "$cache/busybox.part" "$cache/busybox"
fi

# The vmlinux of the cached 6.12 kernel, named after its version like the bzImage.
target="$(readlink "$cache/vmlinuz-6.12" || echo vmlinuz-6.12)"
vmlinux="vmlinux-${target#vmlinuz-}"
if [ ! -s "$cache/$vmlinux" ]; then
    log "unpacking $vmlinux from $target"
    "$root/sh_script/extract-vmlinux.sh" "$cache/$target" "$cache/$vmlinux.part" >/dev/null
    mv "$cache/$vmlinux.part" "$cache/$vmlinux"
fi
[ "$vmlinux" = vmlinux-6.12 ] || ln -sfn "$vmlinux" "$cache/vmlinux-6.12"

report
