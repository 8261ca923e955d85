// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Runtime for executable payloads started by td-shim.
#![no_std]
