// SPDX-License-Identifier: GPL-2.0

//! Descriptor rings: the per-packet path.
//!
//! A Tx ring is shared by two contexts: its queue's xmit (serialised by the stack's Tx queue
//! lock) produces, its vector's NAPI poll consumes. They meet only at two indices, each
//! written by one side: `next_to_use` (xmit stores with Release, NAPI loads with Acquire)
//! and `next_to_clean` (the reverse). A slot between `next_to_clean` and `next_to_use`
//! belongs to NAPI, every other slot to xmit, so no slot is touched by both at once. An Rx
//! ring belongs to its NAPI poll alone. Neither takes a lock, walks the register table or
//! writes anything but the tail (through the self-emulation layer's `HotReg`), so the
//! per-packet path pays nothing for CompSC.
//!
//! Everything read from a descriptor the device wrote is untrusted: lengths are bounded by
//! the posted buffer, only descriptors the driver posted are looked at, and a frame that is
//! not well formed is dropped and counted.

use crate::compat::{dma_rmb, smp_mb};
use crate::compsc_core::desc::{self, RingSize, RxCsum, RxWriteback};
use crate::compsc_core::emul::HotReg;
use crate::compsc_core::xdp::Verdict;
use crate::hw::BarIo;
use crate::shim::{
    self, DmaDev, Napi, Netdev, PagePool, PageRef, Skb, XdpFrame, XdpProg, XdpRun, XdpRxq,
};
use core::cell::UnsafeCell;
use kernel::alloc::VBox;
use kernel::dma::Coherent;
use kernel::init::InPlaceInit;
use kernel::prelude::*;
use kernel::sync::atomic::{Acquire, Atomic, Relaxed, Release};
use pin_init::init_zeroed;

/// Most fragments an skb carries (`MAX_SKB_FRAGS` default).
const MAX_FRAGS: u32 = 17;
/// Tx descriptors one frame may need: head, fragments, and one spare.
const TX_WORST_CASE: u32 = MAX_FRAGS + 2;
/// Frames shorter than this are padded (the 82599 needs 17 bytes; ixgbevf pads to 17).
const TX_MIN_LEN: u32 = 17;

/// Descriptors a buffer of `len` bytes takes (16 KiB each, at least one).
fn chunks(len: u32) -> u32 {
    len.div_ceil(desc::tx::MAX_DATA_PER_DESC).max(1)
}

/// Words of the largest ring's descriptors.
const DESC_WORDS: usize = 2 * RingSize::MAX as usize;

/// Descriptor memory: room for the largest ring, of which the first `size` descriptors (two
/// little-endian words each) are used. A fixed size keeps the allocation's length a
/// constant, with no size arithmetic on the free path.
struct DescMem {
    mem: Coherent<[u64; DESC_WORDS]>,
    size: RingSize,
}

impl DescMem {
    fn new(dev: &kernel::device::Device<kernel::device::Bound>, size: RingSize) -> Result<Self> {
        Ok(DescMem {
            mem: Coherent::<[u64; DESC_WORDS]>::zeroed(dev, GFP_KERNEL)?,
            size,
        })
    }

    fn bus(&self) -> u64 {
        crate::compat::bus_of(&self.mem)
    }

    fn word_ptr(&self, i: u32) -> Option<*mut u64> {
        // CAST: a ring index (below 4096) fits usize.
        let w = (self.size.wrap(i) as usize).checked_mul(2)?;
        if w.checked_add(1)? >= DESC_WORDS {
            return None;
        }
        // SAFETY: `w + 1` is within the allocation (checked above).
        Some(unsafe { self.mem.as_mut_ptr().cast::<u64>().add(w) })
    }

    fn read(&self, i: u32) -> [u64; 2] {
        match self.word_ptr(i) {
            // SAFETY: both words are inside the coherent allocation; the device may write them
            // at any time, hence volatile reads.
            Some(p) => unsafe { [p.read_volatile(), p.add(1).read_volatile()] },
            None => [0, 0],
        }
    }

    fn write(&self, i: u32, d: [u64; 2]) {
        if let Some(p) = self.word_ptr(i) {
            // SAFETY: as for `read`; the slot belongs to the writer (see the module docs).
            unsafe {
                p.write_volatile(d[0]);
                p.add(1).write_volatile(d[1]);
            }
        }
    }
}

