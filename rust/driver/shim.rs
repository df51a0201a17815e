// SPDX-License-Identifier: GPL-2.0

//! The C shim (`shim.c`, prototypes in `shim.h`) and small owned wrappers over it.
//!
//! Only opaque pointers and scalars cross: the C side owns every `net_device`, NAPI, skb and
//! page_pool layout. Each `unsafe` call is here, with the reason it is sound; the driver above
//! uses the wrappers and stays safe Rust.

use crate::compsc_core::desc::{TxOffload, L4};
use core::ffi::{c_int, c_void};
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};

/// Bytes of one ethtool string (`ETH_GSTRING_LEN`).
pub(crate) const GSTRING_LEN: usize = 32;

/// `struct net_device`, opaque.
#[repr(C)]
pub(crate) struct NetDevice {
    _opaque: [u8; 0],
}
/// `struct device`, opaque (the bindings' own type is not FFI-clean).
#[repr(C)]
pub(crate) struct DeviceRaw {
    _opaque: [u8; 0],
}
/// `struct pci_dev`, opaque.
#[repr(C)]
pub(crate) struct PciDevRaw {
    _opaque: [u8; 0],
}
/// `struct sk_buff`, opaque.
#[repr(C)]
pub(crate) struct SkBuff {
    _opaque: [u8; 0],
}
/// `struct page`, opaque.
#[repr(C)]
pub(crate) struct Page {
    _opaque: [u8; 0],
}
/// `struct page_pool`, opaque.
#[repr(C)]
pub(crate) struct PagePoolRaw {
    _opaque: [u8; 0],
}
/// The shim's `struct compsc_napi` (a `napi_struct` and its queue vector), opaque.
#[repr(C)]
pub(crate) struct NapiRaw {
    _opaque: [u8; 0],
}
/// `struct bpf_prog`, opaque.
#[repr(C)]
pub(crate) struct BpfProg {
    _opaque: [u8; 0],
}
/// `struct xdp_frame`, opaque.
#[repr(C)]
pub(crate) struct XdpFrameRaw {
    _opaque: [u8; 0],
}
/// `struct xdp_rxq_info`, opaque.
#[repr(C)]
pub(crate) struct XdpRxqRaw {
    _opaque: [u8; 0],
}

extern "C" {
    fn compsc_netdev_alloc(parent: *mut DeviceRaw, ctx: *mut c_void, queues: u32)
        -> *mut NetDevice;
    fn compsc_netdev_register(nd: *mut NetDevice) -> c_int;
    fn compsc_netdev_unregister(nd: *mut NetDevice);
    fn compsc_netdev_free(nd: *mut NetDevice);
    fn compsc_netdev_set_addr(nd: *mut NetDevice, addr: *const u8);
    fn compsc_netdev_random_addr(nd: *mut NetDevice, out: *mut u8);
    fn compsc_netdev_set_mtu_range(nd: *mut NetDevice, min: u32, max: u32);
    fn compsc_netdev_name(nd: *mut NetDevice, out: *mut u8, len: u32);
    fn compsc_netdev_carrier(nd: *mut NetDevice, on: bool);
    fn compsc_netdev_notify_peers(nd: *mut NetDevice);
    fn compsc_netdev_set_queues(nd: *mut NetDevice, queues: u32);
    fn compsc_tx_start_all(nd: *mut NetDevice);
    fn compsc_tx_disable_all(nd: *mut NetDevice);
    fn compsc_dev_name(dev: *mut DeviceRaw, out: *mut u8, len: u32);
    fn compsc_netdev_detach(nd: *mut NetDevice);
    fn compsc_netdev_attach(nd: *mut NetDevice);
    fn compsc_txq_stop(nd: *mut NetDevice, q: u32);
    fn compsc_txq_stopped(nd: *mut NetDevice, q: u32) -> bool;
    fn compsc_txq_wake(nd: *mut NetDevice, q: u32);
    fn compsc_txq_sent(nd: *mut NetDevice, q: u32, bytes: u32) -> bool;
    fn compsc_txq_completed(nd: *mut NetDevice, q: u32, pkts: u32, bytes: u32);
    fn compsc_txq_reset(nd: *mut NetDevice, q: u32);
    fn compsc_pci_save_state(pdev: *mut PciDevRaw);
    fn compsc_napi_set_irq(n: *mut NapiRaw, pdev: *mut PciDevRaw, v: u32);
    fn compsc_pci_restore_state(pdev: *mut PciDevRaw);
    fn compsc_virt_to_phys(p: *const u8) -> u64;
    fn compsc_page_touch(page: *mut Page);
    fn compsc_napi_schedule(n: *mut NapiRaw);
    fn compsc_rtnl_lock();
    fn compsc_rtnl_unlock();
    fn compsc_service_schedule(nd: *mut NetDevice, ms: u32);
    fn compsc_service_cancel(nd: *mut NetDevice);
    fn compsc_napi_add(nd: *mut NetDevice, idx: u32) -> *mut NapiRaw;
    fn compsc_napi_enable(n: *mut NapiRaw);
    fn compsc_napi_disable(n: *mut NapiRaw);
    fn compsc_napi_schedule_irq(n: *mut NapiRaw);
    fn compsc_napi_complete_done(n: *mut NapiRaw, done: c_int) -> bool;
    fn compsc_skb_len(skb: *mut SkBuff) -> u32;
    fn compsc_skb_headlen(skb: *mut SkBuff) -> u32;
    fn compsc_skb_nr_frags(skb: *mut SkBuff) -> u32;
    fn compsc_skb_frag_len(skb: *mut SkBuff, i: u32) -> u32;
    fn compsc_skb_tx_info(skb: *mut SkBuff, out: *mut TxInfo) -> c_int;
    fn compsc_skb_pad(skb: *mut SkBuff, len: u32) -> c_int;
    fn compsc_skb_map_head(dev: *mut DeviceRaw, skb: *mut SkBuff, dma: *mut u64) -> c_int;
    fn compsc_skb_map_frag(
        dev: *mut DeviceRaw,
        skb: *mut SkBuff,
        i: u32,
        dma: *mut u64,
        len: *mut u32,
    ) -> c_int;
    fn compsc_dma_unmap_single(dev: *mut DeviceRaw, dma: u64, len: u32);
    fn compsc_dma_unmap_page(dev: *mut DeviceRaw, dma: u64, len: u32);
    fn compsc_skb_free_any(skb: *mut SkBuff);
    fn compsc_skb_consume(skb: *mut SkBuff, budget: c_int);
    fn compsc_page_size() -> u32;
    fn compsc_rx_headroom() -> u32;
    fn compsc_pp_create(
        dev: *mut DeviceRaw,
        n: *mut NapiRaw,
        nd: *mut NetDevice,
        q: u32,
        size: u32,
        max_len: u32,
    ) -> *mut PagePoolRaw;
    fn compsc_pp_destroy(pp: *mut PagePoolRaw);
    fn compsc_pp_alloc(pp: *mut PagePoolRaw, dma: *mut u64) -> *mut Page;
    fn compsc_pp_put(pp: *mut PagePoolRaw, page: *mut Page);
    fn compsc_pp_sync_for_cpu(pp: *mut PagePoolRaw, page: *mut Page, len: u32);
    fn compsc_rx_build_skb(n: *mut NapiRaw, page: *mut Page, off: u32, len: u32) -> *mut SkBuff;
    fn compsc_rx_add_frag(skb: *mut SkBuff, page: *mut Page, len: u32);
    fn compsc_rx_deliver(
        n: *mut NapiRaw,
        skb: *mut SkBuff,
        q: u32,
        csum_ok: u32,
        vlan: u32,
        hash: u32,
        hash_type: u32,
    );
    fn compsc_xdp_rxq_new(n: *mut NapiRaw, q: u32, pp: *mut PagePoolRaw) -> *mut XdpRxqRaw;
    fn compsc_xdp_rxq_free(rxq: *mut XdpRxqRaw);
    fn compsc_xdp_prog(n: *mut NapiRaw) -> *mut BpfProg;
    fn compsc_xdp_run(
        prog: *mut BpfProg,
        rxq: *mut XdpRxqRaw,
        page: *mut Page,
        off: *mut u32,
        len: *mut u32,
        tx: *mut *mut XdpFrameRaw,
    ) -> u32;
    fn compsc_xdp_flush();
    fn compsc_xdp_exception(nd: *mut NetDevice, prog: *mut BpfProg, act: u32);
    fn compsc_xdp_return(f: *mut XdpFrameRaw);
    fn compsc_xdp_tx_dma(dev: *mut DeviceRaw, f: *mut XdpFrameRaw, len: *mut u32) -> u64;
    fn compsc_xdp_map(
        dev: *mut DeviceRaw,
        f: *mut XdpFrameRaw,
        dma: *mut u64,
        len: *mut u32,
    ) -> c_int;
    fn compsc_txq_lock(nd: *mut NetDevice, q: u32);
    fn compsc_txq_unlock(nd: *mut NetDevice, q: u32);
    fn compsc_cpu() -> u32;
    fn compsc_xdp_attached(nd: *mut NetDevice) -> bool;
}

