// SPDX-License-Identifier: GPL-2.0

//! The PCI driver: id table, probe and unbind.

use crate::compat;
use crate::compsc_core::mac::{self, PciId, PCI_IDS};
use crate::fmt::{Api, Mac};
use crate::hw::{Bar0, BAR0_SIZE};
use crate::net::{Adapter, AdapterRef, Show, MAX_VECTORS};
use kernel::debugfs;
use kernel::device::{Bound, Core};
use kernel::dma::{Device as _, DmaMask};
use kernel::{pci, prelude::*};

/// The module's debugfs directory, where each device's files go (nova-core's pattern: the
/// module has no per-module data a probe can reach yet).
static mut DEBUGFS_ROOT: Option<debugfs::Dir> = None;

/// Owns [`DEBUGFS_ROOT`]: made before the driver registers, dropped after it unregisters.
pub(crate) struct DebugfsRoot;

impl DebugfsRoot {
    pub(crate) fn create(name: &'static CStr) -> Self {
        // SAFETY: module init, before the driver is registered: nothing else runs.
        unsafe { *core::ptr::addr_of_mut!(DEBUGFS_ROOT) = Some(debugfs::Dir::new(name)) };
        DebugfsRoot
    }
}

impl Drop for DebugfsRoot {
    fn drop(&mut self) {
        // SAFETY: dropped after the driver's registration (field order of the module), so no
        // probe or unbind runs.
        unsafe { *core::ptr::addr_of_mut!(DEBUGFS_ROOT) = None };
    }
}

/// The module's debugfs directory.
fn debugfs_root() -> Option<&'static debugfs::Dir> {
    // SAFETY: set before the driver registers and cleared after it unregisters, so it does
    // not change while a probe runs.
    unsafe { (*core::ptr::addr_of!(DEBUGFS_ROOT)).as_ref() }
}

/// A device's debugfs files, `<root>/<PCI address>/{log,pf,counters,state}`.
type DebugfsFiles = Option<Pin<KBox<debugfs::Scope<AdapterRef>>>>;

fn debugfs_files(pdev: &pci::Device<Bound>, a: &Adapter<'_>) -> Result<DebugfsFiles> {
    let Some(root) = debugfs_root() else {
        return Ok(None);
    };
    // SAFETY: the files live in `CompscVfData::debugfs`, dropped before the adapter.
    let r = unsafe { AdapterRef::new(a) };
    let name = crate::shim::DmaDev::new(pdev.as_ref()).name();
    let name = CStr::from_bytes_until_nul(&name).map_err(|_| EINVAL)?;
    let scope = root.scope(r, name, |r, dir| {
        dir.read_callback_file(c"log", r, &|r: &AdapterRef, f| r.show(Show::Log, f));
        dir.read_callback_file(c"pf", r, &|r: &AdapterRef, f| r.show(Show::Pf, f));
        dir.read_callback_file(c"counters", r, &|r: &AdapterRef, f| {
            r.show(Show::Counters, f)
        });
        dir.read_callback_file(c"state", r, &|r: &AdapterRef, f| r.show(Show::State, f));
    });
    Ok(Some(KBox::pin_init(scope, GFP_KERNEL)?))
}

