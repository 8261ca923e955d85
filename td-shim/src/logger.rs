// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The single `log::Log` sink: lines `td-shim: LEVEL message` on COM1 (I/O port 0x3F8),
//! written through the platform (native OUT in a legacy VM, TDVMCALL<IO> in a TD). The
//! compile-time ceiling comes from `log`'s `max_level_*` features (xtask `--log-level`).

use crate::platform::{IoWidth, Platform};
use core::fmt::{self, Write};

const COM1: u16 = 0x3F8;
/// Line status register bit 5: transmit holding register empty.
const LSR_THRE: u32 = 1 << 5;
/// How long to wait for the UART before writing anyway.
const THRE_SPINS: u32 = 100_000;

struct Logger;

static LOGGER: Logger = Logger;
static CONSOLE: spin::Once<&'static dyn Platform> = spin::Once::new();
static LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Programs COM1 (115200 8N1, FIFO on, interrupts off) and installs the logger.
pub fn init(platform: &'static dyn Platform) {
    CONSOLE.call_once(|| platform);
    // SAFETY: COM1 is the 16550 UART of every VMM we target; these writes only configure it.
    unsafe {
        platform.io_write(COM1 + 1, IoWidth::Byte, 0x00); // IER: no interrupts
        platform.io_write(COM1 + 3, IoWidth::Byte, 0x80); // LCR: DLAB on
        platform.io_write(COM1, IoWidth::Byte, 0x01); // divisor 1 = 115200 baud
        platform.io_write(COM1 + 1, IoWidth::Byte, 0x00);
        platform.io_write(COM1 + 3, IoWidth::Byte, 0x03); // LCR: 8N1, DLAB off
        platform.io_write(COM1 + 2, IoWidth::Byte, 0x07); // FCR: FIFO on, cleared
    }
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
}

/// Writes raw bytes to the console (no prefix). Usable from exception handlers: it does not
/// wait for a lock a crashed context might hold.
pub fn write_bytes(bytes: &[u8]) {
    let Some(p) = CONSOLE.get() else { return };
    for &b in bytes {
        let mut spins = 0;
        // SAFETY: reading the UART line status register has no side effect.
        while unsafe { p.io_read(COM1 + 5, IoWidth::Byte) } & LSR_THRE == 0 && spins < THRE_SPINS {
            core::hint::spin_loop();
            spins += 1;
        }
        // SAFETY: writing the UART data register sends one byte.
        unsafe { p.io_write(COM1, IoWidth::Byte, u32::from(b)) };
    }
}

/// A `fmt::Write` over the console, turning `\n` into `\r\n`.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, part) in s.split('\n').enumerate() {
            if i > 0 {
                write_bytes(b"\r\n");
            }
            write_bytes(part.as_bytes());
        }
        Ok(())
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // Keep lines whole when several CPUs log; never block for long (a crashed holder).
        let guard = LOCK.try_lock();
        let _ = writeln!(Console, "td-shim: {:<5} {}", record.level(), record.args());
        drop(guard);
    }

    fn flush(&self) {}
}
