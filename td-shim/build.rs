// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Link arguments only: the firmware binary (target `x86_64-unknown-none`) is linked with
//! `firmware.ld`, whose page-aligned segments and boundary symbols the firmware's memory
//! protection uses (`src/boot/protect.rs`). Host builds of the same bin (a stub) and the
//! library get nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=firmware.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-T{dir}/firmware.ld");
    }
}