/// The shim's `struct compsc_tx_info`: seven `u32`, so its layout is the same in C and Rust.
#[repr(C)]
#[derive(Default)]
struct TxInfo {
    flags: u32,
    mac_len: u32,
    ip_len: u32,
    l4_len: u32,
    mss: u32,
    segs: u32,
    vlan: u32,
}

/// `COMPSC_TX_*` of shim.h.
mod tx_flags {
    pub(super) const CSUM_TCP: u32 = 1;
    pub(super) const CSUM_UDP: u32 = 2;
    pub(super) const CSUM_SCTP: u32 = 4;
    pub(super) const TSO: u32 = 8;
    pub(super) const IPV4: u32 = 16;
    pub(super) const VLAN: u32 = 32;
}

/// `XDP_TX` of the UAPI's `enum xdp_action`.
const XDP_TX: u32 = 3;
/// `COMPSC_RX_VLAN_PRESENT` of shim.h.
const RX_VLAN_PRESENT: u32 = 0x1_0000;

/// The C `struct device` of a bound device, for the shim's DMA calls.
#[derive(Clone, Copy)]
pub(crate) struct DmaDev(NonNull<DeviceRaw>);

// SAFETY: a `struct device` pointer may be used from any context; the device outlives every
// holder (the adapter drops before the driver data that holds the bound device).
unsafe impl Send for DmaDev {}
// SAFETY: as above; the shim's DMA calls are thread-safe.
unsafe impl Sync for DmaDev {}

impl DmaDev {
    /// The `struct device` under `dev`.
    pub(crate) fn new(dev: &kernel::device::Device<kernel::device::Bound>) -> Self {
        // `device::Device` is `repr(transparent)` over the C `struct device`, so the
        // reference is a valid pointer to the C structure.
        let raw = core::ptr::from_ref(dev).cast::<DeviceRaw>().cast_mut();
        // A reference is never null.
        DmaDev(NonNull::new(raw).unwrap_or(NonNull::dangling()))
    }

    fn raw(self) -> *mut DeviceRaw {
        self.0.as_ptr()
    }

    /// The device's name (`0000:01:00.0`), NUL-terminated and truncated to the buffer (the
    /// kernel's `Device::name` computes its length with a checked add that can panic).
    pub(crate) fn name(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: the device is alive; the shim writes at most 32 bytes, NUL included.
        unsafe { compsc_dev_name(self.raw(), out.as_mut_ptr(), 32) };
        out
    }

