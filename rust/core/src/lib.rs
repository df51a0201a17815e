//! CompSC core: the decisions of compsc_vf, free of I/O.
//!
//! Built twice: by cargo for host tests, and into compsc_vf.ko, where the driver mounts each
//! module file with `#[path]`. Modules therefore refer to each other as `super::name`, use
//! `core` only, never allocate, and never panic on values from the device, the PF or the
//! hypervisor.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod counters;
pub mod emul;
pub mod mac;
pub mod mbx;
pub mod mbx_vf;
pub mod pf;
pub mod plan;
pub mod record;
pub mod regs;
pub mod selftest;