/// Per-device state, valid while the driver is bound.
///
/// Fields drop in declaration order: the debugfs files go first, then the interrupt handlers
/// (free_irq waits for running ones), then the adapter and its netdev (whose NAPI the queue
/// handler schedules), then the vectors the handlers were registered on, then the BAR the
/// adapter maps.
#[pin_data]
pub(crate) struct CompscVfData<'bound> {
    /// Removed first: the files read the adapter.
    debugfs: DebugfsFiles,
    #[pin]
    irq0: compat::IrqRegistration<'bound>,
    #[pin]
    irq1: compat::IrqRegistration<'bound>,
    #[pin]
    irq2: compat::IrqRegistration<'bound>,
    adapter: Pin<KBox<Adapter<'bound>>>,
    vectors: compat::Vectors<'bound>,
    bar: Bar0<'bound>,
    pdev: &'bound pci::Device,
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
        crate::compat::pci_table!(
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
        _info: crate::compat::ProbeIdInfo<'bound, Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            let id = mac::lookup_pci(pdev.device_id(), pdev.subsystem_device_id()).ok_or(ENODEV)?;
            pdev.enable_device_mem()
                .inspect_err(|e| dev_err!(pdev, "cannot enable memory space: {:?}\n", e))?;
            pdev.set_master();
            // SAFETY: no DMA mapping exists yet for this device.
            unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<64>()) }
                .inspect_err(|e| dev_err!(pdev, "no 64-bit DMA: {:?}\n", e))?;
            let bound: &'bound pci::Device<Bound> = pdev;
            Ok(try_pin_init!(CompscVfData {
                bar: pdev.iomap_region_sized::<BAR0_SIZE>(0, c"compsc_vf").inspect_err(|e| {
                    dev_err!(pdev, "cannot map BAR0 (need {} bytes): {:?}\n", BAR0_SIZE, e)
                })?,
                // One vector per queue pair and one for the mailbox, as ixgbevf; a VF has
                // three.
                vectors: compat::alloc_vectors(bound, MAX_VECTORS)
                    .inspect_err(|e| dev_err!(pdev, "cannot get {} MSI-X vectors: {:?}\n", MAX_VECTORS, e))?,
                // SAFETY: `bar` is initialised before this expression, lives at a pinned
                // address, and is dropped after `adapter` (declaration order).
                adapter: Adapter::new(bound, unsafe { &*core::ptr::from_ref(bar) }, id)?,
                debugfs: debugfs_files(bound, adapter)?,
                // SAFETY: `vectors` is initialised before, pinned, and dropped after the
                // registrations (declaration order); the registrations are never leaked;
                // the handlers count into `adapter`, dropped after them (declaration order).
                irq0 <- unsafe {
                    compat::request_irq(
                        &*core::ptr::from_ref(vectors),
                        0,
                        adapter.vector_name(0),
                        adapter.vector_irq(0),
                    )
                },
                // SAFETY: as above.
                irq1 <- unsafe {
                    compat::request_irq(
                        &*core::ptr::from_ref(vectors),
                        1,
                        adapter.vector_name(1),
                        adapter.vector_irq(1),
                    )
                },
                // SAFETY: as above.
                irq2 <- unsafe {
                    compat::request_irq(
                        &*core::ptr::from_ref(vectors),
                        2,
                        adapter.vector_name(2),
                        adapter.vector_irq(2),
                    )
                },
                pdev,
                id,
                _: {
                    adapter.register().inspect_err(|e| {
                        dev_err!(pdev, "cannot register the netdev: {:?}\n", e)
                    })?;
                    probe_line(pdev, id, adapter.as_ref().get_ref());
                    // What a destination VF's config space is restored from (doorbell).
                    crate::shim::pci_save_state(bound);
                },
            }))
        })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        this.adapter.remove();
        dev_info!(this.pdev, "{} VF unbound\n", this.id.info.name);
    }
}

/// The probe line: the VF model and id, where BAR0 is, the MAC and API version, and the
/// interface name.
fn probe_line(pdev: &pci::Device, id: &PciId, adapter: &Adapter<'_>) {
    let start = pdev.resource_start(0).unwrap_or(0);
    // Hyper-V VFs have no mailbox: the line says where the MAC and the API came from.
    let (variant, api_from) = if id.hyperv {
        (" (Hyper-V)", "no mailbox, API")
    } else {
        ("", "mailbox API")
    };
    let s = adapter.session();
    match s.mac {
        Some(mac) => dev_info!(
            pdev,
            "{} VF{} [8086:{:04x}] BAR0 {:#x}: MAC {}, {} {}, {}, {} queue pairs\n",
            id.info.name,
            variant,
            pdev.device_id(),
            start,
            Mac(mac),
            api_from,
            Api(s.api),
            adapter.name(),
            adapter.queue_pairs()
        ),
        None => dev_info!(
            pdev,
            "{} VF{} [8086:{:04x}] BAR0 {:#x}: no MAC assigned, {} {}, {}, {} queue pairs\n",
            id.info.name,
            variant,
            pdev.device_id(),
            start,
            api_from,
            Api(s.api),
            adapter.name(),
            adapter.queue_pairs()
        ),
    }
}
