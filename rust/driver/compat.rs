// SPDX-License-Identifier: GPL-2.0

//! What differs in the kernel's Rust API between the series compsc_vf supports, 7.2 and 7.3,
//! and nothing else: the rest of the driver is written against 7.3 and names these items
//! instead where the two differ. Kbuild sets `--cfg compsc_linux_7_2` on a 7.2 kernel.

/// The id information `pci::Driver::probe` receives: 7.3 passes `None` for a device bound
/// through `driver_override` or `new_id` without a table row; 7.2 always passes a row's.
#[cfg(not(compsc_linux_7_2))]
pub(crate) type ProbeIdInfo<'a, T> = Option<&'a T>;
/// See above.
#[cfg(compsc_linux_7_2)]
pub(crate) type ProbeIdInfo<'a, T> = &'a T;

/// Declares a PCI id table `$name` and its modalias: 7.3's `pci_device_table!` names the
/// modalias table itself, 7.2's takes its name.
#[cfg(not(compsc_linux_7_2))]
macro_rules! pci_table {
    ($name:ident, $($rest:tt)*) => {
        kernel::pci_device_table!($name, $($rest)*);
    };
}
/// See above.
#[cfg(compsc_linux_7_2)]
macro_rules! pci_table {
    ($name:ident, $($rest:tt)*) => {
        kernel::pci_device_table!($name, MODULE_PCI_TABLE, $($rest)*);
    };
}
pub(crate) use pci_table;
