// SPDX-License-Identifier: GPL-2.0

//! The PCI driver: id table, probe and unbind.

use crate::compsc_core::mac::{self, PciId, PCI_IDS};
use crate::compsc_core::regs::Reg;
use crate::hw::{self, Bar0, BAR0_SIZE};
use crate::fmt::{Api, Mac};
use crate::init;
use kernel::{device::Core, pci, prelude::*};

/// Per-device state, valid while the driver is bound.
pub(crate) struct CompscVfData<'bound> {
    pdev: &'bound pci::Device,
    bar: Bar0<'bound>,
    id: &'static PciId,
}

/// The PCI driver type.
pub(crate) struct CompscVf;

/// Expands to the PCI id table from rows of the core's [`PCI_IDS`], so the ids are written once.
///
/// The Rust id table cannot match a subsystem id, so the Hyper-V E610 row (device 0x57AD,
/// subdevice 0x00FF, index 9) is not listed: the plain 0x57AD row binds both, and probe tells
/// them apart with [`mac::lookup_pci`], which is what ixgbevf's `PCI_VDEVICE_SUB` row does.
macro_rules! id_table {
    ($($i:literal),* $(,)?) => {
        // Every row of PCI_IDS but the subsystem-matched one is listed below.
        const _: () = assert!(PCI_IDS.len() == [$($i),*].len() + 1);
        kernel::pci_device_table!(
            PCI_TABLE,
            <CompscVf as pci::Driver>::IdInfo,
            [$((
                // CAST: a u16 device id widens losslessly to the table's u32.
                pci::DeviceId::from_id(pci::Vendor::INTEL, PCI_IDS[$i].device as u32),
                (),
            )),*]
        );
    };
}

id_table!(0, 1, 2, 3, 4, 5, 6, 7, 8, 10);

impl pci::Driver for CompscVf {
    type IdInfo = ();
    type Data<'bound> = CompscVfData<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        let id = mac::lookup_pci(pdev.device_id(), pdev.subsystem_device_id()).ok_or(ENODEV)?;
        pdev.enable_device_mem()
            .inspect_err(|e| dev_err!(pdev, "cannot enable memory space: {:?}\n", e))?;
        pdev.set_master();
        let bar = pdev
            .iomap_region_sized::<BAR0_SIZE>(0, c"compsc_vf")
            .inspect_err(|e| {
                dev_err!(pdev, "cannot map BAR0 (need {} bytes): {:?}\n", BAR0_SIZE, e)
            })?;
        // The Hyper-V variants have no PF mailbox (vf.c:1142-1159): their MAC comes from
        // config space. Every other VF is reset and opens its PF session over the mailbox.
        let session = if id.hyperv {
            init::hyperv_session(pdev)
        } else {
            init::reset_and_open(&mut hw::emul(&bar, id.info))
        }
        .inspect_err(|e| dev_err!(pdev, "bring-up failed: {}\n", e))?;
        let start = pdev.resource_start(0).unwrap_or(0);
        // Hyper-V VFs have no mailbox: the line says where the MAC and the API came from.
        let (variant, api_from) = if id.hyperv {
            (" (Hyper-V)", "no mailbox, API")
        } else {
            ("", "mailbox API")
        };
        match session.mac {
            Some(mac) => dev_info!(
                pdev,
                "{} VF{} [8086:{:04x}] BAR0 {:#x}: MAC {}, {} {}\n",
                id.info.name,
                variant,
                pdev.device_id(),
                start,
                Mac(mac),
                api_from,
                Api(session.api)
            ),
            None => dev_info!(
                pdev,
                "{} VF{} [8086:{:04x}] BAR0 {:#x}: no MAC assigned, {} {}\n",
                id.info.name,
                variant,
                pdev.device_id(),
                start,
                api_from,
                Api(session.api)
            ),
        }
        Ok(CompscVfData { pdev, bar, id })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        // ixgbevf_stop_hw_vf: leave no interrupt cause unmasked behind us.
        let mut emul = hw::emul(&this.bar, this.id.info);
        if let Err(e) = emul.write(Reg::VTEIMC, 0, u32::MAX) {
            dev_warn!(this.pdev, "could not mask interrupts at unbind: {:?}\n", e);
        }
        dev_info!(this.pdev, "{} VF unbound\n", this.id.info.name);
    }
}
