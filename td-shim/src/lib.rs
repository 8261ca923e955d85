// SPDX-License-Identifier: BSD-2-Clause-Patent
//! td-shim: a tiny measured-boot firmware for Intel TDX Trust Domains and ordinary VMs.
//!
//! This library holds everything that is shared or pure — the wire formats (`format`), the
//! payload loaders (`loader`), the image layout (`layout`), the memory map and page-table
//! builder (`mem`) — and the firmware's own modules (`arch`, `platform`, `boot`, `logger`).
//! It builds on the host for unit tests and for the tools; the firmware binary
//! (`src/main.rs`, target `x86_64-unknown-none`) calls [`boot::run`].
//!
//! Dependencies point down: `boot` → `mem`/`loader` → `format`. `format`, `loader` and
//! `mem::map`/`mem::paging` are pure (no `arch`, no `platform`) and fuzzable.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

#[cfg(target_arch = "x86_64")]
pub mod arch;
#[cfg(target_arch = "x86_64")]
pub mod boot;
#[cfg(target_arch = "x86_64")]
pub mod error;
pub mod format;
pub mod layout;
pub mod loader;
#[cfg(target_arch = "x86_64")]
pub mod logger;
pub mod measure;
pub mod mem;
#[cfg(target_arch = "x86_64")]
pub mod platform;
pub mod secure_boot;
