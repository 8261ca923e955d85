// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The firmware binary. Off target (`target_os != "none"`) it is an empty program so that a
//! host `cargo build --workspace` works.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("td-shim is firmware: build it with `cargo image`");
}
