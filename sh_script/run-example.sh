#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause-Patent
# Builds the image with the example payload and boots it in QEMU (TCG; set
# TD_SHIM_ACCEL=kvm to use KVM where it works). The serial console streams to stdout; the
# example payload ends the VM through isa-debug-exit, which QEMU reports as status 33.
set -euo pipefail
cd "$(dirname "$0")/.."
bash sh_script/preparation.sh
image=$(cargo image --example-payload --release)
echo "booting $image"
set +e
cargo xtask qemu --image "$image" -m 512M --timeout 60
status=$?
set -e
if [ "$status" -eq 33 ]; then
    echo "example payload finished (qemu status 33 = isa-debug-exit code 0x10)"
    exit 0
fi
echo "unexpected qemu status $status" >&2
exit 1
