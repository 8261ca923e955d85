#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause-Patent
#
# Runs the example payload and the NASM test payloads under devtools/payload-run (a Linux
# process that stands in for the firmware: it loads the ELF, applies RELATIVE relocations,
# builds a payload HOB and emulates COM1 / isa-debug-exit), and checks their output lines and
# exit statuses. A quick check of the payload side of the entry contract without a firmware
# image or QEMU. Usage: devtools/payload-smoke.sh [OUT_DIR]   (default target/payload-smoke)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/target/payload-smoke}"
mkdir -p "$out"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

cc -O2 -Wall -Wextra -o "$out/payload-run" "$root/devtools/payload-run.c"
"$root/tests/payloads/build.sh" "$out" >/dev/null
(cd "$root" && cargo build -q -p td-payload --bin example-payload --target x86_64-unknown-none --release)
example="$CARGO_TARGET_DIR/x86_64-unknown-none/release/example-payload"

failures=0
# expect NAME WANT_STATUS WANT_REGEX -- payload-run ARGS...
expect() {
    local name="$1" want_status="$2" want="$3"
    shift 4
    local log="$out/$name.log" status=0
    timeout 10 "$out/payload-run" "$@" >"$log" 2>"$log.err" || status=$?
    if [ "$status" -eq "$want_status" ] && grep -Eq "$want" "$log"; then
        echo "ok    $name"
    else
        echo "FAIL  $name: status $status (want $want_status), output:"
        sed 's/^/      /' "$log" "$log.err"
        failures=$((failures + 1))
    fi
}

for kind in pie exec; do
    elf="$out/asm-payload-$kind"
    expect "asm-$kind" 65 '^asm-payload: ok rdi=rcx=0x[0-9a-f]+$' -- "$elf"
    expect "asm-$kind-rcx" 67 '^asm-payload: FAIL rcx != rdi$' -- --rcx-differs "$elf"
    expect "asm-$kind-phit" 67 '^asm-payload: FAIL phit length != 56$' -- --bad-phit "$elf"
done

# payload-run's HOB with --ram-mib N: RAM [0, min(N, 2 GiB)) plus the rest from 4 GiB.
expect example-4g 33 '^td-payload: ram 4096 MiB \(0x100000000 bytes\) in 2 ranges, highest end 0x180000000$' \
    -- --ram-mib 4096 "$example"
expect example-hello 33 '^td-payload: hello from the example payload$' -- "$example"
expect example-addrs 33 '^td-payload: hob at 0x[0-9a-f]+, base 0x[0-9a-f]+$' -- "$example"
expect example-1g 33 '^td-payload: ram 1024 MiB \(0x40000000 bytes\) in 1 ranges, highest end 0x40000000$' \
    -- --ram-mib 1024 "$example"
expect example-bad-hob 35 '^td-payload: bad hob: ' -- --bad-hob "$example"
expect example-bad-phit 35 '^td-payload: bad hob: first hob is type 0x1 length 48' -- --bad-phit "$example"

if [ "$failures" -ne 0 ]; then
    echo "payload-smoke: $failures failure(s)"
    exit 1
fi
echo "payload-smoke: all passed"