/// Per-queue counters, written by the ring's owner, read by anyone (`get_stats64`). They
/// live outside the rings, which close frees, so a reader never races a free and the
/// counts carry on across close and open.
pub(crate) struct RingStats {
    pub(crate) packets: Atomic<u64>,
    pub(crate) bytes: Atomic<u64>,
    pub(crate) dropped: Atomic<u64>,
    pub(crate) errors: Atomic<u64>,
    pub(crate) alloc_failed: Atomic<u64>,
    pub(crate) csum_errors: Atomic<u64>,
    /// Device faults seen on this ring (Rx only): a length of 0 or beyond the buffer, a
    /// status contradicting the packet type, a frame with no end within `MAX_FRAGS`.
    pub(crate) bad_len: Atomic<u64>,
    pub(crate) bad_status: Atomic<u64>,
    pub(crate) chain_overflow: Atomic<u64>,
    /// XDP verdicts (Rx, written by NAPI): frames passed, dropped, sent back, redirected,
    /// aborted (or an invalid verdict), and XDP_TX frames the Tx ring had no room for.
    pub(crate) xdp_pass: Atomic<u64>,
    pub(crate) xdp_drop: Atomic<u64>,
    pub(crate) xdp_tx: Atomic<u64>,
    pub(crate) xdp_redirect: Atomic<u64>,
    pub(crate) xdp_aborted: Atomic<u64>,
    pub(crate) xdp_tx_errors: Atomic<u64>,
    /// Frames other devices redirected here (Tx, written under the Tx queue's lock): sent,
    /// and refused (no room, not mapped).
    pub(crate) xdp_xmit: Atomic<u64>,
    pub(crate) xdp_xmit_errors: Atomic<u64>,
}

impl RingStats {
    /// All zero.
    pub(crate) fn new() -> Self {
        RingStats {
            packets: Atomic::new(0),
            bytes: Atomic::new(0),
            dropped: Atomic::new(0),
            errors: Atomic::new(0),
            alloc_failed: Atomic::new(0),
            csum_errors: Atomic::new(0),
            bad_len: Atomic::new(0),
            bad_status: Atomic::new(0),
            chain_overflow: Atomic::new(0),
            xdp_pass: Atomic::new(0),
            xdp_drop: Atomic::new(0),
            xdp_tx: Atomic::new(0),
            xdp_redirect: Atomic::new(0),
            xdp_aborted: Atomic::new(0),
            xdp_tx_errors: Atomic::new(0),
            xdp_xmit: Atomic::new(0),
            xdp_xmit_errors: Atomic::new(0),
        }
    }

    /// Reads a counter.
    pub(crate) fn get(c: &Atomic<u64>) -> u64 {
        c.load(Relaxed)
    }

    pub(crate) fn add(c: &Atomic<u64>, v: u64) {
        // One writer per counter: a relaxed read-modify-store is exact.
        c.store(c.load(Relaxed).wrapping_add(v), Relaxed);
    }
}

/// What the Tx side remembers of a posted descriptor.
struct TxSlot {
    /// The frame, on the first descriptor of a frame.
    skb: Option<Skb>,
    /// Or an XDP frame (one descriptor, not counted by BQL).
    xdpf: Option<XdpFrame>,
    /// The frame's last descriptor (valid with `skb`).
    eop: u32,
    /// Bytes of the frame on the wire (valid with `skb`).
    bytes: u32,
    /// Frames on the wire: TSO segments (valid with `skb`).
    pkts: u32,
    /// This descriptor's mapping.
    dma: u64,
    len: u32,
    /// Whether `dma` maps the linear part (else a page fragment); 0-length means unmapped.
    head: bool,
}

// SAFETY: all zeroes is a valid empty slot: no frame (`Skb` and `XdpFrame` are non-null
// pointers, so their `None` is zero), no mapping, zero counts.
unsafe impl Zeroable for TxSlot {}

/// Slots for the largest ring, allocated once per ring with vmalloc (no size arithmetic on
/// the path, no large contiguous allocation).
type TxSlots = VBox<[UnsafeCell<TxSlot>; RingSize::MAX as usize]>;
type RxSlots = VBox<[RxSlot; RingSize::MAX as usize]>;

