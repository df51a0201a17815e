// SPDX-License-Identifier: GPL-2.0

//! BAR0 access for the core: the only code that touches the VF's registers.
//!
//! The core's self-emulation layer ([`Emul`]) reaches the device through [`RegisterIo`]; this
//! is that trait over the mapped BAR. Offsets come from the core's register table, but they are
//! still checked at run time (`try_read32`): a table row outside the 16 KiB BAR must not become
//! a wild MMIO access.

use crate::compsc_core::emul::{EmulError, RegisterIo};
use kernel::{io::Io, pci};

/// BAR0 of every supported VF is 16 KiB (82599 datasheet 9.3.1; ixgbevf maps it whole).
pub(crate) const BAR0_SIZE: usize = 0x4000;

/// The mapped BAR0.
pub(crate) type Bar0<'bound> = pci::Bar<'bound, BAR0_SIZE>;

/// What a read returns when the offset is outside the BAR: all ones, as a removed PCI device
/// reads, which the core already treats as "device gone".
const ABSENT: u32 = u32::MAX;

/// [`RegisterIo`] over BAR0.
#[derive(Clone, Copy)]
pub(crate) struct BarIo<'a, 'bound>(pub(crate) &'a Bar0<'bound>);

impl RegisterIo for BarIo<'_, '_> {
    fn read32(&self, offset: u32) -> u32 {
        // CAST: u32 to usize widens on every supported (64-bit) target.
        self.0.try_read32(offset as usize).unwrap_or(ABSENT)
    }

    fn write32(&self, offset: u32, value: u32) {
        // An out-of-range write is dropped: the BAR check refuses it before any MMIO.
        // CAST: as above.
        let _ = self.0.try_write32(value, offset as usize);
    }
}

impl From<EmulError> for kernel::error::Error {
    fn from(e: EmulError) -> Self {
        match e {
            // A read-clear register read all ones: the device is gone.
            EmulError::AllOnes { .. } => kernel::error::code::ENODEV,
            _ => kernel::error::code::EIO,
        }
    }
}
