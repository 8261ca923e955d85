// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The default panic handler (cargo feature `panic-handler`): prints the message on the
//! console, then halts. A panic is a bug in the payload (untrusted input yields `Result`s), so
//! there is nothing to recover.

use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    crate::println!("td-payload: panic: {info}");
    crate::halt()
}