    /// Unmaps a Tx buffer mapped with [`Skb::map_head`].
    pub(crate) fn unmap_single(self, dma: u64, len: u32) {
        // SAFETY: `dma`/`len` are a live mapping made by `compsc_skb_map_head` on this
        // device (the Tx ring records each mapping once and unmaps it once).
        unsafe { compsc_dma_unmap_single(self.raw(), dma, len) }
    }

    /// XDP_TX: the bus address and length of a frame still in its page-pool page, synced
    /// for the device.
    pub(crate) fn xdp_tx_dma(self, f: &XdpFrame) -> (u64, u32) {
        let mut len = 0u32;
        // SAFETY: the frame is ours and lies in a page of a pool mapped for this device.
        let dma = unsafe { compsc_xdp_tx_dma(self.raw(), f.0.as_ptr(), &mut len) };
        (dma, len)
    }

    /// A frame from another device, mapped for this one (unmapped with `unmap_single`).
    pub(crate) fn xdp_map(self, f: &XdpFrame) -> Option<(u64, u32)> {
        let (mut dma, mut len) = (0u64, 0u32);
        // SAFETY: the frame is ours; the out-pointers are locals.
        let err = unsafe { compsc_xdp_map(self.raw(), f.0.as_ptr(), &mut dma, &mut len) };
        (err == 0).then_some((dma, len))
    }

    /// Unmaps a Tx buffer mapped with [`Skb::map_frag`].
    pub(crate) fn unmap_page(self, dma: u64, len: u32) {
        // SAFETY: as for `unmap_single`, for `compsc_skb_map_frag` mappings.
        unsafe { compsc_dma_unmap_page(self.raw(), dma, len) }
    }
}

fn pci_raw(pdev: &kernel::pci::Device<kernel::device::Bound>) -> *mut PciDevRaw {
    // `pci::Device` is `repr(transparent)` over the C `struct pci_dev`.
    core::ptr::from_ref(pdev).cast::<PciDevRaw>().cast_mut()
}

/// Saves the device's PCI config state (BARs, command, MSI-X) for a later restore.
pub(crate) fn pci_save_state(pdev: &kernel::pci::Device<kernel::device::Bound>) {
    // SAFETY: a bound device; process context.
    unsafe { compsc_pci_save_state(pci_raw(pdev)) }
}

/// Writes the saved PCI config state back (a destination VF comes up with it reset).
pub(crate) fn pci_restore_state(pdev: &kernel::pci::Device<kernel::device::Bound>) {
    // SAFETY: a bound device whose state was saved at probe; process context.
    unsafe { compsc_pci_restore_state(pci_raw(pdev)) }
}

/// The physical (guest-physical, in a VM) address of kernel memory at `p`.
pub(crate) fn virt_to_phys(p: *const u8) -> u64 {
    // SAFETY: `p` points into a live kmalloc allocation (the record buffer).
    unsafe { compsc_virt_to_phys(p) }
}

/// RTNL held until dropped (the lock the stack holds around the ndo ops).
pub(crate) struct Rtnl(());

impl Rtnl {
    /// Takes RTNL (process context, not already held).
    pub(crate) fn lock() -> Rtnl {
        // SAFETY: called from the service task, which never runs under RTNL.
        unsafe { compsc_rtnl_lock() };
        Rtnl(())
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        // SAFETY: taken by `lock`.
        unsafe { compsc_rtnl_unlock() }
    }
}

/// An interface name (`IFNAMSIZ` bytes, NUL-terminated), printable.
pub(crate) struct IfName([u8; 16]);

impl kernel::fmt::Display for IfName {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        for &b in self.0.iter().take_while(|&&b| b != 0) {
            write!(f, "{}", char::from(b))?;
        }
        Ok(())
    }
}

/// The driver's netdev: allocated at probe, registered last, unregistered first.
pub(crate) struct Netdev {
    nd: NonNull<NetDevice>,
    registered: Atomic<bool>,
}

// SAFETY: a `net_device` is used from every context by design; the shim's calls take the
// locks the kernel requires for each.
unsafe impl Send for Netdev {}
// SAFETY: as above.
unsafe impl Sync for Netdev {}

impl Netdev {
    /// Allocates an Ethernet netdev with `queues` Tx/Rx queues, whose ops reach `ctx`.
    ///
    /// # Safety
    ///
    /// `ctx` must stay valid, and be what the `compsc_rs_*` callbacks expect, until the
    /// netdev is unregistered and freed (both done by dropping the returned value).
    pub(crate) unsafe fn new(parent: DmaDev, ctx: *mut c_void, queues: u32) -> Result<Self> {
        // SAFETY: `parent` is a bound device; the caller vouches for `ctx`.
        let nd = unsafe { compsc_netdev_alloc(parent.raw(), ctx, queues) };
        Ok(Netdev {
            nd: NonNull::new(nd).ok_or(ENOMEM)?,
            registered: Atomic::new(false),
        })
    }

    fn raw(&self) -> *mut NetDevice {
        self.nd.as_ptr()
    }

    /// Registers the netdev with the stack (its ops may run from now on).
    /// Probe and unbind call these, and never concurrently (the driver core serialises
    /// them), so the flag needs no stronger ordering.
    pub(crate) fn register(&self) -> Result {
        if self.registered.load(Relaxed) {
            return Ok(());
        }
        // SAFETY: allocated and not yet registered.
        kernel::error::to_result(unsafe { compsc_netdev_register(self.raw()) })?;
        self.registered.store(true, Relaxed);
        Ok(())
    }

    /// Unregisters it (closing it first if it is up); idempotent.
    pub(crate) fn unregister(&self) {
        if self.registered.load(Relaxed) {
            // SAFETY: registered, and not from one of its own ops (unbind or drop).
            unsafe { compsc_netdev_unregister(self.raw()) };
            self.registered.store(false, Relaxed);
        }
    }

