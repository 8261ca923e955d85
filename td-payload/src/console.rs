// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Console output on the COM1 UART (I/O port 0x3F8), with `print!`/`println!` macros. The
//! firmware has already programmed the UART, so this only transmits. Output is trusted (it is
//! ours); nothing is read back except the line-status register.
//!
//! TODO(#4): in a TD, port I/O raises #VE (and the firmware's hand-off IDT halts); write
//! through TDG.VP.VMCALL<Instruction.IO> there instead, chosen at run time.

use core::fmt;
use x86_64::instructions::port::Port;

/// I/O base of COM1.
pub const COM1_PORT: u16 = 0x3F8;
/// Line-status register offset; bit 5 = transmit holding register empty.
const LSR_OFFSET: u16 = 5;
const LSR_THR_EMPTY: u8 = 1 << 5;
/// Polls of the line-status register before sending anyway: a missing UART reads as 0xFF (so
/// never stalls), a wedged one must not hang the payload.
const TX_SPIN_LIMIT: u32 = 100_000;

/// The serial console. It holds no state (only port numbers), so any number of them may
/// exist; output from one CPU is not interleaved because payloads start single-threaded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Console;

impl Console {
    /// Sends `bytes` unchanged (no `\n` → `\r\n` translation, so logs grep cleanly).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        let mut data = Port::<u8>::new(COM1_PORT);
        let mut lsr = Port::<u8>::new(COM1_PORT + LSR_OFFSET);
        for &b in bytes {
            for _ in 0..TX_SPIN_LIMIT {
                // SAFETY: reading the COM1 line-status register has no side effect on memory.
                if unsafe { lsr.read() } & LSR_THR_EMPTY != 0 {
                    break;
                }
                core::hint::spin_loop();
            }
            // SAFETY: writing the COM1 transmit register only emits a byte.
            unsafe { data.write(b) };
        }
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Used by [`print!`](crate::print) and [`println!`](crate::println).
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    // The console itself never fails; an error can only come from a user `Display` impl,
    // and there is nowhere better to report it.
    let _ = fmt::Write::write_fmt(&mut Console, args);
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

/// Prints to the serial console, with a trailing `\n`.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
