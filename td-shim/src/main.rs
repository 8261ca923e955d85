// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The firmware binary: the entry symbol the reset vector calls, the heap, and the panic
//! handler. Everything else is in the library (`td_shim::boot::run`).
//!
//! Entry contract (`reset-vector/main.asm` documents the same): System V call of `_start`
//! in 64-bit mode, paging on with the reset vector's identity map of [0, 4 GiB), interrupts
//! off, CS = 0x10, DS = ES = SS = 0x18, RSP = TEMP_STACK_TOP − 8, and
//!   RDI = entry mode (0 real-mode reset = legacy VM, 1 protected-mode reset = TD)
//!   RSI = BIST (legacy), RDX = vCPU index (TD), RCX = VMM parameter (TD, untrusted),
//!   R8  = EBX at reset (TD: GPAW in bits 5:0), R9 = 1 (bootstrap processor).
//! The shim runs from RAM at SHIM_RUN_BASE, where the reset vector copied the image the
//! linker relocated for that address.
//!
//! Off target (`target_os != "none"`) this is an empty program so that a host
//! `cargo build --workspace` works.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("td-shim is firmware: build it with `cargo image`");
}

#[cfg(target_os = "none")]
mod firmware {
    use core::fmt::Write;
    use linked_list_allocator::LockedHeap;
    use td_shim::boot::{self, EntryArgs};
    use td_shim::layout::{TEMP_HEAP_BASE, TEMP_HEAP_SIZE};

    #[global_allocator]
    static HEAP: LockedHeap = LockedHeap::empty();

    /// Called by the reset vector (see the module docs for the register contract).
    #[no_mangle]
    pub extern "sysv64" fn _start(
        mode: u64,
        bist: u64,
        vcpu_index: u64,
        vmm_param: u64,
        gpaw_word: u64,
        _bsp: u64,
    ) -> ! {
        // SAFETY: the temporary heap region is fixed early RAM (a TempMem section in a TD)
        // that nothing else uses, and this runs once, before any allocation.
        unsafe {
            HEAP.lock()
                .init(TEMP_HEAP_BASE as *mut u8, TEMP_HEAP_SIZE as usize)
        };
        boot::run(EntryArgs {
            mode,
            bist,
            vcpu_index,
            vmm_param,
            gpaw_word,
        })
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        let _ = writeln!(td_shim::logger::Console, "td-shim: ERROR panic: {info}");
        boot::halt_after_panic()
    }
}