    /// Sets the permanent and current address.
    pub(crate) fn set_addr(&self, addr: &[u8; 6]) {
        // SAFETY: the netdev is alive; `addr` points to six bytes.
        unsafe { compsc_netdev_set_addr(self.raw(), addr.as_ptr()) }
    }

    /// Gives the netdev a random locally administered address and returns it.
    pub(crate) fn random_addr(&self) -> [u8; 6] {
        let mut out = [0u8; 6];
        // SAFETY: the netdev is alive; `out` has room for six bytes.
        unsafe { compsc_netdev_random_addr(self.raw(), out.as_mut_ptr()) };
        out
    }

    /// Sets the MTU range the stack enforces.
    pub(crate) fn set_mtu_range(&self, min: u32, max: u32) {
        // SAFETY: the netdev is alive and not yet registered (probe).
        unsafe { compsc_netdev_set_mtu_range(self.raw(), min, max) }
    }

    /// The interface name (`eth0`).
    pub(crate) fn name(&self) -> IfName {
        let mut out = [0u8; 16];
        // SAFETY: the netdev is alive; the shim writes at most 16 bytes, NUL-terminated.
        unsafe { compsc_netdev_name(self.raw(), out.as_mut_ptr(), 16) };
        IfName(out)
    }

    /// Sets the carrier.
    pub(crate) fn set_carrier(&self, on: bool) {
        // SAFETY: the netdev is alive.
        unsafe { compsc_netdev_carrier(self.raw(), on) }
    }

    /// Announces the interface to the network again (gratuitous ARP, unsolicited neighbour
    /// advertisements, IGMP reports), as virtio-net does after a migration, so switches learn
    /// the new port. Under RTNL.
    pub(crate) fn notify_peers(&self) {
        // SAFETY: the netdev is alive; the caller holds RTNL (the doorbell's RESTORE).
        unsafe { compsc_netdev_notify_peers(self.raw()) }
    }

    /// Sets how many queues are in use (under RTNL, or before registration).
    pub(crate) fn set_queues(&self, queues: u32) {
        // SAFETY: the netdev is alive; callers hold RTNL or have not registered it yet.
        unsafe { compsc_netdev_set_queues(self.raw(), queues) }
    }

    /// Lets the stack transmit on every queue.
    pub(crate) fn tx_start_all(&self) {
        // SAFETY: the netdev is alive.
        unsafe { compsc_tx_start_all(self.raw()) }
    }

    /// Stops every Tx queue and waits out running xmits.
    pub(crate) fn tx_disable_all(&self) {
        // SAFETY: the netdev is alive; not called from xmit.
        unsafe { compsc_tx_disable_all(self.raw()) }
    }

    /// Marks the device absent (frozen): its queues stop and the Tx watchdog leaves it be.
    pub(crate) fn detach(&self) {
        // SAFETY: the netdev is alive.
        unsafe { compsc_netdev_detach(self.raw()) }
    }

    /// Marks the device present again and wakes its queues if it is up.
    pub(crate) fn attach(&self) {
        // SAFETY: the netdev is alive.
        unsafe { compsc_netdev_attach(self.raw()) }
    }

    /// Stops Tx queue `q` (from its xmit).
    pub(crate) fn txq_stop(&self, q: u32) {
        // SAFETY: the netdev is alive; `q` is below the queue count it was made with.
        unsafe { compsc_txq_stop(self.raw(), q) }
    }

    /// Whether Tx queue `q` is stopped.
    pub(crate) fn txq_stopped(&self, q: u32) -> bool {
        // SAFETY: as for `txq_stop`.
        unsafe { compsc_txq_stopped(self.raw(), q) }
    }

    /// Wakes Tx queue `q`.
    pub(crate) fn txq_wake(&self, q: u32) {
        // SAFETY: as for `txq_stop`.
        unsafe { compsc_txq_wake(self.raw(), q) }
    }

    /// BQL: `bytes` were queued on `q`; true when the tail must be written now.
    pub(crate) fn txq_sent(&self, q: u32, bytes: u32) -> bool {
        // SAFETY: as for `txq_stop`; called from `q`'s xmit.
        unsafe { compsc_txq_sent(self.raw(), q, bytes) }
    }

    /// BQL: `pkts` frames of `bytes` completed on `q`.
    pub(crate) fn txq_completed(&self, q: u32, pkts: u32, bytes: u32) {
        // SAFETY: as for `txq_stop`; called from `q`'s NAPI.
        unsafe { compsc_txq_completed(self.raw(), q, pkts, bytes) }
    }

    /// BQL: forget what was in flight on `q` (ring torn down).
    pub(crate) fn txq_reset(&self, q: u32) {
        // SAFETY: as for `txq_stop`.
        unsafe { compsc_txq_reset(self.raw(), q) }
    }

    /// Runs the service task in `ms` milliseconds (sooner if already pending later).
    pub(crate) fn service_schedule(&self, ms: u32) {
        // SAFETY: the netdev and its work item are alive.
        unsafe { compsc_service_schedule(self.raw(), ms) }
    }

    /// A handle that schedules the service task from interrupt context.
    pub(crate) fn kicker(&self) -> Kicker {
        Kicker(self.nd)
    }

    /// Cancels the service task and waits for a running one.
    pub(crate) fn service_cancel(&self) {
        // SAFETY: the netdev is alive; not called from the service task itself.
        unsafe { compsc_service_cancel(self.raw()) }
    }

    /// Adds NAPI instance `idx` (below `COMPSC_MAX_VECTORS`, else `EINVAL`); its poll calls
    /// `compsc_rs_poll(ctx, idx, budget)` with the netdev's `ctx`.
    pub(crate) fn napi_add(&self, idx: u32) -> Result<Napi> {
        // SAFETY: the netdev is alive; the shim refuses an index beyond its array.
        let n = unsafe { compsc_napi_add(self.raw(), idx) };
        Ok(Napi(NonNull::new(n).ok_or(EINVAL)?))
    }

