// SPDX-License-Identifier: GPL-2.0

//! KUnit suites, built into the test variant of compsc_vf.ko (`COMPSC_KUNIT=1`). They run when
//! the module is loaded; the xtask parses the KTAP they print.

mod core;
mod fmt;
mod ids;
