// SPDX-License-Identifier: GPL-2.0

//! The PCI driver: id table, probe and unbind.

use crate::ids::{self, Board};
use kernel::{device::Core, pci, prelude::*};

/// BAR0 of every supported VF is 16 KiB (82599 datasheet 9.3.1; ixgbevf maps it whole).
pub(crate) const BAR0_SIZE: usize = 0x4000;

type Bar0<'bound> = pci::Bar<'bound, BAR0_SIZE>;

/// Per-device state, valid while the driver is bound.
pub(crate) struct CompscVfData<'bound> {
    pdev: &'bound pci::Device,
    _bar: Bar0<'bound>,
    board: Board,
}

/// The PCI driver type.
pub(crate) struct CompscVf;

/// Expands to the PCI id table from [`ids::IDS`], one row per index, so the ids are written once.
macro_rules! id_table {
    ($($i:literal),* $(,)?) => {
        // Every row of ids::IDS must appear exactly once below.
        const _: () = assert!(ids::IDS.len() == [$($i),*].len());
        kernel::pci_device_table!(
            PCI_TABLE,
            <CompscVf as pci::Driver>::IdInfo,
            [$((
                // CAST: a u16 device id widens losslessly to the table's u32.
                pci::DeviceId::from_id(pci::Vendor::INTEL, ids::IDS[$i].0 as u32),
                ids::IDS[$i].1,
            )),*]
        );
    };
}

id_table!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);

impl pci::Driver for CompscVf {
    type IdInfo = Board;
    type Data<'bound> = CompscVfData<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        let board = ids::board(pdev.device_id(), pdev.subsystem_device_id()).ok_or(ENODEV)?;
        pdev.enable_device_mem()
            .inspect_err(|e| dev_err!(pdev, "cannot enable memory space: {:?}\n", e))?;
        pdev.set_master();
        let bar = pdev
            .iomap_region_sized::<BAR0_SIZE>(0, c"compsc_vf")
            .inspect_err(|e| {
                dev_err!(pdev, "cannot map BAR0 (need {} bytes): {:?}\n", BAR0_SIZE, e)
            })?;
        let start = pdev.resource_start(0).unwrap_or(0);
        dev_info!(
            pdev,
            "{} [8086:{:04x}] BAR0 {:#x} mapped, {} bytes\n",
            board.name,
            pdev.device_id(),
            start,
            BAR0_SIZE
        );
        Ok(CompscVfData { pdev, _bar: bar, board })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        dev_info!(this.pdev, "{} unbound\n", this.board.name);
    }
}