    /// Takes Tx queue `q`'s lock (the one the stack holds around xmit), for the XDP senders
    /// that share the queue; from softirq context or with BH disabled.
    pub(crate) fn txq_lock(&self, q: u32) -> TxqGuard<'_> {
        // SAFETY: the netdev is alive; `q` is below the netdev's queue count (the callers
        // use queues in use); unlocked by the guard's drop on this CPU.
        unsafe { compsc_txq_lock(self.raw(), q) };
        TxqGuard { nd: self, q }
    }

    /// Whether an XDP program is attached.
    pub(crate) fn xdp_attached(&self) -> bool {
        // SAFETY: the netdev is alive; reads one pointer.
        unsafe { compsc_xdp_attached(self.raw()) }
    }

    /// The XDP tracepoint (and, for a verdict no program may return, the warning) for a
    /// program that failed on a frame.
    pub(crate) fn xdp_exception(&self, prog: XdpProg, act: u32) {
        // SAFETY: the netdev is alive; the program is the one NAPI ran (RCU keeps it).
        unsafe { compsc_xdp_exception(self.raw(), prog.0.as_ptr(), act) }
    }

    /// A page pool for Rx queue `q`, served by `napi`.
    pub(crate) fn page_pool(
        &self,
        dev: DmaDev,
        napi: Napi,
        q: u32,
        size: u32,
        max_len: u32,
    ) -> Result<PagePool> {
        // SAFETY: every pointer is alive; the pool is destroyed before the netdev is freed
        // (rings are torn down at close, before unregistration).
        let pp =
            unsafe { compsc_pp_create(dev.raw(), napi.0.as_ptr(), self.raw(), q, size, max_len) };
        Ok(PagePool(NonNull::new(pp).ok_or(ENOMEM)?))
    }
}

/// A held Tx queue lock; released on drop.
pub(crate) struct TxqGuard<'a> {
    nd: &'a Netdev,
    q: u32,
}

impl Drop for TxqGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: taken by `txq_lock` on this queue and not released since.
        unsafe { compsc_txq_unlock(self.nd.raw(), self.q) }
    }
}

/// The CPU this runs on (with preemption off: softirq, or under a spinlock).
pub(crate) fn cpu() -> u32 {
    // SAFETY: reads the CPU number; callers run where it cannot change.
    unsafe { compsc_cpu() }
}

/// Sends the frames XDP_REDIRECT queued during this NAPI poll (`xdp_do_flush`).
pub(crate) fn xdp_flush() {
    // SAFETY: called at the end of a NAPI poll that redirected.
    unsafe { compsc_xdp_flush() }
}

/// The attached XDP program, as NAPI read it for one poll. Copyable: the program is freed
/// only after an RCU grace period, and a NAPI poll is an RCU read-side section.
#[derive(Clone, Copy)]
pub(crate) struct XdpProg(NonNull<BpfProg>);

/// An `xdp_frame` the driver owns (XDP_TX, or a frame redirected to this device); returned
/// to its memory allocator on drop.
pub(crate) struct XdpFrame(NonNull<XdpFrameRaw>);

// SAFETY: a frame may move from the context that sent it to the Tx completion in NAPI.
unsafe impl Send for XdpFrame {}

impl XdpFrame {
    /// Takes ownership of a frame.
    ///
    /// # Safety
    ///
    /// `f` must be a valid frame whose ownership passes to the driver.
    pub(crate) unsafe fn from_raw(f: NonNull<XdpFrameRaw>) -> Self {
        XdpFrame(f)
    }

