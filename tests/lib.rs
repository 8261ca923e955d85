//! QEMU boot-test helpers.