/// A Tx ring; see the module docs for who touches what.
pub(crate) struct TxRing {
    q: u32,
    desc: DescMem,
    slots: TxSlots,
    next_to_use: Atomic<u32>,
    next_to_clean: Atomic<u32>,
    tail: HotReg,
    dev: DmaDev,
}

// SAFETY: slots are owned by one context at a time, handed over through the Release/Acquire
// index pair (module docs); everything else is immutable or atomic.
unsafe impl Sync for TxRing {}
// SAFETY: as above.
unsafe impl Send for TxRing {}

impl TxRing {
    /// A Tx ring for queue `q` writing its tail through `tail`.
    pub(crate) fn new(
        dev: &kernel::device::Device<kernel::device::Bound>,
        q: u32,
        size: RingSize,
        tail: HotReg,
    ) -> Result<Self> {
        let slots = VBox::init(init_zeroed(), GFP_KERNEL)?;
        Ok(TxRing {
            q,
            desc: DescMem::new(dev, size)?,
            slots,
            next_to_use: Atomic::new(0),
            next_to_clean: Atomic::new(0),
            tail,
            dev: DmaDev::new(dev),
        })
    }

    /// Bus address and byte length of the descriptors (VFTDBAL/H, VFTDLEN).
    pub(crate) fn layout(&self) -> (u64, u32) {
        (self.desc.bus(), self.desc.size.bytes())
    }

    fn slot(&self, i: u32) -> Option<*mut TxSlot> {
        // CAST: ring index fits usize.
        self.slots
            .get(self.desc.size.wrap(i) as usize)
            .map(UnsafeCell::get)
    }

    fn unused(&self) -> u32 {
        self.desc.size.unused(
            self.next_to_use.load(Relaxed),
            self.next_to_clean.load(Acquire),
        )
    }

    /// Queues one frame (from xmit, under the stack's lock for this queue). Returns the
    /// frame back when the ring is full, so the stack retries it (NETDEV_TX_BUSY).
    pub(crate) fn xmit(
        &self,
        skb: Skb,
        nd: &Netdev,
        io: &BarIo<'_, '_>,
        stats: &RingStats,
    ) -> Result<(), Skb> {
        let frags = skb.nr_frags();
        // A context descriptor, then each buffer in pieces of at most 16 KiB.
        let mut need = chunks(skb.headlen()).saturating_add(1);
        for f in 0..frags.min(MAX_FRAGS) {
            need = need.saturating_add(chunks(skb.frag_len(f)));
        }
        if frags > MAX_FRAGS || need >= self.desc.size.count() {
            RingStats::add(&stats.dropped, 1);
            return Ok(());
        }
        if self.unused() < need {
            nd.txq_stop(self.q);
            // Look again after stopping: a completion between the check and the stop would
            // otherwise leave the queue stopped for ever (ixgbevf's maybe_stop_tx).
            smp_mb();
            if self.unused() < need {
                return Err(skb);
            }
            nd.txq_wake(self.q);
        }
        let Some(mut skb) = skb.pad(TX_MIN_LEN) else {
            RingStats::add(&stats.dropped, 1);
            return Ok(());
        };
        let plan = match skb.offload() {
            Ok(o) => desc::tx_plan(&o, skb.len()),
            Err(_) => None,
        };
        let Some(plan) = plan else {
            RingStats::add(&stats.dropped, 1);
            return Ok(());
        };
        let first = self.next_to_use.load(Relaxed);
        let mut i = first;
        let mut used = 0u32;
        if let Some(ctx) = plan.context {
            self.desc.write(i, ctx);
            i = self.desc.size.next(i);
            used = 1;
        }
        let mut eop = i;
        let mut ok = true;
        for part in 0..=frags {
            let mapped = if part == 0 {
                skb.map_head(self.dev).map(|d| (d, skb.headlen(), true))
            } else {
                skb.map_frag(self.dev, part.saturating_sub(1))
                    .map(|(d, l)| (d, l, false))
            };
            let (Some((dma, len, head)), Some(slot)) = (mapped, self.slot(i)) else {
                ok = false;
                break;
            };
            // SAFETY: slot `i` is at or past next_to_use, so xmit owns it (module docs).
            let s = unsafe { &mut *slot };
            s.dma = dma;
            s.len = len;
            s.head = head;
            let last_part = part == frags;
            let mut off = 0u32;
            loop {
                let piece = len.saturating_sub(off).min(desc::tx::MAX_DATA_PER_DESC);
                let end = off.saturating_add(piece) >= len;
                // CAST: a piece is at most 16 KiB.
                let d = desc::tx_data_planned(
                    dma.wrapping_add(u64::from(off)),
                    piece as u16,
                    last_part && end,
                    &plan,
                );
                self.desc.write(i, d);
                eop = i;
                i = self.desc.size.next(i);
                used = used.saturating_add(1);
                off = off.saturating_add(piece);
                if end {
                    break;
                }
            }
        }
        if !ok {
            // Undo what was mapped and drop the frame.
            let mut j = first;
            for _ in 0..used {
                self.release(j);
                j = self.desc.size.next(j);
            }
            RingStats::add(&stats.dropped, 1);
            return Ok(());
        }
        if let Some(slot) = self.slot(first) {
            // SAFETY: as above.
            let s = unsafe { &mut *slot };
            s.eop = eop;
            s.bytes = plan.wire_bytes;
            s.pkts = plan.segs;
            s.skb = Some(skb);
        }
        // Publish the slots to NAPI; the descriptor writes are ordered before the tail's
        // MMIO write by writel's barrier.
        self.next_to_use.store(i, Release);
        if nd.txq_sent(self.q, plan.wire_bytes) {
            self.tail.write_tail(io, i);
        }
        if self.unused() < TX_WORST_CASE {
            nd.txq_stop(self.q);
            smp_mb();
            if self.unused() >= TX_WORST_CASE {
                nd.txq_wake(self.q);
            }
        }
        Ok(())
    }

