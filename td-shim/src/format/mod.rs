// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Wire formats shared by the firmware, the payload runtime and the host tools. Each module
//! defines one format once: constants beside their structs, a `parse` for untrusted bytes
//! that never panics, and (where tools need one) a builder. Pure: no `arch`, no `platform`.

pub mod acpi;
pub mod cfv;
pub mod e820;
pub mod efi;
pub mod event_log;
pub mod fv;
pub mod guid;
pub mod hob;
pub mod le;
pub mod metadata;
pub mod signed_payload;
