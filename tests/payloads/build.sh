#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause-Patent
#
# Builds the NASM test payloads into the directory given as $1
# (default: target/payloads, relative to the current directory):
#   asm-payload-pie   static PIE linked at 0 (ET_DYN, >= 1 R_X86_64_RELATIVE relocation)
#   asm-payload-exec  ET_EXEC linked at 0x4000000 (64 MiB)
#   fault-payload-pie static PIE that executes UD2 (fault-payload.asm)
#   protect-<case>    static PIEs that each break one memory-protection rule
#                     (protect-payload.asm assembled with -DCASE=1..6)
# and checks them with readelf. Needs nasm, GNU ld and readelf (binutils).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-target/payloads}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

EXEC_BASE=0x4000000

for tool in nasm ld readelf; do
    command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (run sh_script/preparation.sh)" >&2; exit 1; }
done

obj="$out/asm-payload.o"
nasm -f elf64 -Werror -o "$obj" "$here/asm-payload.asm"

# Common: no libc, no build-id note, 4 KiB segment alignment (keeps the files small),
# no executable stack.
common=(-nostdlib -e _start --build-id=none -z max-page-size=0x1000 -z noexecstack)

# Static PIE: no interpreter; no RELRO so .data stays a plain RW segment.
ld "${common[@]}" -pie --no-dynamic-linker -z norelro --hash-style=gnu \
    -o "$out/asm-payload-pie" "$obj"
# ET_EXEC at a fixed address in free RAM.
ld "${common[@]}" -static -Ttext-segment="$EXEC_BASE" -o "$out/asm-payload-exec" "$obj"

fail() { echo "build.sh: $*" >&2; exit 1; }

pie="$out/asm-payload-pie"
readelf -h "$pie" | grep -q 'Type:[[:space:]]*DYN' || fail "$pie is not ET_DYN"
readelf -l "$pie" | grep -q INTERP && fail "$pie has a PT_INTERP"
relocs="$(readelf -rW "$pie" | awk '/^[0-9a-f]+ /{print $3}')"
[ -n "$relocs" ] || fail "$pie has no dynamic relocations (the test needs RELATIVE ones)"
others="$(grep -v '^R_X86_64_RELATIVE$' <<<"$relocs" || true)"
[ -z "$others" ] || fail "$pie has relocations other than R_X86_64_RELATIVE: $others"
echo "$pie: ET_DYN, $(wc -l <<<"$relocs") R_X86_64_RELATIVE relocations"

exe="$out/asm-payload-exec"
readelf -h "$exe" | grep -q 'Type:[[:space:]]*EXEC' || fail "$exe is not ET_EXEC"
first_vaddr="$(readelf -lW "$exe" | awk '$1=="LOAD"{print $3; exit}')"
[ $((first_vaddr)) -eq $((EXEC_BASE)) ] || fail "$exe: first PT_LOAD at $first_vaddr, want $EXEC_BASE"
echo "$exe: ET_EXEC, first PT_LOAD at $first_vaddr"
rm -f "$obj"

# A payload that executes UD2 at _start + 2 (exception-handler test).
fobj="$out/fault-payload.o"
nasm -f elf64 -Werror -o "$fobj" "$here/fault-payload.asm"
ld "${common[@]}" -pie --no-dynamic-linker -z norelro --hash-style=gnu -o "$out/fault-payload-pie" "$fobj"
readelf -h "$out/fault-payload-pie" | grep -q 'Type:[[:space:]]*DYN' || fail "fault-payload-pie is not ET_DYN"
echo "$out/fault-payload-pie: ET_DYN"
rm -f "$fobj"

# Payloads that break one memory-protection rule each (protect-payload.asm, tests/protect.rs).
for case in 1:write-code 2:exec-stack 3:stack-overflow 4:write-firmware 5:exec-heap 6:null-read; do
    n="${case%%:*}"
    name="protect-${case#*:}"
    pobj="$out/$name.o"
    nasm -f elf64 -Werror -DCASE="$n" -o "$pobj" "$here/protect-payload.asm"
    ld "${common[@]}" -pie --no-dynamic-linker -z norelro --hash-style=gnu -o "$out/$name" "$pobj"
    readelf -h "$out/$name" | grep -q 'Type:[[:space:]]*DYN' || fail "$name is not ET_DYN"
    # Code and stack rights must come from the program headers: text R E, no RWX segment.
    readelf -lW "$out/$name" | awk '$1=="LOAD"' | grep -q 'R E' || fail "$name has no R E segment"
    readelf -lW "$out/$name" | awk '$1=="LOAD"' | grep -q 'RWE' && fail "$name has an RWE segment"
    rm -f "$pobj"
done
echo "$out/protect-*: ET_DYN, 6 cases"