    /// Unmaps slot `i` and frees its frame, if any.
    fn release(&self, i: u32) {
        let Some(slot) = self.slot(i) else { return };
        // SAFETY: called by the slot's current owner (xmit on unwind, NAPI on completion,
        // close with both stopped).
        let s = unsafe { &mut *slot };
        if s.len != 0 {
            if s.head {
                self.dev.unmap_single(s.dma, s.len);
            } else {
                self.dev.unmap_page(s.dma, s.len);
            }
        }
        s.len = 0;
        s.skb = None;
        s.xdpf = None;
    }

    /// Queues one XDP frame at `dma`: its page-pool mapping (XDP_TX; `mapped` false) or a
    /// mapping of its own (a frame redirected here; unmapped on completion). The caller holds
    /// the Tx queue's lock, which makes it the ring's one producer, as xmit is. Returns the
    /// frame back when it cannot be described or the ring is full.
    pub(crate) fn post_frame(
        &self,
        f: XdpFrame,
        dma: u64,
        len: u32,
        mapped: bool,
    ) -> Result<(), XdpFrame> {
        let Ok(len16) = u16::try_from(len) else {
            return Err(f);
        };
        if len < TX_MIN_LEN || self.unused() < 1 {
            return Err(f);
        }
        let i = self.next_to_use.load(Relaxed);
        let Some(slot) = self.slot(i) else {
            return Err(f);
        };
        // SAFETY: slot `i` is at next_to_use, so the producer (holding the queue lock) owns it.
        let s = unsafe { &mut *slot };
        s.dma = dma;
        s.len = if mapped { len } else { 0 };
        s.head = true;
        s.eop = i;
        s.bytes = len;
        s.pkts = 1;
        s.xdpf = Some(f);
        self.desc.write(i, desc::tx_data(dma, len16, true, len));
        self.next_to_use.store(self.desc.size.next(i), Release);
        Ok(())
    }

    /// Writes the tail after [`Self::post_frame`] (under the Tx queue's lock).
    pub(crate) fn kick(&self, io: &BarIo<'_, '_>) {
        self.tail.write_tail(io, self.next_to_use.load(Relaxed));
    }

