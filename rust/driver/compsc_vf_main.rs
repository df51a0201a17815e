// SPDX-License-Identifier: GPL-2.0

//! compsc_vf: a Rust driver for Intel 82599/X540/X550/E610 SR-IOV virtual functions that keeps
//! the VF migratable (CompSC self-emulation).
//!
//! The crate root only declares modules and the module itself; `driver.rs` holds the PCI driver.

mod compat;
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

use kernel::prelude::*;

/// The module: the PCI driver's registration and the debugfs directory its devices' files
/// live in (`/sys/kernel/debug/compsc_vf/<PCI address>/`).
#[pin_data]
struct CompscVfModule {
    // Dropped first: no probe or unbind runs once the driver is unregistered.
    #[pin]
    _driver: kernel::driver::Registration<kernel::pci::Adapter<driver::CompscVf>>,
    _debugfs: driver::DebugfsRoot,
}

impl kernel::InPlaceModule for CompscVfModule {
    fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        let root = driver::DebugfsRoot::create(c"compsc_vf");
        try_pin_init!(Self {
            _driver <- kernel::driver::Registration::new(
                <LocalModule as kernel::ModuleMetadata>::NAME,
                module,
            ),
            _debugfs: root,
        })
    }
}

module! {
    type: CompscVfModule,
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

/// The kernel series the driver is built and tested on, shown by `modinfo` (the Makefile
/// refuses older ones; newer ones may change the Rust API it uses).
#[cfg(MODULE)]
#[link_section = ".modinfo"]
#[used(compiler)]
static MODINFO_KERNELS: [u8; 28] = *b"kernels=7.2 to 7.3 (tested)\0";
