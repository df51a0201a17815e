// SPDX-License-Identifier: GPL-2.0

//! The network interface: the adapter behind the netdev, its open and close, the NAPI poll,
//! xmit, statistics and the service task.
//!
//! Who reaches the self-emulation log, and how (docs/design.md, "Contexts"):
//! - the control path (probe, open, close, the service task, unbind) holds `ctl`, a mutex
//!   around the core's [`Emul`] whose log lives as long as the device;
//! - xmit and NAPI never take it: they write tails and re-arm their vector through the
//!   `HotReg` handles the layer issued at open, which log nothing by construction;
//! - the hard interrupt handlers touch no register at all (auto-mask does the masking; the
//!   mailbox vector only kicks the service task, which re-arms it under `ctl`).

use crate::compat::{enetdown, eopnotsupp, new_spinlock_irq, SpinLockIrq};
use crate::compsc_core::counters::{CounterId, Counters};
use crate::compsc_core::desc::RingSize;
use crate::compsc_core::diag;
use crate::compsc_core::emul::{Emul, EmulError, HotReg};
use crate::compsc_core::faults::{Fault, FaultLog, StormMeter, FAULTS};
use crate::compsc_core::mac::PciId;
use crate::compsc_core::mbx::{
    xcast_mode, MacAddr, MbxError, McList, QueueInfo, Reply, Request, XcastMode, MAX_MC_HASHES,
    PF_RETA_ENTRIES, RSS_KEY_LEN,
};
use crate::compsc_core::mbx_vf::{self, Health};
use crate::compsc_core::pf::PfState;
use crate::compsc_core::regs::{vfmailbox, vteitr, Reg};
use crate::compsc_core::report;
use crate::compsc_core::xdp;
use crate::fmt::{Api, Mac};
use crate::hw::{Bar0, BarIo};
use crate::init;
use crate::rings::{RingStats, RxRing, TxRing, Xdp};
use crate::shim::{self, DmaDev, IfName, Kicker, Napi, Netdev, SkBuff, Skb, XdpFrame, XdpFrameRaw};
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::device::{Bound, Device};
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Full, Relaxed, Release};
use kernel::sync::Mutex;
use kernel::time::ClockSource as _;
use kernel::{new_mutex, pci};

#[path = "migrate.rs"]
mod migrate;

/// Descriptors per ring unless `ethtool -G` says otherwise (ixgbevf's default).
const RING_COUNT: u32 = 512;
/// Interrupt throttle interval unless `ethtool -C rx-usecs` says otherwise: about 20k
/// interrupts/s, ixgbevf's `IXGBE_20K_ITR`.
const DEFAULT_ITR_USECS: u32 = 50;
/// Rx buffer size (SRRCTL.BSIZEPKT in KiB): a 1500-byte MTU frame fits one buffer.
const RX_BUF_LEN: u32 = 2048;
/// Ethernet header plus FCS plus one VLAN tag: max frame = MTU + this (ixgbevf's `ETH_HLEN +
/// ETH_FCS_LEN + VLAN_HLEN`... without the tag, as SET_LPE counts it).
const FRAME_OVERHEAD: u32 = 18;
/// The default MTU, the smallest (ETH_MIN_MTU) and the largest frame the PF accepts
/// (`IXGBE_MAX_JUMBO_FRAME_SIZE`).
const DEFAULT_MTU: u32 = 1500;
const MIN_MTU: u32 = 68;
const MAX_FRAME: u32 = 9728;
/// Queue pairs the driver can use: what a VF's three MSI-X vectors allow with one left for
/// the mailbox (ixgbevf's `IXGBEVF_MAX_RSS_QUEUES`). Queue pair `q` has vector `q`; the
/// mailbox ("other") vector is the last one, [`MAX_QP`], whatever number of queue pairs is
/// in use, so `ethtool -L` changes the count without touching the interrupt handlers.
pub(crate) const MAX_QP: usize = 2;
/// Queue pair indices.
const QUEUE_IDS: [u32; MAX_QP] = [0, 1];
/// The mailbox vector, after every queue vector.
const OTHER_VECTOR: u32 = MAX_QP as u32;
/// MSI-X vectors the driver allocates (shim.h's `COMPSC_MAX_VECTORS`).
pub(crate) const MAX_VECTORS: u32 = MAX_QP as u32 + 1;
/// Service task period while up, and while the link is down (ixgbevf: 2 s and HZ/10).
const SERVICE_MS: u32 = 2000;
const SERVICE_LINK_DOWN_MS: u32 = 100;
/// Service task period while the VF reads all ones (looking for it to come back).
const SERVICE_GONE_MS: u32 = 1000;

/// Register fields the open sequence writes (ixgbevf defines.h).
mod bits {
    /// TXDCTL/RXDCTL.ENABLE.
    pub(super) const DCTL_ENABLE: u32 = 1 << 25;
    /// RXDCTL.VME: strip VLAN tags.
    pub(super) const RXDCTL_VME: u32 = 1 << 30;
    /// TXDCTL.SWFLSH.
    pub(super) const TXDCTL_SWFLSH: u32 = 1 << 26;
    /// TXDCTL thresholds: PTHRESH 32, HTHRESH 1, WTHRESH 8 (ixgbevf_configure_tx_ring).
    pub(super) const TXDCTL_THRESH: u32 = 32 | 1 << 8 | 8 << 16;
    /// SRRCTL: one buffer, advanced descriptors, drop when no descriptor is free.
    pub(super) const SRRCTL_ONEBUF: u32 = 1 << 25;
    pub(super) const SRRCTL_DROP_EN: u32 = 1 << 28;
    pub(super) const SRRCTL_BSIZE_SHIFT: u32 = 10;
    /// PSRTYPE: the header types ixgbevf_setup_psrtype sets.
    pub(super) const PSRTYPE: u32 = 0x10 | 0x20 | 0x100 | 0x200 | 0x1000;
    /// PSRTYPE.RQPL = 1: RSS spreads over two queues of the pool.
    pub(super) const PSRTYPE_RQPL_2: u32 = 1 << 29;
    /// VTIVAR entry valid.
    pub(super) const IVAR_VALID: u32 = 0x80;
}

/// What the control path owns: the self-emulation layer over BAR0 and the PF session.
pub(crate) struct Control<'bound> {
    emul: Emul<BarIo<'bound, 'bound>>,
    /// The migration doorbell, if the hypervisor offers one.
    bell: Option<migrate::Bell>,
    /// What the PF holds at our request, recorded for replay on a destination VF.
    pf: PfState,
    hyperv: bool,
    link_up: bool,
    /// The VF's statistics counters made continuous (across resets and migrations).
    hw: Counters,
    /// Mailbox messages from the PF that were not well formed (see `MbxError::is_malformed`).
    mbx_bad: u64,
    /// Seconds-long windows with an interrupt storm on the mailbox vector, and the meter.
    irq_storms: u64,
    storm: StormMeter,
    /// When each device fault was last written to the kernel log.
    faults: FaultLog,
}

impl Control<'_> {
    /// One mailbox exchange; an acknowledged one is recorded in `pf`.
    fn request(&mut self, request: Request) -> Result<Reply, MbxError> {
        let reply = init::exchange_noting(&mut self.emul, request, &mut self.mbx_bad)?;
        // A full VLAN or MACVLAN list was refused by us before the PF saw it; other
        // recording errors cannot follow an acknowledged exchange.
        let _ = self.pf.note(&request, &reply);
        Ok(reply)
    }

    /// Counts a mailbox error that was the PF's words' fault.
    fn note_mbx(&mut self, e: &MbxError) {
        if e.is_malformed() {
            self.mbx_bad = self.mbx_bad.wrapping_add(1);
        }
    }

    /// Nothing may touch the VF: frozen for a migration (or a destination before RESTORE).
    fn frozen(&self) -> bool {
        self.bell.as_ref().is_some_and(|b| b.frozen())
    }

    /// Folds the VF's counters in, unless the VF must not be touched or is gone.
    fn update_counters(&mut self, gone: bool) -> Result<(), EmulError> {
        if gone || self.frozen() {
            return Ok(());
        }
        let Control { emul, hw, .. } = self;
        hw.update(emul)
    }
}

/// Rx filtering asked by the stack in atomic context, sent by the service task.
struct RxModeReq {
    dirty: bool,
    promisc: bool,
    allmulti: bool,
    mc: McList,
}

/// A queue pair's rings and the handles its NAPI uses; present while the interface is up.
struct Rings {
    tx: TxRing,
    /// The vector's NAPI poll's alone (see [`QueueVector::rx_mut`]).
    rx: UnsafeCell<RxRing>,
    rearm: HotReg,
}

/// A queue pair and its vector.
struct QueueVector {
    napi: Napi,
    /// Written only by open and close, with NAPI disabled and Tx stopped; read by xmit and
    /// NAPI only between those (see [`QueueVector::rings`]).
    rings: UnsafeCell<Option<Rings>>,
    tx_stats: RingStats,
    rx_stats: RingStats,
    tx_timeouts: Atomic<u64>,
    /// Tx hang check: next_to_clean at the last look, and looks without progress.
    last_clean: Atomic<u32>,
    stalls: Atomic<u32>,
    /// Rx allocation failures at the service task's last look (see
    /// [`Adapter::retry_refills`]).
    alloc_failed_seen: Atomic<u64>,
}

impl QueueVector {
    fn new(napi: Napi) -> Self {
        QueueVector {
            napi,
            rings: UnsafeCell::new(None),
            tx_stats: RingStats::new(),
            rx_stats: RingStats::new(),
            tx_timeouts: Atomic::new(0),
            last_clean: Atomic::new(0),
            stalls: Atomic::new(0),
            alloc_failed_seen: Atomic::new(0),
        }
    }

    /// The rings, for xmit and NAPI.
    ///
    /// # Safety
    ///
    /// Only from xmit or the NAPI poll of this vector, or with `ctl` or RTNL held, or with
    /// this queue's Tx lock held and the adapter's `up` read true under it (ndo_xdp_xmit):
    /// open installs the rings before it enables NAPI, sets `up` and starts Tx, and close
    /// clears `up`, stops Tx (taking every Tx lock) and disables NAPI (which waits for a
    /// running poll) before it removes them, under RTNL and `ctl` both, so the value does not
    /// change under the caller.
    unsafe fn rings(&self) -> Option<&Rings> {
        // SAFETY: per the contract above, no writer runs concurrently.
        unsafe { (*self.rings.get()).as_ref() }
    }

    /// The Rx ring of `rings`, for the Rx half of NAPI, which is this vector's alone.
    ///
    /// # Safety
    ///
    /// Only from this vector's NAPI poll (one at a time by NAPI's guarantee), or from close
    /// with NAPI disabled; nobody else forms a reference to the Rx ring.
    #[allow(clippy::mut_from_ref)]
    unsafe fn rx_mut(rings: &Rings) -> &mut RxRing {
        // SAFETY: per the contract above, this is the only reference.
        unsafe { &mut *rings.rx.get() }
    }