    /// Reclaims completed frames (from NAPI); returns how many.
    pub(crate) fn clean(&self, nd: &Netdev, budget: i32, stats: &RingStats) -> u32 {
        let ntu = self.next_to_use.load(Acquire);
        let mut i = self.next_to_clean.load(Relaxed);
        let (mut frames, mut pkts, mut bytes) = (0u32, 0u32, 0u32);
        // What BQL counted: frames from xmit only.
        let (mut bql_frames, mut bql_bytes) = (0u32, 0u32);
        while i != ntu {
            let Some(slot) = self.slot(i) else { break };
            // SAFETY: slot `i` is between next_to_clean and next_to_use: NAPI owns it.
            let s = unsafe { &mut *slot };
            let Some(eop) = (s.skb.is_some() || s.xdpf.is_some()).then_some(s.eop) else {
                // Not the head of a frame: nothing was published here.
                break;
            };
            if !desc::tx_done(self.desc.read(eop)) {
                break;
            }
            dma_rmb();
            let frame_bytes = s.bytes;
            let frame_pkts = s.pkts;
            let skb = s.skb.take();
            let mut j = i;
            loop {
                self.release(j);
                if j == eop {
                    break;
                }
                j = self.desc.size.next(j);
            }
            if let Some(skb) = skb {
                skb.consume(budget);
                bql_frames = bql_frames.saturating_add(1);
                bql_bytes = bql_bytes.saturating_add(frame_bytes);
            }
            frames = frames.saturating_add(1);
            pkts = pkts.saturating_add(frame_pkts);
            bytes = bytes.saturating_add(frame_bytes);
            i = self.desc.size.next(eop);
        }
        self.next_to_clean.store(i, Release);
        if frames != 0 {
            RingStats::add(&stats.packets, u64::from(pkts));
            RingStats::add(&stats.bytes, u64::from(bytes));
            if bql_frames != 0 {
                nd.txq_completed(self.q, bql_frames, bql_bytes);
            }
            smp_mb();
            if nd.txq_stopped(self.q) && self.unused() >= TX_WORST_CASE.saturating_mul(2) {
                nd.txq_wake(self.q);
            }
        }
        frames
    }

    /// next_to_clean, and whether frames are in flight (for the hang check).
    pub(crate) fn progress(&self) -> (u32, bool) {
        let ntc = self.next_to_clean.load(Acquire);
        (ntc, self.next_to_use.load(Acquire) != ntc)
    }

    /// Frees every posted frame (at close, with xmit and NAPI stopped).
    pub(crate) fn drain(&self, nd: &Netdev) {
        for i in 0..self.desc.size.count() {
            self.release(i);
        }
        self.next_to_use.store(0, Relaxed);
        self.next_to_clean.store(0, Relaxed);
        nd.txq_reset(self.q);
    }
}

/// What the Rx side remembers of a posted buffer.
struct RxSlot {
    page: Option<PageRef>,
}

// SAFETY: all zeroes is an empty slot (`PageRef` is a non-null pointer).
unsafe impl Zeroable for RxSlot {}

/// An Rx ring, owned by its NAPI poll (and by open/close while NAPI is disabled).
pub(crate) struct RxRing {
    q: u32,
    desc: DescMem,
    slots: RxSlots,
    next_to_clean: u32,
    next_to_use: u32,
    /// A frame spanning several buffers, being assembled.
    partial: Option<Skb>,
    partial_frags: u32,
    partial_bad: bool,
    /// Declared before `pool`, so dropped first: it holds a user of the pool.
    xdp_rxq: XdpRxq,
    pool: PagePool,
    tail: HotReg,
    buf_len: u32,
    /// Bytes before each buffer in its page (the pool's offset).
    headroom: u32,
    /// This poll sent XDP_TX frames (the Tx tail is written once, at its end) or redirected.
    xdp_sent: bool,
    xdp_redirected: bool,
}

/// What a NAPI poll needs to run an XDP program: the program and, for XDP_TX, the queue
/// pair's Tx ring.
pub(crate) struct Xdp<'a> {
    pub(crate) prog: XdpProg,
    pub(crate) tx: &'a TxRing,
    pub(crate) tx_dma: DmaDev,
    pub(crate) nd: &'a Netdev,
}