    /// Gives ownership back (to ndo_xdp_xmit's caller, which frees what was not sent).
    pub(crate) fn into_raw(self) -> *mut XdpFrameRaw {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl Drop for XdpFrame {
    fn drop(&mut self) {
        // SAFETY: the frame is ours and no descriptor points at it any more.
        unsafe { compsc_xdp_return(self.0.as_ptr()) }
    }
}

/// An Rx queue's registration with XDP (`xdp_rxq_info`, its memory model the queue's page
/// pool); dropped before the pool, whose last user it releases.
pub(crate) struct XdpRxq(NonNull<XdpRxqRaw>);

// SAFETY: used by the queue's NAPI; created and freed at open and close.
unsafe impl Send for XdpRxq {}
// SAFETY: as above.
unsafe impl Sync for XdpRxq {}

impl Drop for XdpRxq {
    fn drop(&mut self) {
        // SAFETY: registered by `Napi::xdp_rxq`; the pool it names is still alive (the
        // ring drops this first).
        unsafe { compsc_xdp_rxq_free(self.0.as_ptr()) }
    }
}

/// What an XDP program made of a frame.
pub(crate) enum XdpRun {
    /// The verdict other than XDP_TX, and the frame as the program left it: offset from
    /// the page start and length.
    Done(u32, u32, u32),
    /// XDP_TX: the frame to send.
    Tx(XdpFrame),
}

impl Drop for Netdev {
    fn drop(&mut self) {
        self.unregister();
        // SAFETY: unregistered and never used again; frees the NAPI instances with it.
        unsafe { compsc_netdev_free(self.raw()) }
    }
}

/// Schedules the service task now; valid while the netdev lives (the interrupt handler that
/// holds it is freed before the netdev).
#[derive(Clone, Copy)]
pub(crate) struct Kicker(NonNull<NetDevice>);

// SAFETY: scheduling work is allowed from any context.
unsafe impl Send for Kicker {}
// SAFETY: as above.
unsafe impl Sync for Kicker {}

impl Kicker {
    /// Runs the service task as soon as possible.
    pub(crate) fn kick(self) {
        // SAFETY: the netdev outlives the holder; mod_delayed_work is IRQ-safe.
        unsafe { compsc_service_schedule(self.0.as_ptr(), 0) }
    }
}

/// A NAPI instance in the netdev's private area. Copyable: it lives as long as the netdev,
/// which outlives every holder.
#[derive(Clone, Copy)]
pub(crate) struct Napi(NonNull<NapiRaw>);

// SAFETY: NAPI calls are made from the contexts the kernel allows for each.
unsafe impl Send for Napi {}
// SAFETY: as above.
unsafe impl Sync for Napi {}

impl Napi {
    /// Enables polling.
    pub(crate) fn enable(self) {
        // SAFETY: the instance is alive (netdev not freed) and disabled.
        unsafe { compsc_napi_enable(self.0.as_ptr()) }
    }

    /// Ties the instance to MSI-X vector `v` of `pdev`, for the netdev family's napi-get.
    pub(crate) fn set_irq(self, pdev: &kernel::pci::Device<kernel::device::Bound>, v: u32) {
        // SAFETY: the instance is alive (added, netdev not freed); `pdev` is bound, so its
        // vectors are allocated; process context without the netdev lock held.
        unsafe { compsc_napi_set_irq(self.0.as_ptr(), pci_raw(pdev), v) }
    }

    /// Disables polling and waits for a running poll.
    pub(crate) fn disable(self) {
        // SAFETY: the instance is alive and enabled.
        unsafe { compsc_napi_disable(self.0.as_ptr()) }
    }

    /// Schedules a poll from process context.
    pub(crate) fn schedule(self) {
        // SAFETY: the instance is alive; the shim disables BH around the call.
        unsafe { compsc_napi_schedule(self.0.as_ptr()) }
    }

    /// Schedules a poll from a hard interrupt.
    pub(crate) fn schedule_irq(self) {
        // SAFETY: the instance is alive; called with interrupts off (hard IRQ).
        unsafe { compsc_napi_schedule_irq(self.0.as_ptr()) }
    }

    /// Completes a poll that did `done` < budget work; true if interrupts may be re-armed.
    pub(crate) fn complete_done(self, done: i32) -> bool {
        // SAFETY: called from this instance's poll.
        unsafe { compsc_napi_complete_done(self.0.as_ptr(), done) }
    }

    /// Hands a received frame to the stack (eth_type_trans, GRO) with what the device found:
    /// a good L4 checksum, a stripped VLAN tag, the RSS hash and whether it covers ports.
    pub(crate) fn deliver(
        self,
        skb: Skb,
        q: u32,
        csum_ok: bool,
        vlan: Option<u16>,
        hash: Option<(u32, bool)>,
    ) {
        let vlan = vlan.map_or(0, |t| u32::from(t) | RX_VLAN_PRESENT);
        let (hash, kind) = match hash {
            Some((h, true)) => (h, 2),
            Some((h, false)) => (h, 1),
            None => (0, 0),
        };
        // SAFETY: called from this instance's poll; the skb is ours and given away here.
        unsafe {
            compsc_rx_deliver(
                self.0.as_ptr(),
                skb.into_raw(),
                q,
                u32::from(csum_ok),
                vlan,
                hash,
                kind,
            )
        }
    }

    /// Builds an skb around a page-pool page holding `len` bytes at `off` from its start.
    pub(crate) fn build_skb(self, page: PageRef, off: u32, len: u32) -> Option<Skb> {
        if off.saturating_add(len) > page_size() {
            return None;
        }
        // SAFETY: the page is a pool page the device finished with; the skb takes it over;
        // the frame lies within the page (checked above).
        let skb = unsafe { compsc_rx_build_skb(self.0.as_ptr(), page.0.as_ptr(), off, len) };
        NonNull::new(skb).map(Skb)
    }

    /// The attached XDP program, if any (read once per poll).
    pub(crate) fn xdp_prog(self) -> Option<XdpProg> {
        // SAFETY: the instance is alive; reads one pointer (READ_ONCE).
        NonNull::new(unsafe { compsc_xdp_prog(self.0.as_ptr()) }).map(XdpProg)
    }

    /// Registers Rx queue `q`, whose buffers come from `pool`, with XDP.
    pub(crate) fn xdp_rxq(self, q: u32, pool: &PagePool) -> Result<XdpRxq> {
        // SAFETY: the instance and the pool are alive; the pool outlives the registration
        // (the ring drops the registration first).
        let r = unsafe { compsc_xdp_rxq_new(self.0.as_ptr(), q, pool.0.as_ptr()) };
        Ok(XdpRxq(NonNull::new(r).ok_or(ENOMEM)?))
    }

    /// Runs `prog` on the `len`-byte frame at `off` in `page` (from this instance's poll).
    /// The page is the frame's: on [`XdpRun::Tx`] and on a `Done` redirect it is gone, on
    /// any other verdict it is still the caller's.
    pub(crate) fn xdp_run(
        self,
        prog: XdpProg,
        rxq: &XdpRxq,
        page: PageRef,
        off: u32,
        len: u32,
    ) -> XdpRun {
        let (mut off, mut len) = (off, len);
        let mut tx: *mut XdpFrameRaw = core::ptr::null_mut();
        // SAFETY: called from NAPI (an RCU read-side section keeping `prog`); the page is a
        // pool page holding `len` bytes at `off`, synced for the CPU; the out-pointers are
        // locals.
        let act = unsafe {
            compsc_xdp_run(
                prog.0.as_ptr(),
                rxq.0.as_ptr(),
                page.0.as_ptr(),
                &mut off,
                &mut len,
                &mut tx,
            )
        };
        match NonNull::new(tx) {
            // SAFETY: XDP_TX converted the buffer into a frame that is now ours.
            Some(f) if act == XDP_TX => XdpRun::Tx(unsafe { XdpFrame::from_raw(f) }),
            _ => XdpRun::Done(act, off, len),
        }
    }
}

/// A page pool; destroyed on drop (pages still in flight are released as they return).
pub(crate) struct PagePool(NonNull<PagePoolRaw>);

// SAFETY: page_pool allocation is done from the queue's NAPI only; destroy from close.
unsafe impl Send for PagePool {}
// SAFETY: as above.
unsafe impl Sync for PagePool {}

/// A page from a [`PagePool`], not yet handed to an skb.
#[derive(Clone, Copy)]
pub(crate) struct PageRef(NonNull<Page>);

impl PagePool {
    /// A fresh page and the bus address of its buffer (after the pool's headroom).
    pub(crate) fn alloc(&self) -> Option<(PageRef, u64)> {
        let mut dma = 0u64;
        // SAFETY: the pool is alive; `dma` is written only on success.
        let page = unsafe { compsc_pp_alloc(self.0.as_ptr(), &mut dma) };
        NonNull::new(page).map(|p| (PageRef(p), dma))
    }

    /// Returns a page the stack never saw.
    pub(crate) fn put(&self, page: PageRef) {
        // SAFETY: the page came from this pool and is no longer posted to the device.
        unsafe { compsc_pp_put(self.0.as_ptr(), page.0.as_ptr()) }
    }

    /// Writes the page with the CPU, so a migration's dirty log copies what the device wrote.
    pub(crate) fn touch(&self, page: PageRef) {
        // SAFETY: the page came from this pool and is mapped in the kernel (order 0, lowmem).
        unsafe { compsc_page_touch(page.0.as_ptr()) }
    }

    /// Makes `len` bytes the device wrote visible to the CPU.
    pub(crate) fn sync_for_cpu(&self, page: PageRef, len: u32) {
        // SAFETY: the page came from this pool.
        unsafe { compsc_pp_sync_for_cpu(self.0.as_ptr(), page.0.as_ptr(), len) }
    }
}

impl Drop for PagePool {
    fn drop(&mut self) {
        // SAFETY: no page of this pool is posted to the device any more (the ring returned
        // them); pages held by the stack come back to a pool marked for destruction.
        unsafe { compsc_pp_destroy(self.0.as_ptr()) }
    }
}

/// An skb owned by the driver; freed on drop unless handed on.
pub(crate) struct Skb(NonNull<SkBuff>);

// SAFETY: an skb may move between contexts (xmit to the Tx completion in NAPI).
unsafe impl Send for Skb {}

impl Skb {
    /// Takes ownership of an skb the stack handed to xmit.
    ///
    /// # Safety
    ///
    /// `skb` must be a valid skb whose ownership passes to the driver.
    pub(crate) unsafe fn from_raw(skb: *mut SkBuff) -> Option<Skb> {
        NonNull::new(skb).map(Skb)
    }

    /// Gives the skb back to the stack untouched (xmit returning NETDEV_TX_BUSY).
    pub(crate) fn give_back(self) {
        self.into_raw();
    }

    fn into_raw(self) -> *mut SkBuff {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }

    /// Bytes in the frame.
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: the skb is ours and valid.
        unsafe { compsc_skb_len(self.0.as_ptr()) }
    }

    /// Bytes in the linear part.
    pub(crate) fn headlen(&self) -> u32 {
        // SAFETY: as above.
        unsafe { compsc_skb_headlen(self.0.as_ptr()) }
    }

    /// Paged fragments.
    pub(crate) fn nr_frags(&self) -> u32 {
        // SAFETY: as above.
        unsafe { compsc_skb_nr_frags(self.0.as_ptr()) }
    }

    /// Length of fragment `i` (0 past the last).
    pub(crate) fn frag_len(&self, i: u32) -> u32 {
        // SAFETY: the skb is ours; the shim bounds `i`.
        unsafe { compsc_skb_frag_len(self.0.as_ptr(), i) }
    }

    /// What the stack asks of this frame: checksum, segmentation, VLAN tag. For TSO the
    /// shim prepares the headers as the device wants them (`ixgbevf_tso`).
    pub(crate) fn offload(&mut self) -> Result<TxOffload> {
        let mut i = TxInfo::default();
        // SAFETY: the skb is ours; `i` is a local the shim fills.
        kernel::error::to_result(unsafe { compsc_skb_tx_info(self.0.as_ptr(), &mut i) })?;
        let f = i.flags;
        let csum = if f & tx_flags::CSUM_TCP != 0 {
            Some(L4::Tcp)
        } else if f & tx_flags::CSUM_UDP != 0 {
            Some(L4::Udp)
        } else if f & tx_flags::CSUM_SCTP != 0 {
            Some(L4::Sctp)
        } else {
            None
        };
        Ok(TxOffload {
            csum,
            tso: (f & tx_flags::TSO != 0).then_some((i.mss, i.segs)),
            ipv4: f & tx_flags::IPV4 != 0,
            mac_len: i.mac_len,
            ip_len: i.ip_len,
            l4_len: i.l4_len,
            // CAST: the shim stores a 16-bit tag.
            vlan: (f & tx_flags::VLAN != 0).then_some(i.vlan as u16),
        })
    }

    /// Pads the frame to `len` bytes; on failure the kernel has freed it.
    pub(crate) fn pad(self, len: u32) -> Option<Skb> {
        let p = self.into_raw();
        // SAFETY: `p` is ours; skb_put_padto frees it on failure, so it is not used again.
        if unsafe { compsc_skb_pad(p, len) } != 0 {
            return None;
        }
        NonNull::new(p).map(Skb)
    }

    /// Maps the linear part for the device to read.
    pub(crate) fn map_head(&self, dev: DmaDev) -> Option<u64> {
        let mut dma = 0;
        // SAFETY: the skb and device are valid; `dma` is an out parameter.
        (unsafe { compsc_skb_map_head(dev.raw(), self.0.as_ptr(), &mut dma) } == 0).then_some(dma)
    }

    /// Maps fragment `i` (below [`Self::nr_frags`]) and returns its address and length.
    pub(crate) fn map_frag(&self, dev: DmaDev, i: u32) -> Option<(u64, u32)> {
        if i >= self.nr_frags() {
            return None;
        }
        let (mut dma, mut len) = (0, 0);
        // SAFETY: `i` is a valid fragment index; out parameters are local.
        (unsafe { compsc_skb_map_frag(dev.raw(), self.0.as_ptr(), i, &mut dma, &mut len) } == 0)
            .then_some((dma, len))
    }

    /// Frees a transmitted skb from NAPI (`budget` 0 outside NAPI).
    pub(crate) fn consume(self, budget: i32) {
        // SAFETY: the skb is ours and given away here.
        unsafe { compsc_skb_consume(self.into_raw(), budget) }
    }

    /// Appends a page-pool page of `len` bytes as the next fragment (at most
    /// `MAX_SKB_FRAGS`, which the caller bounds).
    pub(crate) fn add_frag(&mut self, page: PageRef, len: u32) {
        // SAFETY: the skb is ours, built from a page-pool page; the page is handed over.
        unsafe { compsc_rx_add_frag(self.0.as_ptr(), page.0.as_ptr(), len) }
    }
}

impl Drop for Skb {
    fn drop(&mut self) {
        // SAFETY: the skb is ours; any context.
        unsafe { compsc_skb_free_any(self.0.as_ptr()) }
    }
}

/// `PAGE_SIZE`.
pub(crate) fn page_size() -> u32 {
    // SAFETY: a constant.
    unsafe { compsc_page_size() }
}

/// The headroom an Rx buffer keeps before the frame (`NET_SKB_PAD + NET_IP_ALIGN`).
pub(crate) fn rx_headroom() -> u32 {
    // SAFETY: a constant.
    unsafe { compsc_rx_headroom() }
}

/// What 7.2's Rust cannot reach (see `compat.rs`): interrupt flags, `dma_rmb`, and MSI-X
/// vectors and handlers by index.
#[cfg(compsc_linux_7_2)]
mod v7_2 {
    use super::{pci_raw, PciDevRaw};
    use crate::net::VectorIrq;
    use core::ffi::{c_int, c_void};
    use kernel::ffi::c_char;
    use kernel::prelude::*;
    use kernel::{device::Bound, pci};

