// SPDX-License-Identifier: BSD-2-Clause-Patent
//! td-shim: a tiny measured-boot firmware for Intel TDX Trust Domains and ordinary VMs.
//!
//! This library holds everything that is shared or pure: the wire formats (`format`), the
//! payload loaders (`loader`), the image layout (`layout`), and the firmware's own modules.
//! It builds on the host for unit tests and for the tools; the firmware binary
//! (`src/main.rs`, target `x86_64-unknown-none`) calls [`boot::run`].
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod format;
pub mod layout;
pub mod loader;
