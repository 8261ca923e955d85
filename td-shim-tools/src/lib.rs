// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Library behind the td-shim host tools. The binaries in `src/bin` are thin clap front ends.