    extern "C" {
        fn compsc_irq_save() -> usize;
        fn compsc_irq_restore(flags: usize);
        fn compsc_dma_rmb();
        fn compsc_alloc_vectors(pdev: *mut PciDevRaw, n: u32) -> c_int;
        fn compsc_free_vectors(pdev: *mut PciDevRaw);
        fn compsc_request_vector(
            pdev: *mut PciDevRaw,
            i: u32,
            name: *const c_char,
            data: *const c_void,
        ) -> c_int;
        fn compsc_free_vector(irq: u32, data: *const c_void);
    }

    /// Saves and disables local interrupts; the flags for [`irq_restore`].
    pub(crate) fn irq_save() -> usize {
        // SAFETY: any context; the caller restores.
        unsafe { compsc_irq_save() }
    }

    /// Restores what [`irq_save`] returned.
    pub(crate) fn irq_restore(flags: usize) {
        // SAFETY: `flags` came from `irq_save` on this CPU, in nesting order (guards).
        unsafe { compsc_irq_restore(flags) }
    }

    /// `dma_rmb()`.
    pub(crate) fn dma_rmb() {
        // SAFETY: a barrier.
        unsafe { compsc_dma_rmb() }
    }

    /// `pci_alloc_irq_vectors(pdev, n, n, PCI_IRQ_MSIX)`.
    pub(crate) fn alloc_vectors(pdev: &pci::Device<Bound>, n: u32) -> Result {
        // SAFETY: a bound device; process context (probe).
        kernel::error::to_result(unsafe { compsc_alloc_vectors(pci_raw(pdev), n) })
    }