    /// Installs or removes the rings.
    ///
    /// # Safety
    ///
    /// Only from open or close, with NAPI disabled and every Tx queue stopped.
    unsafe fn set_rings(&self, rings: Option<Rings>) -> Option<Rings> {
        // SAFETY: per the contract above, nobody else holds a reference.
        unsafe { core::mem::replace(&mut *self.rings.get(), rings) }
    }
}

// SAFETY: `rings` is guarded by the open/close protocol documented on its accessors; the rest
// is atomics and handles that are Sync.
unsafe impl Sync for QueueVector {}
// SAFETY: as above.
unsafe impl Send for QueueVector {}

/// The device behind the netdev.
#[pin_data]
pub(crate) struct Adapter<'bound> {
    /// Declared first, so dropped first: no ring outlives the netdev's NAPI. Queue pairs
    /// at and above `nq` are never used.
    qv: [QueueVector; MAX_QP],
    /// Queue pairs the PF granted at probe (GET_QUEUES), at most [`MAX_QP`].
    max_nq: u32,
    /// Queue pairs in use (`ethtool -L combined`), 1..=`max_nq`; changed only under RTNL
    /// with the data path down.
    nq: Atomic<u32>,
    netdev: Netdev,
    #[pin]
    ctl: Mutex<Control<'bound>>,
    #[pin]
    rx_mode: SpinLockIrq<RxModeReq>,
    mtu: Atomic<u32>,
    io: BarIo<'bound, 'bound>,
    dev: &'bound Device<Bound>,
    pdev: &'bound pci::Device<Bound>,
    /// Rx pages are written by the CPU after the device wrote them (between PREPARE and
    /// the end of a migration), so the hypervisor's dirty log sees them.
    dirtying: Atomic<bool>,
    id: &'static PciId,
    session: init::Session,
    /// The data path runs (rings installed, NAPI enabled, Tx started).
    up: Atomic<bool>,
    /// The administrator brought the interface up (ndo_open without ndo_stop since); a reset
    /// brings the data path back only then.
    admin_up: Atomic<bool>,
    removing: Atomic<bool>,
    /// The VF read all ones at the last look.
    gone: Atomic<bool>,
    /// A reset was asked for (Tx timeout, failed reset to retry).
    reset_requested: Atomic<bool>,
    /// VF resets done since probe.
    resets: Atomic<u64>,
    /// Failed reset attempts in a row (retried with the core's back-off).
    reset_failures: Atomic<u32>,
    /// Tx hangs detected, and times the VF read all ones.
    tx_hangs: Atomic<u64>,
    gone_events: Atomic<u64>,
    /// Interrupts handled per vector (the handlers count; they are freed before the adapter).
    irqs: [Atomic<u64>; MAX_VECTORS as usize],
    /// Probe time (monotonic ns), the clock of the fault log's rate limit.
    start_ns: i64,
    /// Doorbell FREEZEs and RESTOREs carried out.
    freezes: Atomic<u64>,
    restores: Atomic<u64>,
    /// Ring sizes (`ethtool -G`) and the interrupt throttle (`ethtool -C`), applied at open;
    /// they survive resets and migrations like the rest of the configuration.
    tx_count: Atomic<u32>,
    rx_count: Atomic<u32>,
    itr_usecs: Atomic<u32>,
    /// The hardware multicast count as last folded in, for get_stats64 (atomic context).
    hw_multicast: Atomic<u64>,
}

/// Why the service task resets the VF.
#[derive(Clone, Copy)]
enum ResetCause {
    Pf,
    TxHang,
    Asked,
    Returned,
}

impl ResetCause {
    fn describe(self) -> &'static str {
        match self {
            ResetCause::Pf => "the PF reset or withdrew clear-to-send",
            ResetCause::TxHang => "a Tx queue made no progress for two service passes",
            ResetCause::Asked => "a reset was requested",
            ResetCause::Returned => "the VF came back",
        }
    }
}

impl<'bound> Adapter<'bound> {
    /// Resets the VF, opens the PF session and builds the (not yet registered) netdev.
    pub(crate) fn new(
        pdev: &'bound pci::Device<Bound>,
        bar: &'bound Bar0<'bound>,
        id: &'static PciId,
    ) -> Result<Pin<KBox<Self>>> {
        let io = BarIo(bar);
        let mut emul = Emul::new(io, id.info);
        let session = if id.hyperv {
            init::hyperv_session(pdev)
        } else {
            init::reset_and_open(&mut emul)
        }
        .inspect_err(|e| dev_err!(pdev, "bring-up failed: {}\n", e))?;
        let dev: &'bound Device<Bound> = pdev.as_ref();
        let nq = if id.hyperv {
            1
        } else {
            u32::from(QueueInfo::queue_pairs(session.pf.queues, MAX_QP as u8))
        };
        let a = KBox::try_pin_init(
            try_pin_init!(&this in Adapter {
                // SAFETY: the adapter is pinned in its box and outlives the netdev, which
                // it frees on drop; the ops cast `ctx` back to `Adapter`.
                netdev: unsafe {
                    Netdev::new(DmaDev::new(dev), this.as_ptr().cast::<c_void>(), MAX_QP as u32)?
                },
                qv: [
                    QueueVector::new(netdev.napi_add(0)?),
                    QueueVector::new(netdev.napi_add(1)?),
                ],
                max_nq: nq,
                nq: Atomic::new(nq),
                ctl <- new_mutex!(Control {
                    emul,
                    bell: migrate::Bell::find(pdev, id)?,
                    pf: session.pf,
                    hyperv: id.hyperv,
                    link_up: false,
                    hw: Counters::default(),
                    mbx_bad: 0,
                    irq_storms: 0,
                    storm: StormMeter::default(),
                    faults: FaultLog::default(),
                }),
                rx_mode <- new_spinlock_irq!(RxModeReq {
                    dirty: false,
                    promisc: false,
                    allmulti: false,
                    mc: McList::default(),
                }),
                mtu: Atomic::new(DEFAULT_MTU),
                io,
                dev,
                pdev,
                dirtying: Atomic::new(false),
                id,
                session,
                up: Atomic::new(false),
                admin_up: Atomic::new(false),
                removing: Atomic::new(false),
                gone: Atomic::new(false),
                reset_requested: Atomic::new(false),
                resets: Atomic::new(0),
                reset_failures: Atomic::new(0),
                tx_hangs: Atomic::new(0),
                gone_events: Atomic::new(0),
                irqs: [Atomic::new(0), Atomic::new(0), Atomic::new(0)],
                start_ns: kernel::time::Monotonic::ktime_get(),
                freezes: Atomic::new(0),
                restores: Atomic::new(0),
                tx_count: Atomic::new(RING_COUNT),
                rx_count: Atomic::new(RING_COUNT),
                itr_usecs: Atomic::new(DEFAULT_ITR_USECS),
                hw_multicast: Atomic::new(0),
            }),
            GFP_KERNEL,
        )?;
        match a.session.mac {
            Some(mac) => a.netdev.set_addr(&mac.0),
            None => {
                let mac = a.netdev.random_addr();
                dev_info!(
                    pdev,
                    "the PF assigned no MAC address; using the random address {}\n",
                    Mac(MacAddr(mac))
                );
            }
        }
        let max_mtu = if id.hyperv {
            DEFAULT_MTU
        } else {
            MAX_FRAME - FRAME_OVERHEAD
        };
        a.netdev.set_mtu_range(MIN_MTU, max_mtu);
        // Each queue pair's NAPI is served by the vector of the same index (VTIVAR).
        for (v, qv) in (0..MAX_VECTORS).zip(a.qv.iter()) {
            qv.napi.set_irq(pdev, v);
        }
        a.netdev.set_queues(a.queue_pairs());
        {
            // The counters count from probe: whatever the VF counted before is the base.
            let mut ctl = a.ctl.lock();
            let Control { emul, hw, .. } = &mut *ctl;
            let _ = hw.rebase(emul);
        }
        Ok(a)
    }

    /// The interface name.
    pub(crate) fn name(&self) -> IfName {
        self.netdev.name()
    }

    /// What the PF said at session start.
    pub(crate) fn session(&self) -> &init::Session {
        &self.session
    }

    /// Makes the netdev visible to the stack (the last step of probe), and starts the service
    /// task, which answers the migration doorbell even while the interface is down.
    pub(crate) fn register(&self) -> Result {
        self.netdev.register()?;
        self.netdev.service_schedule(0);
        Ok(())
    }

    /// The first step of unbind: the netdev goes away (closing it if up), then the service
    /// task, then every interrupt cause is masked.
    pub(crate) fn remove(&self) {
        self.removing.store(true, Release);
        let this = self;
        this.netdev.unregister();
        this.netdev.service_cancel();
        let mut ctl = this.ctl.lock();
        if let Err(e) = ctl.emul.write(Reg::VTEIMC, 0, u32::MAX) {
            dev_warn!(this.dev, "could not mask interrupts at unbind: {:?}\n", e);
        }
    }

    /// The interrupt handler of MSI-X vector `v`: a queue pair's, or the mailbox's.
    ///
    /// # Safety
    ///
    /// The handler counts into the adapter: it must be freed before the adapter is dropped
    /// (`CompscVfData` declares the registrations before the adapter).
    pub(crate) unsafe fn vector_irq(&self, v: u32) -> impl PinInit<VectorIrq, Error> {
        let what = if v == OTHER_VECTOR {
            Some(VectorKind::Mailbox(self.netdev.kicker()))
        } else {
            self.qv.get(v as usize).map(|qv| VectorKind::Queue(qv.napi))
        };
        let count: *const Atomic<u64> = self
            .irqs
            .get(v as usize)
            .map_or(core::ptr::null(), core::ptr::from_ref);
        try_pin_init!(VectorIrq { what, count })
    }

