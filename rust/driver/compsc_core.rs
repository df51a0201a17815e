// SPDX-License-Identifier: GPL-2.0

//! The CompSC core (`rust/core`), mounted file by file into the module.
//!
//! The same source is a cargo crate for host tests; here each file is a module of the driver
//! crate, which is why the core's files name each other `super::x` and use `core` only.

#[path = "../core/src/regs.rs"]
pub mod regs;

#[path = "../core/src/mac.rs"]
pub mod mac;

#[path = "../core/src/counters.rs"]
pub mod counters;

#[path = "../core/src/emul.rs"]
pub mod emul;

#[path = "../core/src/mbx.rs"]
pub mod mbx;

#[path = "../core/src/mbx_vf.rs"]
pub mod mbx_vf;