    /// `pci_free_irq_vectors(pdev)`.
    pub(crate) fn free_vectors(pdev: &pci::Device<Bound>) {
        // SAFETY: vectors were allocated by `alloc_vectors` and every handler is freed.
        unsafe { compsc_free_vectors(pci_raw(pdev)) }
    }

    /// Requests vector `i` for `handler`; returns the Linux IRQ number.
    pub(crate) fn request_vector(
        pdev: &pci::Device<Bound>,
        i: u32,
        name: &'static CStr,
        handler: *const VectorIrq,
    ) -> Result<u32> {
        // SAFETY: vectors are allocated; `handler` is pinned and outlives the registration
        // (freed by `free_vector` first); `name` is static.
        let r =
            unsafe { compsc_request_vector(pci_raw(pdev), i, name.as_char_ptr(), handler.cast()) };
        kernel::error::to_result(r)?;
        u32::try_from(r).map_err(|_| EINVAL)
    }

    /// `free_irq(irq, handler)`: waits for a running handler to finish.
    pub(crate) fn free_vector(irq: u32, handler: *const VectorIrq) {
        // SAFETY: `irq` was requested with `handler` by `request_vector`.
        unsafe { compsc_free_vector(irq, handler.cast()) }
    }

    /// The shim's interrupt trampoline calls this with the handler it was given.
    #[no_mangle]
    extern "C" fn compsc_rs_irq(data: *const c_void) -> bool {
        // SAFETY: `data` is the pinned handler `request_vector` registered, alive until
        // `free_vector` returns.
        let h = unsafe { &*data.cast::<VectorIrq>() };
        h.on_irq()
    }
}
#[cfg(compsc_linux_7_2)]
pub(crate) use v7_2::*;