impl RxRing {
    /// An Rx ring for queue `q` with buffers of `buf_len` bytes from a page pool on `napi`.
    pub(crate) fn new(
        dev: &kernel::device::Device<kernel::device::Bound>,
        nd: &Netdev,
        napi: Napi,
        q: u32,
        size: RingSize,
        buf_len: u32,
        tail: HotReg,
    ) -> Result<Self> {
        let slots = VBox::init(init_zeroed(), GFP_KERNEL)?;
        // The buffer, its headroom and the skb_shared_info that build_skb puts after it
        // must fit one page.
        if shim::rx_headroom()
            .saturating_add(buf_len)
            .saturating_add(512)
            > shim::page_size()
        {
            return Err(EINVAL);
        }
        let pool = nd.page_pool(DmaDev::new(dev), napi, q, size.count(), buf_len)?;
        Ok(RxRing {
            q,
            desc: DescMem::new(dev, size)?,
            slots,
            next_to_clean: 0,
            next_to_use: 0,
            partial: None,
            partial_frags: 0,
            partial_bad: false,
            xdp_rxq: napi.xdp_rxq(q, &pool)?,
            pool,
            tail,
            buf_len,
            headroom: shim::rx_headroom(),
            xdp_sent: false,
            xdp_redirected: false,
        })
    }

    /// Bus address and byte length of the descriptors (VFRDBAL/H, VFRDLEN).
    pub(crate) fn layout(&self) -> (u64, u32) {
        (self.desc.bus(), self.desc.size.bytes())
    }

    fn slot(&mut self, i: u32) -> Option<&mut RxSlot> {
        // CAST: ring index fits usize.
        let i = self.desc.size.wrap(i) as usize;
        self.slots.get_mut(i)
    }

    /// Posts fresh buffers on every free descriptor but one, then writes the tail once.
    pub(crate) fn refill(&mut self, io: &BarIo<'_, '_>, stats: &RingStats) {
        let mut posted = false;
        while self.desc.size.unused(self.next_to_use, self.next_to_clean) > 0 {
            let Some((page, dma)) = self.pool.alloc() else {
                RingStats::add(&stats.alloc_failed, 1);
                break;
            };
            let i = self.next_to_use;
            match self.slot(i) {
                Some(s) => s.page = Some(page),
                None => {
                    self.pool.put(page);
                    break;
                }
            }
            self.desc.write(i, desc::rx_read(dma));
            self.next_to_use = self.desc.size.next(i);
            posted = true;
        }
        if posted {
            self.tail.write_tail(io, self.next_to_use);
        }
    }

    /// Runs the XDP program on a whole frame of `len` bytes in `page` (from NAPI). Returns
    /// the skb to deliver for XDP_PASS; every other verdict consumes the frame here, and
    /// counts it as received (XDP_PASS frames are counted when delivered).
    fn run_xdp(
        &mut self,
        x: &Xdp<'_>,
        napi: Napi,
        page: PageRef,
        len: u32,
        stats: &RingStats,
    ) -> Option<Skb> {
        let run = napi.xdp_run(x.prog, &self.xdp_rxq, page, self.headroom, len);
        let (counter, act) = match run {
            XdpRun::Tx(f) => {
                let (dma, flen) = x.tx_dma.xdp_tx_dma(&f);
                let _lock = x.nd.txq_lock(self.q);
                match x.tx.post_frame(f, dma, flen, false) {
                    Ok(()) => {
                        self.xdp_sent = true;
                        (&stats.xdp_tx, None)
                    }
                    // Dropping the frame returns its page to the pool.
                    Err(_) => (&stats.xdp_tx_errors, None),
                }
            }
            XdpRun::Done(act, off, out_len) => match Verdict::decode(act) {
                Verdict::Pass => {
                    RingStats::add(&stats.xdp_pass, 1);
                    let skb = napi.build_skb(page, off, out_len);
                    if skb.is_none() {
                        self.pool.put(page);
                        RingStats::add(&stats.alloc_failed, 1);
                    }
                    return skb;
                }
                Verdict::Redirect => {
                    self.xdp_redirected = true;
                    (&stats.xdp_redirect, None)
                }
                Verdict::Drop => {
                    self.pool.put(page);
                    (&stats.xdp_drop, None)
                }
                Verdict::Tx | Verdict::Aborted | Verdict::Invalid => {
                    self.pool.put(page);
                    (&stats.xdp_aborted, Some(act))
                }
            },
        };
        RingStats::add(counter, 1);
        RingStats::add(&stats.packets, 1);
        RingStats::add(&stats.bytes, u64::from(len));
        if let Some(act) = act {
            x.nd.xdp_exception(x.prog, act);
        }
        None
    }