    /// The name the vector's interrupt shows in /proc/interrupts.
    pub(crate) fn vector_name(&self, v: u32) -> &'static CStr {
        match v {
            0 => c"compsc_vf-TxRx-0",
            OTHER_VECTOR => c"compsc_vf-mbx",
            _ => c"compsc_vf-TxRx-1",
        }
    }

    /// How many queue pairs are in use.
    pub(crate) fn queue_pairs(&self) -> u32 {
        self.nq.load(Relaxed)
    }

    /// The queue pairs in use.
    fn queues(&self) -> impl Iterator<Item = (u32, &QueueVector)> {
        QUEUE_IDS
            .into_iter()
            .zip(self.qv.iter())
            .take(self.queue_pairs() as usize)
    }

    /// The VTEIMS bits of the queue vectors in use.
    fn queue_bits(&self) -> u32 {
        1u32.checked_shl(self.queue_pairs())
            .unwrap_or(0)
            .wrapping_sub(1)
    }

    /// The mailbox vector's VTEIMS bit.
    fn other_bit(&self) -> u32 {
        1 << OTHER_VECTOR
    }

    /// Brings the interface up (ndo_open, under RTNL).
    fn open(&self) -> Result {
        let tx_size = RingSize::new(self.tx_count.load(Relaxed)).ok_or(EINVAL)?;
        let rx_size = RingSize::new(self.rx_count.load(Relaxed)).ok_or(EINVAL)?;
        let eitr = vteitr::from_usecs(self.itr_usecs.load(Relaxed)).ok_or(EINVAL)?;
        let mut ctl = self.ctl.lock();
        let emul = &mut ctl.emul;
        let psrtype = if self.queue_pairs() > 1 {
            bits::PSRTYPE | bits::PSRTYPE_RQPL_2
        } else {
            bits::PSRTYPE
        };
        emul.write(Reg::VFPSRTYPE, 0, psrtype)?;
        let mut rings: [Option<(TxRing, RxRing)>; MAX_QP] = [None, None];
        for ((q, qv), slot) in self.queues().zip(rings.iter_mut()) {
            let tx_tail = emul.hot(Reg::VFTDT, q, 0)?;
            let rx_tail = emul.hot(Reg::VFRDT, q, 0)?;
            let tx = TxRing::new(self.dev, q, tx_size, tx_tail)?;
            let rx = RxRing::new(
                self.dev,
                &self.netdev,
                qv.napi,
                q,
                rx_size,
                RX_BUF_LEN,
                rx_tail,
            )?;
            self.configure_tx(emul, q, &tx)?;
            self.configure_rx(emul, q, &rx)?;
            *slot = Some((tx, rx));
        }
        if !ctl.hyperv {
            let max_frame = self.mtu.load(Relaxed).saturating_add(FRAME_OVERHEAD);
            if let Err(e) = ctl.request(Request::SetLpe { max_frame }) {
                dev_warn!(self.dev, "PF refused max frame {}: {:?}\n", max_frame, e);
            }
            // Filters and Rx mode the stack set while down are sent now.
            self.rx_mode.lock().dirty = true;
        }
        let emul = &mut ctl.emul;
        // Interrupt routing (ixgbevf_set_ivar): Rx and Tx of queue q to vector q, two queues
        // per VTIVAR register; the mailbox to the vector after them.
        let mut ivar = 0u32;
        for (q, _) in self.queues() {
            let entry = q | bits::IVAR_VALID;
            let pair = entry | entry << 8;
            ivar |= if q % 2 == 0 { pair } else { pair << 16 };
            emul.write(Reg::VTEITR, q, eitr)?;
        }
        emul.write(Reg::VTIVAR, 0, ivar)?;
        emul.write(Reg::VTIVAR_MISC, 0, OTHER_VECTOR | bits::IVAR_VALID)?;
        let mask = self.other_bit() | self.queue_bits();
        emul.write(Reg::VTEIAM, 0, mask)?;
        emul.write(Reg::VTEIAC, 0, mask)?;
        emul.write(Reg::VTEIMS, 0, mask)?;
        for ((q, qv), slot) in self.queues().zip(rings.iter_mut()) {
            let rearm = emul.hot(Reg::VTEIMS, 0, 1u32.checked_shl(q).unwrap_or(0))?;
            let Some((tx, rx)) = slot.take() else {
                continue;
            };
            // SAFETY: NAPI is disabled and Tx stopped until the lines below.
            unsafe {
                qv.set_rings(Some(Rings {
                    tx,
                    rx: UnsafeCell::new(rx),
                    rearm,
                }))
            };
        }
        self.up.store(true, Release);
        // The Rx buffers are posted by each vector's first poll, not here: with no buffer
        // posted and Tx stopped no queue interrupt can come while NAPI is disabled. One that
        // did would be dropped by the disabled NAPI and leave its vector auto-masked (EIAM)
        // for good, the queue pair dead until the hang check resets the VF.
        for (_, qv) in self.queues() {
            qv.napi.enable();
            qv.napi.schedule();
        }
        self.netdev.tx_start_all();
        drop(ctl);
        // The service task sets the carrier from the link right away.
        self.netdev.service_schedule(0);
        Ok(())
    }

    fn configure_tx(&self, emul: &mut Emul<BarIo<'bound, 'bound>>, q: u32, tx: &TxRing) -> Result {
        let (bus, len) = tx.layout();
        emul.write(Reg::VFTXDCTL, q, bits::TXDCTL_SWFLSH)?;
        // The device takes the head only from a stopped queue (as ixgbevf, wait for it).
        self.wait_dctl(emul, Reg::VFTXDCTL, q, false)?;
        // CAST: the low and high halves of a 64-bit bus address.
        emul.write(Reg::VFTDBAL, q, bus as u32)?;
        emul.write(Reg::VFTDBAH, q, (bus >> 32) as u32)?;
        emul.write(Reg::VFTDLEN, q, len)?;
        emul.write(Reg::VFTDWBAH, q, 0)?;
        emul.write(Reg::VFTDWBAL, q, 0)?;
        emul.write(Reg::VFTDH, q, 0)?;
        emul.write(Reg::VFTDT, q, 0)?;
        emul.write(Reg::VFTXDCTL, q, bits::DCTL_ENABLE | bits::TXDCTL_THRESH)?;
        self.wait_enabled(emul, Reg::VFTXDCTL, q)
    }

    fn configure_rx(&self, emul: &mut Emul<BarIo<'bound, 'bound>>, q: u32, rx: &RxRing) -> Result {
        let (bus, len) = rx.layout();
        emul.write(Reg::VFRXDCTL, q, 0)?;
        self.wait_dctl(emul, Reg::VFRXDCTL, q, false)?;
        emul.write(Reg::VFRDBAL, q, bus as u32)?;
        emul.write(Reg::VFRDBAH, q, (bus >> 32) as u32)?;
        emul.write(Reg::VFRDLEN, q, len)?;
        emul.write(Reg::VFRDH, q, 0)?;
        emul.write(Reg::VFRDT, q, 0)?;
        let srrctl =
            (RX_BUF_LEN >> bits::SRRCTL_BSIZE_SHIFT) | bits::SRRCTL_ONEBUF | bits::SRRCTL_DROP_EN;
        emul.write(Reg::VFSRRCTL, q, srrctl)?;
        // VME: strip VLAN tags into the descriptor (NETIF_F_HW_VLAN_CTAG_RX).
        emul.write(Reg::VFRXDCTL, q, bits::DCTL_ENABLE | bits::RXDCTL_VME)?;
        self.wait_enabled(emul, Reg::VFRXDCTL, q)
    }

    /// Waits up to 10 ms for a queue's ENABLE to read back (ixgbevf polls 10 × 1-2 ms).
    fn wait_enabled(&self, emul: &mut Emul<BarIo<'bound, 'bound>>, reg: Reg, q: u32) -> Result {
        self.wait_dctl(emul, reg, q, true)
    }

    /// Waits until queue `q`'s descriptor control `reg` reads ENABLE as `enabled`.
    fn wait_dctl(
        &self,
        emul: &mut Emul<BarIo<'bound, 'bound>>,
        reg: Reg,
        q: u32,
        enabled: bool,
    ) -> Result {
        // The datasheet allows the enable some hundred microseconds: poll in 50 µs steps
        // (a restore's outage pays for every step), for at most 10 ms of measured time;
        // disabling is quicker (10 µs steps).
        let step_us = if enabled { 50 } else { 10 };
        let start = kernel::time::Monotonic::ktime_get();
        loop {
            let v = emul.read(reg, q)?;
            if v == u32::MAX {
                return Err(ENODEV);
            }
            if (v & bits::DCTL_ENABLE != 0) == enabled {
                return Ok(());
            }
            let waited_ns = kernel::time::Monotonic::ktime_get().wrapping_sub(start);
            if waited_ns > 10_000_000 {
                break;
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_micros(step_us));
        }
        dev_err!(
            self.dev,
            "{:?} queue {} did not {} within 10 ms\n",
            reg,
            q,
            if enabled { "enable" } else { "stop" }
        );
        Err(ETIMEDOUT)
    }

    /// Takes the data path down (ndo_stop, or a reset; under RTNL). Does nothing if it is
    /// not up (a reset that failed left it down).
    fn stop(&self) {
        self.stop_data_path(true);
    }

    /// [`Self::stop`], optionally keeping the carrier: a migration's FREEZE keeps it, so the
    /// stack queues what it sends meanwhile (sent after RESTORE) and no carrier change waits
    /// on linkwatch's once-a-second pace when the data path comes back.
    fn stop_data_path(&self, carrier_off: bool) {
        if !self.up.xchg(false, Full) {
            return;
        }
        if carrier_off {
            self.netdev.set_carrier(false);
        }
        self.netdev.tx_disable_all();
        {
            let mut ctl = self.ctl.lock();
            if carrier_off {
                ctl.link_up = false;
            }
            let emul = &mut ctl.emul;
            // ixgbevf_irq_disable, then stop both queues. A device that is gone refuses
            // these; the teardown below needs nothing from it.
            let _ = emul.write(Reg::VTEIAM, 0, 0);
            let _ = emul.write(Reg::VTEIMC, 0, u32::MAX);
            let _ = emul.write(Reg::VTEIAC, 0, 0);
            for (q, _) in self.queues() {
                let _ = emul.write(Reg::VFTXDCTL, q, bits::TXDCTL_SWFLSH);
                let _ = emul.write(Reg::VFRXDCTL, q, 0);
            }
            // The queues stop some microseconds after the write (ixgbevf_disable_rx_queue
            // polls for it): until ENABLE reads clear the device may still write a frame
            // into a buffer, and the buffers are freed below.
            for (q, _) in self.queues() {
                for reg in [Reg::VFRXDCTL, Reg::VFTXDCTL] {
                    let _ = self.wait_dctl(emul, reg, q, false);
                }
            }
        }
        for (_, qv) in self.queues() {
            qv.napi.disable();
            let rings = {
                let _ctl = self.ctl.lock();
                // SAFETY: Tx is disabled and NAPI disabled (above); `ctl` keeps the service
                // task's hang check, which reads the rings under it, out while they go.
                unsafe { qv.set_rings(None) }
            };
            if let Some(rings) = rings {
                // Tx first: XDP_TX frames in it return their pages to the Rx ring's pool.
                rings.tx.drain(&self.netdev);
                rings.rx.into_inner().drain();
            }
        }
    }

    /// One NAPI poll of vector `idx`.
    fn poll(&self, idx: u32, budget: i32) -> i32 {
        let Some(qv) = self.qv.get(idx as usize) else {
            return 0;
        };
        let napi = qv.napi;
        // SAFETY: this is the vector's NAPI poll.
        let Some(rings) = (unsafe { qv.rings() }) else {
            napi.complete_done(0);
            return 0;
        };
        let rearm = rings.rearm;
        rings.tx.clean(&self.netdev, budget, &qv.tx_stats);
        let want = u32::try_from(budget).unwrap_or(0);
        let xdp = napi.xdp_prog().map(|prog| Xdp {
            prog,
            tx: &rings.tx,
            tx_dma: DmaDev::new(self.dev),
            nd: &self.netdev,
        });
        // SAFETY: this is the vector's NAPI poll.
        let rx = unsafe { QueueVector::rx_mut(rings) };
        let done = rx.poll(
            napi,
            &self.io,
            want,
            &qv.rx_stats,
            self.dirtying.load(Relaxed),
            xdp,
        );
        if done >= want {
            return budget;
        }
        let done = i32::try_from(done).unwrap_or(0);
        if napi.complete_done(done) && self.up.load(Acquire) {
            rearm.rearm(&self.io);
        }
        done
    }

    /// ndo_start_xmit.
    fn xmit(&self, skb: Skb, q: u32) -> bool {
        // The stack picks among the `nq` queues it was told of (set_queues).
        let Some(qv) = self.qv.get(q as usize) else {
            return false;
        };
        // SAFETY: this is xmit, called only while Tx is started (open to close).
        match unsafe { qv.rings() } {
            Some(r) => match r.tx.xmit(skb, &self.netdev, &self.io, &qv.tx_stats) {
                Ok(()) => false,
                Err(skb) => {
                    skb.give_back();
                    true
                }
            },
            None => false,
        }
    }

    /// ndo_get_stats64: rx packets, rx bytes, tx packets, tx bytes, rx dropped, tx dropped,
    /// multicast, rx errors.
    fn stats(&self) -> [u64; 8] {
        let mut v = [0u64; 8];
        for qv in self.qv.iter() {
            let (rx, tx) = (&qv.rx_stats, &qv.tx_stats);
            for (slot, x) in v.iter_mut().zip([
                RingStats::get(&rx.packets),
                RingStats::get(&rx.bytes),
                RingStats::get(&tx.packets),
                RingStats::get(&tx.bytes),
                RingStats::get(&rx.dropped).wrapping_add(RingStats::get(&rx.alloc_failed)),
                RingStats::get(&tx.dropped),
                0,
                RingStats::get(&rx.errors),
            ]) {
                *slot = slot.wrapping_add(x);
            }
        }
        v[6] = self.hw_multicast.load(Relaxed);
        v
    }

    /// One queue's counters for the netdev family's qstats, in the shim's order: Rx packets,
    /// bytes, allocation failures, bad checksums; Tx packets, bytes. `None` for a queue beyond those in use (the shim reports nothing then).
    fn qstats(&self, idx: u32) -> Option<[u64; QSTATS]> {
        if idx >= self.queue_pairs() {
            return None;
        }
        let qv = self.qv.get(idx as usize)?;
        Some(Self::queue_counts(qv))
    }

    fn queue_counts(qv: &QueueVector) -> [u64; QSTATS] {
        let (rx, tx) = (&qv.rx_stats, &qv.tx_stats);
        [
            RingStats::get(&rx.packets),
            RingStats::get(&rx.bytes),
            RingStats::get(&rx.alloc_failed),
            RingStats::get(&rx.csum_errors),
            RingStats::get(&tx.packets),
            RingStats::get(&tx.bytes),
        ]
    }

    /// The qstats base: what the queue pairs not in use now (after `ethtool -L`) counted, so
    /// that base plus the queues in use equals the device's totals (`ip -s link`).
    fn qstats_base(&self) -> [u64; QSTATS] {
        let mut v = [0u64; QSTATS];
        for qv in self.qv.iter().skip(self.queue_pairs() as usize) {
            for (slot, x) in v.iter_mut().zip(Self::queue_counts(qv)) {
                *slot = slot.wrapping_add(x);
            }
        }
        v
    }

    /// The RSS table and key the PF uses for this VF's pool, asked over the mailbox
    /// (GET_RETA, GET_RSS_KEY: API 1.2 and later, and only if the PF's administrator allows
    /// the VF to query them). A refusal is EOPNOTSUPP, as ixgbevf answers.
    fn rss(&self) -> Result<([u8; PF_RETA_ENTRIES], [u8; RSS_KEY_LEN])> {
        if self.id.hyperv {
            return Err(eopnotsupp());
        }
        let mut ctl = self.ctl.lock();
        if ctl.frozen() || self.gone.load(Relaxed) {
            return Err(EBUSY);
        }
        let reta = match ctl.request(Request::GetReta) {
            Ok(Reply::Reta(r)) => r,
            Ok(_) | Err(MbxError::Nack { .. }) => return Err(eopnotsupp()),
            Err(_) => return Err(EIO),
        };
        let key = match ctl.request(Request::GetRssKey) {
            Ok(Reply::RssKey(k)) => k,
            Ok(_) | Err(MbxError::Nack { .. }) => return Err(eopnotsupp()),
            Err(_) => return Err(EIO),
        };
        Ok((reta, key))
    }

    /// The IEEE 802.3 MAC statistics ethtool's `eth-mac` group shows, from the VF's own
    /// counters (continuous across resets and migrations): frames and octets each way, and
    /// multicast frames received.
    fn eth_mac_stats(&self) -> [u64; 5] {
        let mut ctl = self.ctl.lock();
        self.fold_counters(&mut ctl);
        let hw = ctl.hw;
        [
            hw.get(CounterId::Gptc).value(),
            hw.get(CounterId::Gprc).value(),
            hw.get(CounterId::Gotc).value(),
            hw.get(CounterId::Gorc).value(),
            hw.get(CounterId::Mprc).value(),
        ]
    }

    /// The service task: link state from VFLINKS, messages from the PF, PF resets, a Tx
    /// queue that stopped moving, a device that vanished, and the mailbox vector's re-arm.
    /// Reschedules itself until the device is removed.
    fn service(&self) {
        if self.removing.load(Acquire) {
            return;
        }
        // The doorbell first: while frozen nothing else may touch the VF, and on a
        // destination the VF is not usable until RESTORE.
        if self.doorbell() {
            if !self.removing.load(Acquire) {
                self.netdev.service_schedule(migrate::FROZEN_POLL_MS);
            }
            return;
        }
        let up = self.up.load(Acquire);
        let mut ctl = self.ctl.lock();
        let links = ctl.emul.read(Reg::VFLINKS, 0).unwrap_or(u32::MAX);
        let (mailbox, message) = if ctl.hyperv {
            (0, None)
        } else {
            let mailbox = ctl.emul.read(Reg::VFMAILBOX, 0).unwrap_or(u32::MAX);
            let message = match mbx_vf::receive(&mut ctl.emul) {
                Ok(m) => m,
                Err(e) => {
                    dev_dbg!(self.dev, "mailbox: {:?}\n", e);
                    ctl.note_mbx(&e);
                    None
                }
            };
            (mailbox, message)
        };
        let verdict = mbx_vf::health(links, mailbox, message);
        let hung = up && self.tx_hung(&ctl);
        let reset = self.reset_requested.xchg(false, Relaxed) || hung;
        match verdict {
            Health::Gone => {
                drop(ctl);
                self.device_gone();
            }
            Health::ResetNeeded => {
                drop(ctl);
                self.reset(ResetCause::Pf);
            }
            Health::Link(_) if self.gone.load(Relaxed) => {
                drop(ctl);
                dev_info!(self.dev, "{}: the VF answers again\n", self.name());
                self.gone.store(false, Relaxed);
                self.reset(ResetCause::Returned);
            }
            Health::Link(_) if reset => {
                drop(ctl);
                if hung {
                    self.tx_hangs
                        .store(self.tx_hangs.load(Relaxed).wrapping_add(1), Relaxed);
                }
                self.reset(if hung {
                    ResetCause::TxHang
                } else {
                    ResetCause::Asked
                });
            }
            Health::Link(link) => {
                if !ctl.hyperv && up {
                    self.send_rx_mode(&mut ctl);
                }
                self.fold_counters(&mut ctl);
                self.review_faults(&mut ctl);
                if up {
                    // Re-arm the mailbox vector (auto-masked when it fired). The intent is
                    // unchanged, so this is the write the log already holds.
                    if let Err(e) = ctl.emul.write(Reg::VTEIMS, 0, self.other_bit()) {
                        dev_warn!(self.dev, "cannot re-arm the mailbox vector: {:?}\n", e);
                    }
                }
                let changed = up && link != ctl.link_up;
                if up {
                    ctl.link_up = link;
                }
                drop(ctl);
                if up {
                    self.retry_refills();
                }
                if changed {
                    self.netdev.set_carrier(link);
                    if link {
                        dev_info!(self.dev, "{}: NIC Link is Up\n", self.name());
                    } else {
                        dev_info!(self.dev, "{}: NIC Link is Down\n", self.name());
                    }
                }
            }
        }
        let next = {
            let ctl = self.ctl.lock();
            // A reset indication that arrived during this pass (an exchange read it into
            // the log) is acted on now, not at the next period.
            let reset_seen = ctl.emul.log().pending(Reg::VFMAILBOX) & vfmailbox::RSTD != 0;
            if reset_seen || self.reset_requested.load(Relaxed) {
                mbx_vf::reset_retry_ms(self.reset_failures.load(Relaxed))
            } else if self.gone.load(Relaxed) {
                SERVICE_GONE_MS
            } else if ctl.link_up {
                SERVICE_MS
            } else {
                SERVICE_LINK_DOWN_MS
            }
        };
        // While the interface is down the task keeps going (slowly) only to answer the
        // doorbell: a migration may come while the administrator has it down.
        let bell = self.ctl.lock().bell.is_some();
        if !self.removing.load(Acquire) {
            if self.admin_up.load(Acquire) {
                self.netdev.service_schedule(next);
            } else if bell {
                self.netdev.service_schedule(SERVICE_GONE_MS);
            }
        }
    }

    /// A ring whose refill could not allocate may be left with no buffer posted, and then
    /// no Rx interrupt ever comes to refill it. Each period, any ring whose allocation
    /// failures grew since the last look gets a NAPI poll, which refills it (as ixgbevf's
    /// watchdog fires the queues' interrupts). Nothing here touches the device.
    fn retry_refills(&self) {
        for (_, qv) in self.queues() {
            let failed = RingStats::get(&qv.rx_stats.alloc_failed);
            if qv.alloc_failed_seen.xchg(failed, Relaxed) != failed {
                qv.napi.schedule();
            }
        }
    }

    /// Each device fault's total, in [`FAULTS`] order.
    fn fault_totals(&self, ctl: &Control<'_>) -> [u64; FAULTS.len()] {
        let rx = |f: fn(&RingStats) -> &Atomic<u64>| {
            self.qv.iter().fold(0u64, |a, qv| {
                a.wrapping_add(RingStats::get(f(&qv.rx_stats)))
            })
        };
        [
            rx(|s| &s.bad_len),
            rx(|s| &s.bad_status),
            rx(|s| &s.chain_overflow),
            ctl.mbx_bad,
            ctl.irq_storms,
        ]
    }

    /// Writes a line for each device fault seen since its last line, rate-limited by the
    /// core's [`FaultLog`].
    fn review_faults(&self, ctl: &mut Control<'_>) {
        // Wrapping and a constant divisor: no overflow check, so no panic path.
        let now_ms = u64::try_from(
            kernel::time::Monotonic::ktime_get().wrapping_sub(self.start_ns) / 1_000_000,
        )
        .unwrap_or(0);
        let irq_mbx = self.irqs[OTHER_VECTOR as usize].load(Relaxed);
        if ctl.storm.observe(now_ms, irq_mbx) {
            ctl.irq_storms = ctl.irq_storms.wrapping_add(1);
        }
        let totals = self.fault_totals(ctl);
        for r in ctl.faults.review(now_ms, &totals).into_iter().flatten() {
            dev_warn!(
                self.dev,
                "{}: device fault: {} new {} ({} since probe, ethtool -S {})\n",
                self.name(),
                r.new,
                r.fault.describe(),
                r.total,
                r.fault.stat_name()
            );
        }
    }

    /// Whether a Tx queue has frames in flight and completed none since the last look
    /// (two service passes apart, as ixgbevf's `check_for_tx_hang`).
    fn tx_hung(&self, _ctl: &Control<'_>) -> bool {
        let mut hung = false;
        for (_, qv) in self.queues() {
            // SAFETY: `ctl` is held (the argument proves it): open installs and close
            // removes the rings under it, so they cannot go while their indices are read.
            let Some((ntc, pending)) = (unsafe { qv.rings() }).map(|r| r.tx.progress()) else {
                continue;
            };
            let last = qv.last_clean.xchg(ntc, Relaxed);
            if !pending || ntc != last {
                qv.stalls.store(0, Relaxed);
                continue;
            }
            let stalls = qv.stalls.load(Relaxed).saturating_add(1);
            qv.stalls.store(stalls, Relaxed);
            hung |= stalls >= 2;
        }
        hung
    }

    /// The VF reads all ones: stop using it, once, and keep looking for it to come back.
    fn device_gone(&self) {
        if self.gone.xchg(true, Relaxed) {
            return;
        }
        self.gone_events
            .store(self.gone_events.load(Relaxed).wrapping_add(1), Relaxed);
        dev_err!(
            self.dev,
            "{}: the VF does not respond (registers read all ones); traffic stopped until it returns\n",
            self.name()
        );
        self.netdev.set_carrier(false);
        self.ctl.lock().link_up = false;
    }

    /// Resets the VF and rebuilds everything the PF held for us, as ixgbevf's
    /// `ixgbevf_reset_subtask`: down, VF reset, PF session (API renegotiated), the recorded
    /// requests replayed, up. Under RTNL, like the ndo ops it calls.
    /// Resets the VF, opens a new PF session and replays `pf`'s requests; returns how many
    /// were replayed. Shared by the service task's resets and the doorbell's RESTORE.
    fn rebuild(&self, ctl: &mut Control<'_>, pf: &PfState) -> Result<u32, init::InitError> {
        if ctl.hyperv {
            return Ok(0);
        }
        let session = init::reset_and_open(&mut ctl.emul)?;
        ctl.pf = session.pf;
        // The VF's counters may have restarted (or be another VF's): the values stay, the
        // next delta counts from here.
        let Control { emul, hw, .. } = &mut *ctl;
        let _ = hw.rebase(emul);
        let mut n = 0u32;
        for req in pf.replay() {
            if let Err(e) = ctl.request(req) {
                dev_warn!(self.dev, "PF refused {:?} after reset: {:?}\n", req, e);
            }
            n = n.saturating_add(1);
        }
        Ok(n)
    }

    fn reset(&self, cause: ResetCause) {
        let _rtnl = shim::Rtnl::lock();
        if self.removing.load(Acquire) {
            return;
        }
        // What the VF counted up to now is kept before the reset may clear it.
        if !matches!(cause, ResetCause::Returned | ResetCause::Pf) {
            self.fold_counters(&mut self.ctl.lock());
        }
        let failed_before = self.reset_failures.load(Relaxed);
        if failed_before == 0 {
            dev_warn!(
                self.dev,
                "{}: {}; resetting the VF\n",
                self.name(),
                cause.describe()
            );
        }
        self.stop();
        let was_up = self.admin_up.load(Acquire);
        let replayed = {
            let mut ctl = self.ctl.lock();
            let before = ctl.pf;
            self.rebuild(&mut ctl, &before)
        };
        match replayed {
            Ok(replayed) => {
                // Counted when done: a failed attempt (the PF still in its own reset) is
                // retried, not counted.
                let n = self.resets.load(Relaxed).wrapping_add(1);
                self.resets.store(n, Relaxed);
                self.reset_failures.store(0, Relaxed);
                let api = self.ctl.lock().pf.api;
                dev_info!(
                    self.dev,
                    "{}: VF reset done (reset {}, after {} failed attempts), mailbox API {}, {} PF requests replayed\n",
                    self.name(),
                    n,
                    failed_before,
                    Api(api),
                    replayed
                );
                if was_up {
                    if let Err(e) = self.open() {
                        dev_err!(
                            self.dev,
                            "{}: cannot come back up after the reset: {:?}\n",
                            self.name(),
                            e
                        );
                    }
                }
            }
            Err(e) => {
                let failed = failed_before.saturating_add(1);
                self.reset_failures.store(failed, Relaxed);
                if mbx_vf::log_reset_failure(failed) {
                    dev_err!(
                        self.dev,
                        "{}: VF reset failed (attempt {}): {}; retrying in {} ms\n",
                        self.name(),
                        failed,
                        e,
                        mbx_vf::reset_retry_ms(failed)
                    );
                }
                // The service task keeps running while the interface is up, and retries.
                self.reset_requested.store(true, Relaxed);
            }
        }
    }

    /// Sends the Rx mode and multicast list the stack last asked for, if it changed.
    fn send_rx_mode(&self, ctl: &mut Control<'_>) {
        let req = {
            let mut r = self.rx_mode.lock();
            if !r.dirty {
                return;
            }
            r.dirty = false;
            (r.promisc, r.allmulti, r.mc)
        };
        let (promisc, allmulti, mc) = req;
        if let Err(e) = ctl.request(Request::SetMulticast(mc)) {
            dev_warn!(self.dev, "PF refused the multicast list: {:?}\n", e);
        }
        if ctl.pf.api.has_query_messages() {
            let mode = xcast_mode(promisc, allmulti, ctl.pf.api);
            if let Err(e) = ctl.request(Request::UpdateXcastMode(mode)) {
                dev_warn!(self.dev, "PF refused Rx mode {:?}: {:?}\n", mode, e);
                if mode == XcastMode::Promisc {
                    let _ = ctl.request(Request::UpdateXcastMode(XcastMode::AllMulti));
                }
            }
        }
    }

    /// ndo_set_rx_mode (atomic context): remember, and let the service task send it.
    fn set_rx_mode(&self, promisc: bool, allmulti: bool, addrs: &[MacAddr]) {
        {
            let mut r = self.rx_mode.lock();
            r.promisc = promisc;
            r.allmulti = allmulti;
            r.mc = McList::from_addrs(addrs);
            r.dirty = true;
        }
        if self.up.load(Acquire) {
            self.netdev.service_schedule(0);
        }
    }

    /// ndo_change_mtu (RTNL): tell the PF the new max frame while up; Rx buffers chain, so
    /// the rings stay as they are.
    fn change_mtu(&self, mtu: u32) -> Result {
        if self.netdev.xdp_attached() && !xdp::fits(mtu, RX_BUF_LEN) {
            dev_err!(
                self.dev,
                "{}: MTU {} refused: an XDP program is attached and frames must fit one {}-byte Rx buffer (MTU {} at most); detach it first\n",
                self.name(),
                mtu,
                RX_BUF_LEN,
                xdp::max_mtu(RX_BUF_LEN)
            );
            return Err(EINVAL);
        }
        if self.up.load(Acquire) && !self.id.hyperv {
            let max_frame = mtu.saturating_add(FRAME_OVERHEAD);
            let mut ctl = self.ctl.lock();
            if let Err(e) = ctl.request(Request::SetLpe { max_frame }) {
                let old = self.mtu.load(Relaxed);
                let old_frame = old.saturating_add(FRAME_OVERHEAD);
                // An 82599 PF that refuses a VF's frame size also stops the VF's Rx
                // (ixgbe_set_vf_lpe): asking again for the size in use turns it back on.
                let back = ctl.request(Request::SetLpe {
                    max_frame: old_frame,
                });
                dev_err!(
                    self.dev,
                    "{}: the PF refused max frame {} for MTU {} ({:?}; an 82599 PF running a 1500-byte MTU refuses jumbo frames to its VFs); keeping MTU {}{}\n",
                    self.name(),
                    max_frame,
                    mtu,
                    e,
                    old,
                    if back.is_ok() { "" } else { ", but the PF refused that too" }
                );
                return Err(EINVAL);
            }
        }
        self.mtu.store(mtu, Relaxed);
        Ok(())
    }

    /// ndo_bpf XDP_SETUP_PROG (RTNL): whether a program (`attach`; `frags` its multi-buffer
    /// flag) may run here. The shim swaps the program in; the rings need no change.
    fn xdp_check(
        &self,
        attach: bool,
        frags: bool,
    ) -> core::result::Result<(), (Error, &'static CStr)> {
        match xdp::check(attach, frags, self.mtu.load(Relaxed), RX_BUF_LEN) {
            Ok(()) => Ok(()),
            Err(xdp::Refusal::Frags) => Err((
                eopnotsupp(),
                c"compsc_vf: multi-buffer XDP (xdp.frags) is not supported: load a single-buffer program",
            )),
            Err(xdp::Refusal::Mtu) => Err((
                EINVAL,
                c"compsc_vf: XDP needs each frame in one 2 KiB Rx buffer: set the MTU to 2030 or less first",
            )),
        }
    }

    /// ndo_xdp_xmit: sends a prefix of `frames` (redirected here by XDP elsewhere) on the
    /// queue of this CPU; returns how many, or an errno. The caller frees the rest.
    fn xdp_xmit(&self, frames: &[*mut XdpFrameRaw], flush: bool) -> Result<u32> {
        let nq = self.queue_pairs().max(1);
        let q = shim::cpu() % nq;
        let qv = self.qv.get(q as usize).ok_or_else(enetdown)?;
        let _lock = self.netdev.txq_lock(q);
        if !self.up.load(Acquire) {
            return Err(enetdown());
        }
        // SAFETY: the Tx lock is held and `up` was read true under it.
        let rings = unsafe { qv.rings() }.ok_or_else(enetdown)?;
        let dev = DmaDev::new(self.dev);
        let mut sent = 0u32;
        for &raw in frames {
            let Some(f) = NonNull::new(raw) else { break };
            // SAFETY: ndo_xdp_xmit passes valid frames; ownership is ours until we give it
            // back (into_raw) for the caller to free.
            let f = unsafe { XdpFrame::from_raw(f) };
            let Some((dma, len)) = dev.xdp_map(&f) else {
                f.into_raw();
                break;
            };
            if let Err(f) = rings.tx.post_frame(f, dma, len, true) {
                dev.unmap_single(dma, len);
                f.into_raw();
                break;
            }
            sent = sent.saturating_add(1);
        }
        if sent != 0 && flush {
            rings.tx.kick(&self.io);
        }
        let stats = &qv.tx_stats;
        RingStats::add(&stats.xdp_xmit, u64::from(sent));
        // CAST: at most the frames' count, an i32 from the caller.
        let refused = (frames.len() as u64).saturating_sub(u64::from(sent));
        RingStats::add(&stats.xdp_xmit_errors, refused);
        Ok(sent)
    }

    /// ndo_vlan_rx_add_vid / kill_vid (RTNL).
    fn vlan(&self, vid: u16, add: bool) -> Result {
        if self.id.hyperv {
            return Err(eopnotsupp());
        }
        let mut ctl = self.ctl.lock();
        match ctl.request(Request::SetVlan { vid, add }) {
            Ok(_) => Ok(()),
            Err(e) => {
                dev_err!(
                    self.dev,
                    "PF refused VLAN {} {}: {:?}\n",
                    if add { "add" } else { "remove" },
                    vid,
                    e
                );
                Err(EIO)
            }
        }
    }

    /// Folds the VF's counters in (process context, `ctl` held) and publishes the multicast
    /// count for get_stats64.
    fn fold_counters(&self, ctl: &mut Control<'_>) {
        if let Err(e) = ctl.update_counters(self.gone.load(Relaxed)) {
            dev_dbg!(self.dev, "counters not sampled: {:?}\n", e);
        }
        self.hw_multicast
            .store(ctl.hw.get(CounterId::Mprc).value(), Relaxed);
    }

    /// ethtool -S, in [`STAT_NAMES`] order. Samples the VF's counters first.
    fn ethtool_stats(&self) -> [u64; STAT_NAMES.len()] {
        let (hw, emul, faults) = {
            let mut ctl = self.ctl.lock();
            self.fold_counters(&mut ctl);
            let faults = self.fault_totals(&ctl);
            (ctl.hw, ctl.emul.counts(), faults)
        };
        let [bad_len, bad_status, chain_overflow, mbx_bad, irq_storms] = faults;
        let irq_queue = self.irqs[..OTHER_VECTOR as usize]
            .iter()
            .fold(0u64, |a, c| a.wrapping_add(c.load(Relaxed)));
        // Per queue: rx packets, rx bytes, tx packets, tx bytes; then the sums.
        let mut per_q = [[0u64; 4]; MAX_QP];
        let mut errs = [0u64; 5];
        let mut xdp = [0u64; 8];
        for (qv, pq) in self.qv.iter().zip(per_q.iter_mut()) {
            let (rx, tx) = (&qv.rx_stats, &qv.tx_stats);
            *pq = [
                RingStats::get(&rx.packets),
                RingStats::get(&rx.bytes),
                RingStats::get(&tx.packets),
                RingStats::get(&tx.bytes),
            ];
            for (e, x) in errs.iter_mut().zip([
                RingStats::get(&rx.errors),
                RingStats::get(&rx.csum_errors),
                RingStats::get(&rx.alloc_failed),
                RingStats::get(&tx.dropped),
                qv.tx_timeouts.load(Relaxed),
            ]) {
                *e = e.wrapping_add(x);
            }
            for (c, x) in xdp.iter_mut().zip([
                &rx.xdp_pass,
                &rx.xdp_drop,
                &rx.xdp_tx,
                &rx.xdp_redirect,
                &rx.xdp_aborted,
                &rx.xdp_tx_errors,
                &tx.xdp_xmit,
                &tx.xdp_xmit_errors,
            ]) {
                *c = c.wrapping_add(RingStats::get(x));
            }
        }
        let sum = |i: usize| per_q.iter().fold(0u64, |a, q| a.wrapping_add(q[i]));
        let [q0, q1] = per_q;
        [
            sum(0),
            sum(1),
            sum(2),
            sum(3),
            q0[0],
            q0[1],
            q0[2],
            q0[3],
            q1[0],
            q1[1],
            q1[2],
            q1[3],
            errs[0],
            errs[1],
            errs[2],
            errs[3],
            errs[4],
            hw.get(CounterId::Gprc).value(),
            hw.get(CounterId::Gorc).value(),
            hw.get(CounterId::Gptc).value(),
            hw.get(CounterId::Gotc).value(),
            hw.get(CounterId::Mprc).value(),
            self.resets.load(Relaxed),
            self.freezes.load(Relaxed),
            self.restores.load(Relaxed),
            emul.reads,
            emul.writes,
            emul.refused,
            bad_len,
            bad_status,
            chain_overflow,
            self.tx_hangs.load(Relaxed),
            self.gone_events.load(Relaxed),
            mbx_bad,
            irq_storms,
            irq_queue,
            self.irqs[OTHER_VECTOR as usize].load(Relaxed),
            xdp[0],
            xdp[1],
            xdp[2],
            xdp[3],
            xdp[4],
            xdp[5],
            xdp[6],
            xdp[7],
        ]
    }

    /// ethtool -G (RTNL): new ring sizes, applied by closing and reopening the data path.
    fn set_ringparam(&self, tx: u32, rx: u32) -> core::result::Result<(), (Error, &'static CStr)> {
        const WHY: &CStr = c"ring sizes must be powers of two from 64 to 4096";
        if RingSize::new(tx).is_none() || RingSize::new(rx).is_none() {
            return Err((EINVAL, WHY));
        }
        if tx == self.tx_count.load(Relaxed) && rx == self.rx_count.load(Relaxed) {
            return Ok(());
        }
        if self.ctl.lock().frozen() {
            return Err((EBUSY, c"the VF is frozen for a live migration"));
        }
        let (old_tx, old_rx) = (self.tx_count.load(Relaxed), self.rx_count.load(Relaxed));
        self.tx_count.store(tx, Relaxed);
        self.rx_count.store(rx, Relaxed);
        if !self.up.load(Acquire) {
            return Ok(());
        }
        self.stop_data_path(false);
        if let Err(e) = self.open() {
            dev_err!(
                self.dev,
                "{}: cannot bring the rings up at {} Tx / {} Rx descriptors: {:?}; back to {} / {}\n",
                self.name(),
                tx,
                rx,
                e,
                old_tx,
                old_rx
            );
            self.tx_count.store(old_tx, Relaxed);
            self.rx_count.store(old_rx, Relaxed);
            let _ = self.open();
            return Err((e, c"the new ring sizes could not be allocated"));
        }
        dev_info!(
            self.dev,
            "{}: rings now {} Tx / {} Rx descriptors\n",
            self.name(),
            tx,
            rx
        );
        Ok(())
    }

    /// ethtool -L combined (RTNL): how many of the granted queue pairs are used; the data
    /// path is rebuilt with the new count, the rest of the configuration stays.
    fn set_channels(&self, n: u32) -> core::result::Result<(), (Error, &'static CStr)> {
        if n == 0 || n > self.max_nq {
            return Err((
                EINVAL,
                c"more combined channels than the queue pairs the PF granted (ethtool -l shows them)",
            ));
        }
        if n == self.queue_pairs() {
            return Ok(());
        }
        if self.ctl.lock().frozen() {
            return Err((EBUSY, c"the VF is frozen for a live migration"));
        }
        let up = self.up.load(Acquire);
        if up {
            self.stop_data_path(false);
        }
        self.nq.store(n, Relaxed);
        self.netdev.set_queues(n);
        if up {
            if let Err(e) = self.open() {
                dev_err!(
                    self.dev,
                    "{}: cannot bring {} queue pairs up: {:?}\n",
                    self.name(),
                    n,
                    e
                );
                return Err((e, c"the data path did not come back up"));
            }
        }
        dev_info!(self.dev, "{}: {} queue pairs in use\n", self.name(), n);
        Ok(())
    }

    /// ethtool -C rx-usecs (RTNL): the queue vector's throttle interval.
    fn set_coalesce(&self, usecs: u32) -> core::result::Result<(), (Error, &'static CStr)> {
        let Some(eitr) = vteitr::from_usecs(usecs) else {
            return Err((EINVAL, c"rx-usecs above 1022 (the VTEITR interval field)"));
        };
        let mut ctl = self.ctl.lock();
        if ctl.frozen() {
            return Err((EBUSY, c"the VF is frozen for a live migration"));
        }
        self.itr_usecs.store(usecs, Relaxed);
        if self.up.load(Acquire) {
            for (q, _) in self.queues() {
                if let Err(e) = ctl.emul.write(Reg::VTEITR, q, eitr) {
                    dev_err!(self.dev, "cannot write VTEITR: {:?}\n", e);
                    return Err((EIO, c"the throttle register could not be written"));
                }
            }
        }
        Ok(())
    }

    /// ethtool -d: the register dump of `report::dump` (zeros for what the device holds,
    /// while the VF must not be touched).
    fn regs(&self, out: &mut [u32]) {
        let mut ctl = self.ctl.lock();
        if ctl.frozen() || self.gone.load(Relaxed) {
            out.iter_mut().for_each(|w| *w = 0);
            return;
        }
        report::dump(&mut ctl.emul, out);
    }

    /// ethtool -t (RTNL): the link test, and offline the register test, after which the VF
    /// is reset and the configuration replayed, as ixgbevf does. Returns whether a test
    /// failed; `out` gets 0 for a pass, 1 for a failure, in `diag::TEST_NAMES` order.
    fn self_test(&self, offline: bool, out: &mut [u64; 2]) -> bool {
        *out = [0, 0];
        let mut ctl = self.ctl.lock();
        if ctl.frozen() || self.gone.load(Relaxed) {
            *out = [u64::from(offline), 1];
            return true;
        }
        let links = ctl.emul.read(Reg::VFLINKS, 0).unwrap_or(u32::MAX);
        out[1] = u64::from(!diag::link_test(links));
        if offline && !ctl.hyperv {
            drop(ctl);
            self.stop_data_path(false);
            let mut ctl = self.ctl.lock();
            if let Err(e) = diag::register_test(&mut ctl.emul) {
                dev_err!(self.dev, "{}: register test failed: {:?}\n", self.name(), e);
                out[0] = 1;
            }
            let pf = ctl.pf;
            if let Err(e) = self.rebuild(&mut ctl, &pf) {
                dev_err!(
                    self.dev,
                    "{}: VF reset after the self test failed: {}\n",
                    self.name(),
                    e
                );
                self.reset_requested.store(true, Relaxed);
            }
            drop(ctl);
            if self.admin_up.load(Acquire) {
                if let Err(e) = self.open() {
                    dev_err!(
                        self.dev,
                        "{}: cannot come back up after the self test: {:?}\n",
                        self.name(),
                        e
                    );
                }
            }
        }
        out.iter().any(|r| *r != 0)
    }

    /// The debugfs files: what the self-emulation layer and the PF session hold.
    fn show(&self, what: Show, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        let ctl = self.ctl.lock();
        match what {
            Show::Log => report::write_log(ctl.emul.log(), f),
            Show::Pf => report::write_pf(&ctl.pf, f),
            Show::Counters => report::write_counters(&ctl.hw, f),
            Show::State => {
                let c = ctl.emul.counts();
                writeln!(f, "mac_type        {}", ctl.emul.mac().name)?;
                writeln!(f, "up              {}", self.up.load(Relaxed))?;
                writeln!(f, "gone            {}", self.gone.load(Relaxed))?;
                writeln!(
                    f,
                    "doorbell        {}",
                    if ctl.bell.is_some() {
                        "present"
                    } else {
                        "absent"
                    }
                )?;
                writeln!(f, "frozen          {}", ctl.frozen())?;
                writeln!(f, "dirtying        {}", self.dirtying.load(Relaxed))?;
                writeln!(
                    f,
                    "rings           tx {} rx {}",
                    self.tx_count.load(Relaxed),
                    self.rx_count.load(Relaxed)
                )?;
                writeln!(f, "rx_usecs        {}", self.itr_usecs.load(Relaxed))?;
                writeln!(f, "emul_reads      {}", c.reads)?;
                writeln!(f, "emul_writes     {}", c.writes)?;
                writeln!(f, "emul_refused    {}", c.refused)?;
                writeln!(f, "vf_resets       {}", self.resets.load(Relaxed))?;
                writeln!(f, "freezes         {}", self.freezes.load(Relaxed))?;
                writeln!(f, "restores        {}", self.restores.load(Relaxed))
            }
        }
    }

    fn tx_timeout(&self, q: u32) {
        let Some(qv) = self.qv.get(q as usize) else {
            return;
        };
        let n = qv.tx_timeouts.load(Relaxed).wrapping_add(1);
        qv.tx_timeouts.store(n, Relaxed);
        dev_warn!(
            self.dev,
            "{}: Tx queue {} timed out ({} so far)\n",
            self.name(),
            q,
            n
        );
    }
}

