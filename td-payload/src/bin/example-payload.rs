// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The example executable payload: prints where it was loaded and how much RAM the payload
//! HOB describes, then ends the VM through QEMU's `isa-debug-exit` device with code 0x10
//! (QEMU exit status 33), or 0x11 (status 35) if the HOB is malformed. The boot tests grep
//! its output lines, so they are part of its interface.
//!
//! On the host this is an empty program, so `cargo build --workspace` and `cargo test` work.
#![cfg_attr(target_os = "none", no_std, no_main)]

/// Exit code after a successful run.
#[cfg(target_os = "none")]
const EXIT_OK: u8 = 0x10;
/// Exit code when the payload HOB was refused.
#[cfg(target_os = "none")]
const EXIT_BAD_HOB: u8 = 0x11;

#[cfg(target_os = "none")]
td_payload::entry!(payload_main);

#[cfg(target_os = "none")]
fn payload_main(info: &td_payload::BootInfo) -> ! {
    use td_payload::println;

    println!("td-payload: hello from the example payload");
    println!(
        "td-payload: hob at {:#x}, base {:#x}",
        info.hob_addr(),
        info.load_base()
    );
    match info.hob() {
        Ok(hob) => {
            let ram = td_payload::ram_summary(&hob);
            println!(
                "td-payload: ram {} MiB ({:#x} bytes) in {} ranges, highest end {:#x}",
                ram.total_size >> 20,
                ram.total_size,
                ram.ranges,
                ram.highest_end
            );
            let unaccepted = td_payload::unaccepted_summary(&hob);
            if unaccepted.ranges != 0 {
                println!(
                    "td-payload: unaccepted {} MiB ({:#x} bytes) in {} ranges",
                    unaccepted.total_size >> 20,
                    unaccepted.total_size,
                    unaccepted.ranges
                );
            }
            print_event_log(&hob);
            td_payload::exit(EXIT_OK)
        }
        Err(e) => {
            println!("td-payload: bad hob: {e}");
            td_payload::exit(EXIT_BAD_HOB)
        }
    }
}

/// Finds the firmware's event log (CCEL in the HOB), replays it and prints the registers it
/// gives, one `td-payload: event log RTMR<i> = <hex>` line each (the tests compare them with
/// the registers the emulated TDX module printed).
#[cfg(target_os = "none")]
fn print_event_log(hob: &td_shim::format::hob::HobList<'_>) {
    use td_payload::{event_log, println};
    let (lasa, laml) = match event_log::log_area(hob) {
        Ok(a) => a,
        Err(e) => {
            println!("td-payload: event log: {e}");
            return;
        }
    };
    // SAFETY: the area comes from the firmware's CCEL table: ACPI NVS it reserved, identity
    // mapped like all RAM, written by nobody after the hand-off.
    let log = unsafe { event_log::log_bytes(lasa, laml) };
    match event_log::replay(log) {
        Ok((n, rtmrs)) => {
            println!("td-payload: event log at {lasa:#x}: {n} events");
            for (i, r) in rtmrs.iter().enumerate() {
                let mut hex = [0u8; 96];
                for (k, b) in r.iter().enumerate() {
                    const DIGITS: &[u8; 16] = b"0123456789abcdef";
                    hex[2 * k] = DIGITS[usize::from(b >> 4)];
                    hex[2 * k + 1] = DIGITS[usize::from(b & 15)];
                }
                println!(
                    "td-payload: event log RTMR{i} = {}",
                    core::str::from_utf8(&hex).unwrap_or("?")
                );
            }
        }
        Err(e) => println!("td-payload: event log: {e}"),
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
