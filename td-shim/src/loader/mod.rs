// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Payload loaders: parse an untrusted payload and place it into memory given as a slice.
//! Pure: no `arch`, no `platform`.

pub mod bzimage;
pub mod elf;
pub mod vmlinux;