/// What an MSI-X vector serves.
#[derive(Clone, Copy)]
pub(crate) enum VectorKind {
    /// A queue pair: auto-mask has masked it; schedule its NAPI.
    Queue(Napi),
    /// The mailbox: link or PF message; the service task handles it.
    Mailbox(Kicker),
}

/// A vector's hard interrupt handler; a vector beyond the queues and the mailbox in use
/// serves nothing.
#[pin_data]
pub(crate) struct VectorIrq {
    what: Option<VectorKind>,
    /// The adapter's count for this vector (null for a vector that serves nothing).
    count: *const Atomic<u64>,
}

// SAFETY: `count` points at an atomic in the adapter, which outlives the registration
// (`Adapter::vector_irq`'s contract); atomics may be used from any context.
unsafe impl Send for VectorIrq {}
// SAFETY: as above.
unsafe impl Sync for VectorIrq {}

impl VectorIrq {
    /// The hard interrupt: count it, then schedule the vector's NAPI or kick the service
    /// task. False for a vector that serves nothing (IRQ_NONE).
    pub(crate) fn on_irq(&self) -> bool {
        // SAFETY: non-null `count` points into the adapter, alive while the handler is
        // registered (see above).
        if let Some(c) = unsafe { self.count.as_ref() } {
            // One handler runs at a time per vector: the relaxed add is exact.
            c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
        }
        match self.what {
            Some(VectorKind::Queue(napi)) => napi.schedule_irq(),
            Some(VectorKind::Mailbox(kick)) => kick.kick(),
            None => return false,
        }
        true
    }
}

