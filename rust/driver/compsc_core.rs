// SPDX-License-Identifier: GPL-2.0

//! The CompSC core (`rust/core`), mounted file by file into the module.
//!
//! The same source is a cargo crate for host tests; here each file is a module of the driver
//! crate, which is why the core's files name each other `super::x` and use `core` only. The
//! mount is `pub` from the crate root: the module builds with `-Wunreachable_pub`, and the
//! core's public API is meant to be public. Files are listed in dependency order.

#[path = "../core/src/regs.rs"]
pub mod regs;

#[path = "../core/src/mbx.rs"]
pub mod mbx;

#[path = "../core/src/mac.rs"]
pub mod mac;

#[path = "../core/src/emul.rs"]
pub mod emul;

#[path = "../core/src/desc.rs"]
pub mod desc;

#[path = "../core/src/faults.rs"]
pub mod faults;

#[path = "../core/src/diag.rs"]
pub mod diag;

#[path = "../core/src/doorbell.rs"]
pub mod doorbell;

#[path = "../core/src/counters.rs"]
pub mod counters;

#[path = "../core/src/report.rs"]
pub mod report;

#[path = "../core/src/mbx_vf.rs"]
pub mod mbx_vf;

#[path = "../core/src/pf.rs"]
pub mod pf;

#[path = "../core/src/record.rs"]
pub mod record;

#[path = "../core/src/plan.rs"]
pub mod plan;

#[path = "../core/src/xdp.rs"]
pub mod xdp;

/// The core's allocation-free logic checks, only in the KUnit variant of the module.
#[cfg(compsc_kunit)]
#[path = "../core/src/selftest.rs"]
pub mod selftest;