    /// Receives up to `budget` frames (from NAPI); returns how many it handled. With an
    /// XDP program (`xdp`), each single-buffer frame goes through it first.
    pub(crate) fn poll(
        &mut self,
        napi: Napi,
        io: &BarIo<'_, '_>,
        budget: u32,
        stats: &RingStats,
        dirtying: bool,
        xdp: Option<Xdp<'_>>,
    ) -> u32 {
        let mut done = 0u32;
        while done < budget && self.next_to_clean != self.next_to_use {
            let i = self.next_to_clean;
            let Some(wb) = RxWriteback::decode(self.desc.read(i)) else {
                break;
            };
            dma_rmb();
            let Some(page) = self.slot(i).and_then(|s| s.page.take()) else {
                break;
            };
            self.next_to_clean = self.desc.size.next(i);
            let len = wb.checked_len(self.buf_len);
            match len {
                Some(len) if !self.partial_bad => {
                    self.pool.sync_for_cpu(page, len);
                    if dirtying {
                        self.pool.touch(page);
                    }
                    match self.partial.as_mut() {
                        Some(skb) if self.partial_frags < MAX_FRAGS => {
                            skb.add_frag(page, len);
                            self.partial_frags = self.partial_frags.saturating_add(1);
                        }
                        Some(_) => {
                            // No end of packet within the most buffers a frame may take.
                            self.pool.put(page);
                            self.partial_bad = true;
                            RingStats::add(&stats.chain_overflow, 1);
                        }
                        None if xdp.is_some() && (!wb.eop() || wb.frame_error()) => {
                            // XDP sees whole single-buffer frames only; a frame in several
                            // buffers (or a bad one) cannot go to the program or around it.
                            self.pool.put(page);
                            self.partial_bad = true;
                        }
                        None => {
                            let skb = match xdp.as_ref() {
                                Some(x) => match self.run_xdp(x, napi, page, len, stats) {
                                    Some(skb) => Some(skb),
                                    None => {
                                        done = done.saturating_add(1);
                                        continue;
                                    }
                                },
                                None => napi.build_skb(page, self.headroom, len),
                            };
                            match skb {
                                Some(skb) => {
                                    self.partial = Some(skb);
                                    self.partial_frags = 0;
                                }
                                None if xdp.is_some() => self.partial_bad = true,
                                None => {
                                    self.pool.put(page);
                                    RingStats::add(&stats.alloc_failed, 1);
                                    self.partial_bad = true;
                                }
                            }
                        }
                    }
                }
                Some(_) => self.pool.put(page),
                None => {
                    // A length of 0 or beyond the buffer: the frame cannot be trusted.
                    self.pool.put(page);
                    self.partial_bad = true;
                    RingStats::add(&stats.bad_len, 1);
                }
            }
            if !wb.eop() {
                continue;
            }
            let skb = self.partial.take();
            let bad = core::mem::replace(&mut self.partial_bad, false) || wb.frame_error();
            match skb {
                Some(skb) if !bad => {
                    RingStats::add(&stats.packets, 1);
                    RingStats::add(&stats.bytes, u64::from(skb.len()));
                    if wb.nonsense() {
                        RingStats::add(&stats.bad_status, 1);
                    }
                    let csum = wb.trusted_checksum();
                    if csum == RxCsum::Bad {
                        RingStats::add(&stats.csum_errors, 1);
                    }
                    napi.deliver(skb, self.q, csum == RxCsum::Good, wb.vlan(), wb.hash());
                    done = done.saturating_add(1);
                }
                _ => {
                    RingStats::add(&stats.errors, 1);
                    done = done.saturating_add(1);
                }
            }
        }
        self.refill(io, stats);
        if let Some(x) = xdp {
            if core::mem::replace(&mut self.xdp_sent, false) {
                let _lock = x.nd.txq_lock(self.q);
                x.tx.kick(io);
            }
            if core::mem::replace(&mut self.xdp_redirected, false) {
                shim::xdp_flush();
            }
        }
        done
    }

    /// Returns every posted buffer to the pool (at close, with NAPI disabled and the queue
    /// stopped). The pool itself is destroyed when the ring is dropped.
    pub(crate) fn drain(&mut self) {
        self.partial = None;
        for i in 0..self.desc.size.count() {
            if let Some(page) = self.slot(i).and_then(|s| s.page.take()) {
                self.pool.put(page);
            }
        }
        self.next_to_clean = 0;
        self.next_to_use = 0;
    }
}
