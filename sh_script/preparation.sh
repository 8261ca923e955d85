#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause-Patent
#
# Installs what building and boot-testing td-shim needs, and only what is missing:
#   apt (Debian/Ubuntu): nasm, clang, llvm, lld, qemu-system-x86, binutils, python3,
#                        busybox-static, cpio; ovmf, seabios, qemu-system-data (peer
#                        firmware for the boot benchmark)
#   rustup:              the toolchain pinned in rust-toolchain.toml, with the
#                        x86_64-unknown-none target and the rust-src, clippy, rustfmt components
# Safe to run repeatedly: a second run reports that everything is present and changes
# nothing. Uses sudo only when not running as root; runs `apt-get update` only when a
# package has to be installed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { echo "preparation: $*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        log "need root for: $* (and sudo is not installed)" >&2
        exit 1
    fi
}

# ---- apt packages ------------------------------------------------------------------------
# package -> how to tell it is present (a command, or a check function).
has() { command -v "$1" >/dev/null 2>&1; }
has_static_busybox() {
    # The initramfs of the boot tests needs a busybox that runs without a dynamic loader.
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" && return 0
    local bb
    bb="$(command -v busybox 2>/dev/null)" || return 1
    has readelf && ! readelf -l "$bb" 2>/dev/null | grep -q INTERP
}

declare -A present=(
    [nasm]="has nasm"
    [clang]="has clang"
    [llvm]="has llvm-objcopy"
    [lld]="has ld.lld"
    [qemu-system-x86]="has qemu-system-x86_64"
    [binutils]="has ld && has readelf && has objcopy"
    [python3]="has python3"
    [busybox-static]="has_static_busybox"
    [cpio]="has cpio"
    # Peer firmware for `cargo xtask bench-boot` (qboot comes with qemu-system-data).
    [ovmf]="test -f /usr/share/ovmf/OVMF.fd"
    [seabios]="test -f /usr/share/seabios/bios-256k.bin"
    [qemu-system-data]="test -f /usr/share/qemu/qboot.rom"
    # Standard event-log parser for the measured-boot tests (tests/measured.rs).
    [tpm2-tools]="has tpm2_eventlog"
    # Key generation for the secure-boot tests (td-shim-tools tests, cargo xtask boot-test).
    [openssl]="has openssl"
    # Unpacks the vmlinux inside Debian's zstd-compressed 6.12 bzImage (sh_script/extract-vmlinux.sh).
    [zstd]="has zstd"
)
order=(nasm clang llvm lld qemu-system-x86 binutils python3 busybox-static cpio ovmf seabios qemu-system-data tpm2-tools openssl zstd)

missing=()
for pkg in "${order[@]}"; do
    if ! eval "${present[$pkg]}"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    log "system packages: all present (${order[*]})"
else
    has apt-get || { log "missing ${missing[*]}, and apt-get is not available: install them by hand" >&2; exit 1; }
    log "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    for pkg in "${missing[@]}"; do
        eval "${present[$pkg]}" || { log "$pkg installed but its tools are still missing" >&2; exit 1; }
    done
fi

# ---- Rust toolchain ----------------------------------------------------------------------
if ! has rustup; then
    log "rustup not found: install it from https://rustup.rs (or the distribution's rustup package), then rerun" >&2
    exit 1
fi

toolchain="$(sed -n 's/^[[:space:]]*channel[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' rust-toolchain.toml)"
[ -n "$toolchain" ] || { log "no channel in rust-toolchain.toml" >&2; exit 1; }

# rustup reads rust-toolchain.toml in this directory: install the pinned toolchain if absent.
if rustup toolchain list 2>/dev/null | grep -q "^$toolchain[-[:space:]]"; then
    log "rust toolchain $toolchain: present"
else
    log "installing rust toolchain $toolchain"
    rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
    rustup toolchain list | grep -q "^$toolchain[-[:space:]]" || rustup toolchain install "$toolchain" --profile minimal
fi

target=x86_64-unknown-none
if rustup target list --installed --toolchain "$toolchain" | grep -qx "$target"; then
    log "rust target $target: present"
else
    log "installing rust target $target for $toolchain"
    rustup target add --toolchain "$toolchain" "$target"
fi

components=(rust-src clippy rustfmt)
installed_components="$(rustup component list --installed --toolchain "$toolchain")"
missing_components=()
for c in "${components[@]}"; do
    # Installed components are listed with a host-triple suffix, except rust-src.
    grep -Eq "^$c(-|$)" <<<"$installed_components" || missing_components+=("$c")
done
if [ "${#missing_components[@]}" -eq 0 ]; then
    log "rust components: all present (${components[*]})"
else
    log "installing rust components: ${missing_components[*]}"
    rustup component add --toolchain "$toolchain" "${missing_components[@]}"
fi

log "done"
