//! CompSC core: the decisions of compsc_vf, free of I/O.
//!
//! Built twice: by cargo for host tests, and into compsc_vf.ko, where the driver mounts each
//! module file with `#[path]`. Modules therefore refer to each other as `super::name`, use
//! `core` only, never allocate, and never panic on values from the device, the PF or the
//! hypervisor.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The kernel builds with overflow checks on and a panic is a BUG(): outside tests, no
// arithmetic may overflow-panic, no index may be out of bounds, and nothing may panic.
#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::panic_in_result_fn
    )
)]

pub mod counters;
pub mod desc;
pub mod diag;
pub mod doorbell;
pub mod emul;
pub mod faults;
pub mod mac;
pub mod mbx;
pub mod mbx_vf;
pub mod pf;
pub mod plan;
pub mod record;
pub mod regs;
pub mod report;
pub mod selftest;
pub mod xdp;