/// The adapter behind a netdev's `ctx`.
///
/// # Safety
///
/// `ctx` must be the pointer [`Adapter::new`] gave the netdev, and the netdev must still be
/// registered or being unregistered (the adapter outlives it).
unsafe fn adapter<'a>(ctx: *mut c_void) -> &'a Adapter<'a> {
    // SAFETY: per the contract above.
    unsafe { &*ctx.cast::<Adapter<'a>>() }
}

/// ndo_open.
#[no_mangle]
extern "C" fn compsc_rs_open(ctx: *mut c_void) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx.
    let a = unsafe { adapter(ctx) };
    a.admin_up.store(true, Release);
    match a.open() {
        Ok(()) => 0,
        Err(e) => {
            dev_err!(
                a.dev,
                "{}: cannot bring the interface up: {:?}\n",
                a.name(),
                e
            );
            e.to_errno()
        }
    }
}

/// ndo_stop.
#[no_mangle]
extern "C" fn compsc_rs_stop(ctx: *mut c_void) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx.
    let a = unsafe { adapter(ctx) };
    a.admin_up.store(false, Release);
    a.stop();
    0
}

/// ndo_start_xmit; non-zero means NETDEV_TX_BUSY.
#[no_mangle]
extern "C" fn compsc_rs_xmit(ctx: *mut c_void, skb: *mut SkBuff, queue: u16) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx.
    let a = unsafe { adapter(ctx) };
    // SAFETY: the stack hands the skb over to xmit.
    match unsafe { Skb::from_raw(skb) } {
        Some(skb) => i32::from(a.xmit(skb, u32::from(queue))),
        None => 0,
    }
}

