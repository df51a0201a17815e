// SPDX-License-Identifier: GPL-2.0

//! compsc_vf: a Rust driver for Intel 82599/X540/X550/E610 SR-IOV virtual functions that keeps
//! the VF migratable (CompSC self-emulation).
//!
//! The crate root only declares modules and the module itself; `driver.rs` holds the PCI driver.

pub mod compsc_core;
mod driver;
mod fmt;
mod hw;
mod init;
mod net;
mod rings;
mod shim;

#[cfg(compsc_kunit)]
#[path = "../../tests-kunit/mod.rs"]
mod kunit;

kernel::module_pci_driver! {
    type: driver::CompscVf,
    name: "compsc_vf",
    authors: ["The compsc_vf developers"],
    description: "Intel 82599/X540/X550/E610 virtual function driver with CompSC live-migration support",
    license: "GPL v2",
}

/// The driver's version, shown by `modinfo` (the module macro has no `version` field).
#[cfg(MODULE)]
#[link_section = ".modinfo"]
#[used(compiler)]
static MODINFO_VERSION: [u8; 14] = *b"version=0.1.0\0";
