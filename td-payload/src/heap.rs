// SPDX-License-Identifier: BSD-2-Clause-Patent
//! The default global allocator (cargo feature `global-allocator`, bare metal only): a
//! linked-list heap over a static [`HEAP_SIZE`]-byte array in BSS (the firmware zeroes BSS).
//! It exists because the `td-shim` library links `alloc`; payloads that need more memory turn
//! the feature off and carve a heap out of the RAM the HOB describes.

/// Bytes of the static heap.
pub const HEAP_SIZE: usize = 128 * 1024;

#[cfg(all(target_os = "none", feature = "global-allocator"))]
mod imp {
    use super::HEAP_SIZE;
    use core::alloc::{GlobalAlloc, Layout};
    use core::ptr::{self, NonNull};
    use linked_list_allocator::Heap;
    use spin::Mutex;

    struct Allocator(Mutex<Heap>);

    // SAFETY: every block handed out comes from `Heap::allocate_first_fit` for that layout and
    // is given back to the same heap; the mutex serialises access.
    unsafe impl GlobalAlloc for Allocator {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.0
                .lock()
                .allocate_first_fit(layout)
                .map_or(ptr::null_mut(), NonNull::as_ptr)
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if let Some(ptr) = NonNull::new(ptr) {
                // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc` with this layout.
                unsafe { self.0.lock().deallocate(ptr, layout) };
            }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Allocator = Allocator(Mutex::new(Heap::empty()));

    static mut HEAP: [u8; HEAP_SIZE] = [0; HEAP_SIZE];

    /// # Safety
    ///
    /// Call once, before the first allocation.
    pub unsafe fn init() {
        let start = (&raw mut HEAP).cast::<u8>();
        // SAFETY: HEAP is used by nothing but the allocator, and this runs once (caller's
        // contract), so the allocator gets exclusive use of the whole array.
        unsafe { ALLOCATOR.0.lock().init(start, HEAP_SIZE) };
    }
}

/// Gives the static heap to the global allocator (a no-op when the feature is off or on the
/// host).
///
/// # Safety
///
/// Call once, before the first allocation; [`crate::entry!`] does this.
pub unsafe fn init() {
    #[cfg(all(target_os = "none", feature = "global-allocator"))]
    // SAFETY: forwarded from this function's contract.
    unsafe {
        imp::init()
    };
}