/// The NAPI poll of vector `idx`.
#[no_mangle]
extern "C" fn compsc_rs_poll(ctx: *mut c_void, idx: u32, budget: i32) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx.
    unsafe { adapter(ctx) }.poll(idx, budget)
}

/// The service task.
#[no_mangle]
extern "C" fn compsc_rs_service(ctx: *mut c_void) {
    // SAFETY: called by the shim with the netdev's ctx; the task is cancelled before the
    // adapter goes.
    unsafe { adapter(ctx) }.service();
}

/// ndo_get_stats64.
#[no_mangle]
extern "C" fn compsc_rs_stats(ctx: *mut c_void, out: *mut u64, n: u32) {
    // SAFETY: called by the shim with the netdev's ctx.
    let v = unsafe { adapter(ctx) }.stats();
    for (i, x) in v.iter().enumerate().take(n as usize) {
        // SAFETY: the shim passes an array of `n` u64.
        unsafe { out.add(i).write(*x) };
    }
}

/// ethtool -S names: totals, queue 0 (the only queue pair), errors, the VF's own counters
/// (continuous across resets and migrations), resets and doorbell commands, and the
/// self-emulation layer's accesses.
const STAT_NAMES: [&str; 45] = [
    "rx_packets",
    "rx_bytes",
    "tx_packets",
    "tx_bytes",
    "rx_queue_0_packets",
    "rx_queue_0_bytes",
    "tx_queue_0_packets",
    "tx_queue_0_bytes",
    "rx_queue_1_packets",
    "rx_queue_1_bytes",
    "tx_queue_1_packets",
    "tx_queue_1_bytes",
    "rx_errors",
    "rx_csum_errors",
    "rx_alloc_failed",
    "tx_dropped",
    "tx_timeouts",
    "hw_rx_packets",
    "hw_rx_bytes",
    "hw_tx_packets",
    "hw_tx_bytes",
    "hw_rx_multicast",
    "vf_resets",
    "doorbell_freezes",
    "doorbell_restores",
    "emul_reads",
    "emul_writes",
    "emul_refused",
    // Device faults, in `fault_totals` order where the core names them.
    Fault::RxBadLength.stat_name(),
    Fault::RxBadStatus.stat_name(),
    Fault::RxChainOverflow.stat_name(),
    "tx_hangs",
    "vf_gone",
    Fault::MbxBadMessage.stat_name(),
    Fault::IrqStorm.stat_name(),
    "irq_queue",
    "irq_mailbox",
    // XDP verdicts on Rx, and frames redirected here for Tx.
    "rx_xdp_pass",
    "rx_xdp_drop",
    "rx_xdp_tx",
    "rx_xdp_redirect",
    "rx_xdp_aborted",
    "rx_xdp_tx_errors",
    "tx_xdp_xmit",
    "tx_xdp_xmit_errors",
];

