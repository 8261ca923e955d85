// SPDX-License-Identifier: BSD-2-Clause-Patent
//! Runtime for executable payloads started by td-shim: entry glue, the payload HOB, a serial
//! console, `exit` and a panic handler. The HOB handed over by the firmware is parsed with
//! [`td_shim::format::hob`] (`../shared/spec/hob.md` §4) and treated as untrusted input: a
//! malformed list becomes an [`boot::Error`], never a panic.
//!
//! # Writing a payload
//!
//! ```no_run
//! #![cfg_attr(target_os = "none", no_std, no_main)]
//!
//! #[cfg(target_os = "none")]
//! td_payload::entry!(main);
//!
//! #[cfg(target_os = "none")]
//! fn main(info: &td_payload::BootInfo) -> ! {
//!     td_payload::println!("hello, hob at {:#x}", info.hob_addr());
//!     td_payload::exit(0x10)
//! }
//!
//! #[cfg(not(target_os = "none"))]
//! fn main() {}
//! ```
//!
//! Build it with `cargo build --target x86_64-unknown-none --release`. That target links a
//! static PIE at address 0 whose only dynamic relocations are `R_X86_64_RELATIVE`, which is
//! what the firmware's loader applies (`hob.md` §5).
//!
//! # Entry contract (guaranteed by the firmware)
//!
//! - 64-bit long mode, paging on, identity mapping of [0, 4 GiB) and of all RAM; interrupts
//!   disabled; CS = 0x10 (64-bit code), DS = ES = SS = 0x18. The firmware's IDT stays
//!   installed: it logs exceptions and halts. A payload that wants its own GDT/IDT installs
//!   them itself.
//! - The entry point is the ELF `e_entry`, called with the System V ABI: RDI = RCX = GPA of
//!   the payload HOB (PHIT, CPU, resource descriptors for all RAM including above 4 GiB, an
//!   E820 GUID HOB, …, End; `hob.md` §4), RSI = load base of the payload.
//! - RSP = top of a payload stack of at least 64 KiB with a guard page below it, aligned as
//!   right after a `call` (RSP + 8 is 16-byte aligned). The return-address slot holds 0: the
//!   entry must never return.
//! - The payload is a static PIE (built for `x86_64-unknown-none`, or linked with
//!   `ld -pie`), or an `ET_EXEC` whose segments lie in free RAM. The firmware applies
//!   `R_X86_64_RELATIVE` relocations and zeroes BSS.
//!
//! [`entry!`] turns that contract into a call of `fn main(&BootInfo) -> !`.
//!
//! # Features
//!
//! - `panic-handler` (default): a `#[panic_handler]` that prints the message and halts.
//! - `global-allocator` (default): a `#[global_allocator]` over a
//!   [`heap::HEAP_SIZE`]-byte static heap. The `td-shim` library links `alloc`, so every
//!   bare-metal binary needs some allocator.
//!
//! Both are only compiled for `target_os = "none"`, so host builds and tests use std's.
//!
//! # Consoles
//!
//! Output goes to the COM1 UART (port 0x3F8). That works in a legacy VM; in a TD, port I/O
//! raises #VE and the firmware's IDT halts: see the TODO in [`console`].
#![cfg_attr(not(test), no_std)]

pub mod boot;
pub mod console;
pub mod event_log;
pub mod heap;
pub mod memory;
#[cfg(all(target_os = "none", feature = "panic-handler"))]
mod panic;

pub use boot::BootInfo;
pub use memory::{ram_size, ram_summary, unaccepted_summary, RamSummary};

use x86_64::instructions::port::Port;

/// I/O port of QEMU's `isa-debug-exit` device (`-device isa-debug-exit,iobase=0xf4`).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Ends the VM: writes `code` to the `isa-debug-exit` port, whereupon QEMU exits with status
/// `(code << 1) | 1` (0x10 gives 33). Without that device the write is ignored (or, in a TD,
/// the #VE halts), and this falls back to [`halt`].
///
/// The write is one byte wide, which the device accepts whatever its `iosize`.
pub fn exit(code: u8) -> ! {
    let mut port = Port::<u8>::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is QEMU's debug-exit device or nothing; writing it touches no memory
    // this program can observe. Payloads are not expected to put other hardware there.
    unsafe { port.write(code) };
    halt()
}

/// Stops this CPU for good: interrupts off, then `hlt` in a loop (an NMI or SMI would resume
/// after the `hlt`, hence the loop).
pub fn halt() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Defines the payload entry point: a `#[no_mangle] extern "sysv64" fn _start(hob_addr,
/// load_base) -> !` that sets up the runtime (heap), parses the HOB into a [`BootInfo`] and
/// calls `$main`, which must be a `fn(&BootInfo) -> !`.
///
/// The entry point is emitted only for `target_os = "none"`; on the host the macro expands to
/// nothing, so a payload binary still builds there (with its own `fn main()`).
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// Payload entry point, called by the firmware (see the `td_payload` crate docs).
        #[cfg(target_os = "none")]
        #[no_mangle]
        pub extern "sysv64" fn _start(hob_addr: u64, load_base: u64) -> ! {
            let main: fn(&$crate::BootInfo) -> ! = $main;
            // SAFETY: `_start` is only ever called by the firmware, per the entry contract in
            // the `td_payload` crate docs: `hob_addr` is the payload HOB in identity-mapped
            // memory that nothing else writes, and this is the first and only call.
            unsafe { $crate::boot::start(hob_addr, load_base, main) }
        }
    };
}