/// Words of one queue's qstats (`compsc_rs_qstats`): Rx packets, bytes, allocation failures,
/// bad checksums; Tx packets, bytes.
const QSTATS: usize = 6;

/// netdev_stat_ops: queue `idx`'s counters into `out` ([`QSTATS`] words); false for a queue
/// not in use.
#[no_mangle]
extern "C" fn compsc_rs_qstats(ctx: *mut c_void, idx: u32, out: *mut u64) -> bool {
    // SAFETY: called by the shim with the netdev's ctx.
    let Some(v) = (unsafe { adapter(ctx) }).qstats(idx) else {
        return false;
    };
    for (i, x) in v.iter().enumerate() {
        // SAFETY: the shim passes an array of QSTATS u64.
        unsafe { out.add(i).write(*x) };
    }
    true
}

/// netdev_stat_ops: the base, [`QSTATS`] words into `out`.
#[no_mangle]
extern "C" fn compsc_rs_qstats_base(ctx: *mut c_void, out: *mut u64) {
    // SAFETY: called by the shim with the netdev's ctx.
    let v = unsafe { adapter(ctx) }.qstats_base();
    for (i, x) in v.iter().enumerate() {
        // SAFETY: the shim passes an array of QSTATS u64.
        unsafe { out.add(i).write(*x) };
    }
}

/// ethtool get_rxfh: the PF's RSS table into `indir` (128 entries) and key into `key` (40
/// bytes); 0, or a negative errno.
#[no_mangle]
extern "C" fn compsc_rs_rss(ctx: *mut c_void, indir: *mut u32, key: *mut u8) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx, in process context (RTNL).
    match unsafe { adapter(ctx) }.rss() {
        Ok((reta, k)) => {
            for (i, e) in reta.iter().enumerate() {
                // SAFETY: the shim passes 128 u32 (PF_RETA_ENTRIES).
                unsafe { indir.add(i).write(u32::from(*e)) };
            }
            for (i, b) in k.iter().enumerate() {
                // SAFETY: the shim passes 40 bytes (RSS_KEY_LEN).
                unsafe { key.add(i).write(*b) };
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// ethtool get_eth_mac_stats: five words into `out` (see `Adapter::eth_mac_stats`).
#[no_mangle]
extern "C" fn compsc_rs_eth_mac_stats(ctx: *mut c_void, out: *mut u64) {
    // SAFETY: called by the shim with the netdev's ctx, in process context.
    let v = unsafe { adapter(ctx) }.eth_mac_stats();
    for (i, x) in v.iter().enumerate() {
        // SAFETY: the shim passes an array of five u64.
        unsafe { out.add(i).write(*x) };
    }
}

/// The adapter as the debugfs files see it: the netdev's `ctx` pointer.
pub(crate) struct AdapterRef(*mut c_void);

// SAFETY: the files only call `Adapter::show`, which locks what it reads; the adapter is
// Sync.
unsafe impl Send for AdapterRef {}
// SAFETY: as above.
unsafe impl Sync for AdapterRef {}

impl AdapterRef {
    /// A handle on `a` for its debugfs files.
    ///
    /// # Safety
    ///
    /// The files made with it must be removed before `a` is dropped.
    pub(crate) unsafe fn new(a: &Adapter<'_>) -> Self {
        AdapterRef(core::ptr::from_ref(a).cast_mut().cast())
    }

    /// Writes debugfs file `what`.
    pub(crate) fn show(
        &self,
        what: Show,
        f: &mut kernel::fmt::Formatter<'_>,
    ) -> kernel::fmt::Result {
        // SAFETY: per `new`'s contract the adapter is alive while its files exist.
        unsafe { adapter(self.0) }.show(what, f)
    }
}

/// Which debugfs file.
#[derive(Clone, Copy)]
pub(crate) enum Show {
    Log,
    Pf,
    Counters,
    State,
}

/// Copies `names` into ethtool's table of `ETH_GSTRING_LEN`-byte strings at `out`.
///
/// # Safety
///
/// `out` must hold `names.len()` strings of [`shim::GSTRING_LEN`] bytes.
unsafe fn put_strings(names: &[&str], out: *mut u8) {
    for (i, name) in names.iter().enumerate() {
        let b = name.as_bytes();
        let n = b.len().min(shim::GSTRING_LEN - 1);
        for j in 0..shim::GSTRING_LEN {
            let c = if j < n {
                b.get(j).copied().unwrap_or(0)
            } else {
                0
            };
            // SAFETY: per the contract above, `i * GSTRING_LEN + j` is inside the table.
            unsafe { out.add(i * shim::GSTRING_LEN + j).write(c) };
        }
    }
}

/// ethtool string sets: how many strings set `set` has (`COMPSC_SS_*` of shim.h).
#[no_mangle]
extern "C" fn compsc_rs_sset_count(set: u32) -> i32 {
    match set {
        SS_STATS => STAT_NAMES.len() as i32,
        SS_TEST => diag::TEST_NAMES.len() as i32,
        // A negative errno, as get_sset_count returns.
        _ => eopnotsupp().to_errno(),
    }
}

/// ethtool string sets: the strings of set `set`.
#[no_mangle]
extern "C" fn compsc_rs_strings(set: u32, out: *mut u8) {
    let names: &[&str] = match set {
        SS_STATS => &STAT_NAMES,
        SS_TEST => &diag::TEST_NAMES,
        _ => return,
    };
    // SAFETY: ethtool sized `out` with compsc_rs_sset_count(set), `names.len()` strings.
    unsafe { put_strings(names, out) };
}

/// `COMPSC_SS_*` of shim.h (ethtool's ETH_SS_TEST and ETH_SS_STATS).
const SS_TEST: u32 = 0;
const SS_STATS: u32 = 1;

/// ethtool -S, `compsc_rs_sset_count(SS_STATS)` values.
#[no_mangle]
extern "C" fn compsc_rs_ethtool_stats(ctx: *mut c_void, out: *mut u64) {
    // SAFETY: called by the shim with the netdev's ctx.
    let v = unsafe { adapter(ctx) }.ethtool_stats();
    for (i, x) in v.iter().enumerate() {
        // SAFETY: ethtool passes an array of compsc_rs_sset_count(SS_STATS) u64.
        unsafe { out.add(i).write(*x) };
    }
}

/// ethtool -g: the ring sizes in use and the largest the driver accepts.
#[no_mangle]
extern "C" fn compsc_rs_ringparam(ctx: *mut c_void, tx: *mut u32, rx: *mut u32, max: *mut u32) {
    // SAFETY: called by the shim with the netdev's ctx.
    let a = unsafe { adapter(ctx) };
    // SAFETY: the shim passes three valid u32 out-pointers.
    unsafe {
        tx.write(a.tx_count.load(Relaxed));
        rx.write(a.rx_count.load(Relaxed));
        max.write(RingSize::MAX);
    }
}

/// Writes `why` (a static string) to `msg` for the extack, returns the errno.
fn refused(r: core::result::Result<(), (Error, &'static CStr)>, msg: *mut *const u8) -> i32 {
    match r {
        Ok(()) => 0,
        Err((e, why)) => {
            // SAFETY: the shim passes a valid out-pointer; `why` is static.
            unsafe { msg.write(why.as_char_ptr().cast()) };
            e.to_errno()
        }
    }
}

/// ethtool -G; on failure `*msg` is the extack message.
#[no_mangle]
extern "C" fn compsc_rs_set_ringparam(
    ctx: *mut c_void,
    tx: u32,
    rx: u32,
    msg: *mut *const u8,
) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx.
    refused(unsafe { adapter(ctx) }.set_ringparam(tx, rx), msg)
}

/// ethtool -l: queue pairs granted and in use.
#[no_mangle]
extern "C" fn compsc_rs_channels(ctx: *mut c_void, max: *mut u32, count: *mut u32) {
    // SAFETY: called by the shim with the netdev's ctx.
    let a = unsafe { adapter(ctx) };
    // SAFETY: the shim passes two valid u32 out-pointers.
    unsafe {
        max.write(a.max_nq);
        count.write(a.queue_pairs());
    }
}

/// ethtool -L combined; on failure `*msg` is the extack message.
#[no_mangle]
extern "C" fn compsc_rs_set_channels(ctx: *mut c_void, n: u32, msg: *mut *const u8) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx.
    refused(unsafe { adapter(ctx) }.set_channels(n), msg)
}

/// ethtool -c: rx-usecs.
#[no_mangle]
extern "C" fn compsc_rs_get_coalesce(ctx: *mut c_void) -> u32 {
    // SAFETY: called by the shim with the netdev's ctx.
    unsafe { adapter(ctx) }.itr_usecs.load(Relaxed)
}

/// ethtool -C rx-usecs; on failure `*msg` is the extack message.
#[no_mangle]
extern "C" fn compsc_rs_set_coalesce(ctx: *mut c_void, usecs: u32, msg: *mut *const u8) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx.
    refused(unsafe { adapter(ctx) }.set_coalesce(usecs), msg)
}

/// ethtool -d: bytes of the dump and its layout version.
#[no_mangle]
extern "C" fn compsc_rs_regs_len(version: *mut u32) -> u32 {
    if !version.is_null() {
        // SAFETY: a non-null pointer from the shim is valid.
        unsafe { version.write(report::DUMP_VERSION) };
    }
    (report::DUMP_WORDS * 4) as u32
}

/// ethtool -d: fills `out` (`compsc_rs_regs_len` bytes, 4-byte aligned by ethtool).
#[no_mangle]
extern "C" fn compsc_rs_regs(ctx: *mut c_void, out: *mut u32) {
    // SAFETY: ethtool allocated compsc_rs_regs_len() bytes at `out`, u32-aligned (it
    // kvzalloc()s them), and nothing else refers to them during the call.
    let words = unsafe { core::slice::from_raw_parts_mut(out, report::DUMP_WORDS) };
    // SAFETY: called by the shim with the netdev's ctx.
    unsafe { adapter(ctx) }.regs(words);
}

/// ethtool -t: returns non-zero when a test failed; `out` gets one result per test.
#[no_mangle]
extern "C" fn compsc_rs_self_test(ctx: *mut c_void, offline: bool, out: *mut u64) -> bool {
    let mut r = [0u64; 2];
    // SAFETY: called by the shim with the netdev's ctx.
    let failed = unsafe { adapter(ctx) }.self_test(offline, &mut r);
    for (i, x) in r.iter().enumerate() {
        // SAFETY: ethtool passes compsc_rs_sset_count(SS_TEST) u64.
        unsafe { out.add(i).write(*x) };
    }
    failed
}

/// ndo_change_mtu.
#[no_mangle]
extern "C" fn compsc_rs_change_mtu(ctx: *mut c_void, mtu: u32) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx.
    match unsafe { adapter(ctx) }.change_mtu(mtu) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// ndo_bpf XDP_SETUP_PROG; on refusal `*msg` is the extack message.
#[no_mangle]
extern "C" fn compsc_rs_xdp_check(
    ctx: *mut c_void,
    attach: bool,
    frags: bool,
    msg: *mut *const u8,
) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx.
    refused(unsafe { adapter(ctx) }.xdp_check(attach, frags), msg)
}

/// ndo_xdp_xmit: `n` frames at `frames`; returns how many were sent, or a negative errno.
#[no_mangle]
extern "C" fn compsc_rs_xdp_xmit(
    ctx: *mut c_void,
    frames: *mut *mut XdpFrameRaw,
    n: i32,
    flush: bool,
) -> i32 {
    let Ok(n) = usize::try_from(n) else {
        return EINVAL.to_errno();
    };
    if frames.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: the stack passes an array of `n` frame pointers.
    let frames = unsafe { core::slice::from_raw_parts(frames, n) };
    // SAFETY: called by the shim with the netdev's ctx.
    match unsafe { adapter(ctx) }.xdp_xmit(frames, flush) {
        // CAST: at most `n`, an i32.
        Ok(sent) => sent as i32,
        Err(e) => e.to_errno(),
    }
}

/// ndo_vlan_rx_add_vid / ndo_vlan_rx_kill_vid.
#[no_mangle]
extern "C" fn compsc_rs_vlan(ctx: *mut c_void, vid: u16, add: bool) -> i32 {
    // SAFETY: called by the shim with the netdev's ctx.
    match unsafe { adapter(ctx) }.vlan(vid, add) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// ndo_set_rx_mode: `count` multicast addresses at `addrs` (at most `COMPSC_MAX_MC`).
#[no_mangle]
extern "C" fn compsc_rs_rx_mode(ctx: *mut c_void, flags: u32, addrs: *const u8, count: u32) {
    let mut list = [MacAddr([0; 6]); MAX_MC_HASHES];
    let n = (count as usize).min(list.len());
    for (i, slot) in list.iter_mut().take(n).enumerate() {
        let mut a = [0u8; 6];
        for (j, b) in a.iter_mut().enumerate() {
            // SAFETY: the shim passes `count` addresses of six bytes; `i < count`.
            *b = unsafe { addrs.add(i * 6 + j).read() };
        }
        *slot = MacAddr(a);
    }
    // SAFETY: called by the shim with the netdev's ctx.
    unsafe { adapter(ctx) }.set_rx_mode(
        flags & RX_PROMISC != 0,
        flags & RX_ALLMULTI != 0,
        list.get(..n).unwrap_or(&[]),
    );
}

/// `COMPSC_RX_*` of shim.h.
const RX_PROMISC: u32 = 1;
const RX_ALLMULTI: u32 = 2;

/// ndo_tx_timeout.
#[no_mangle]
extern "C" fn compsc_rs_tx_timeout(ctx: *mut c_void, queue: u32) {
    // SAFETY: called by the shim with the netdev's ctx.
    unsafe { adapter(ctx) }.tx_timeout(queue);
}
