//! The device as a whole: the VF register file seen through BAR0, the PF peer behind the
//! mailbox, guest memory and the MSI-X sink. Transport-independent: the vfio-user glue and
//! the unit tests drive it through the same methods.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use log::{info, warn};

use crate::dma::GuestMemory;
use crate::msix::IrqSink;
use crate::pf::{Admin, PfVf};
use crate::regs::*;
use crate::vf::{Counters, VfState};

/// How long the device takes for things the driver polls for.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// RXDCTL/TXDCTL.ENABLE set → visible.
    pub enable: Duration,
    /// ENABLE cleared → visible.
    pub disable: Duration,
    /// RSTI asserted after VFCTRL.RST (then RSTD).
    pub reset: Duration,
}

impl Timing {
    /// How long the ENABLE change that an RXDCTL/TXDCTL write `v` asks for takes.
    fn dctl_delay(&self, v: u32) -> Duration {
        if v & DCTL_ENABLE != 0 {
            self.enable
        } else {
            self.disable
        }
    }
}

impl Default for Timing {
    fn default() -> Self {
        // TIMEOUT: ixgbevf polls ENABLE for 10 x 1-2 ms and its clear for 10 x 10 us, and
        // waits at most 200 x 5 us for RSTI/RSTD to go; these stay well inside those.
        Timing {
            enable: Duration::from_micros(200),
            disable: Duration::from_micros(10),
            reset: Duration::from_micros(20),
        }
    }
}

/// What reset the VF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetCause {
    /// The VF driver wrote VFCTRL.RST.
    VfctrlRst,
    /// A PCIe function-level reset through the transport.
    Flr,
    /// The transport's device reset (QEMU resets the device when it attaches it).
    Device,
}

impl ResetCause {
    fn name(self) -> &'static str {
        match self {
            ResetCause::VfctrlRst => "VFCTRL.RST",
            ResetCause::Flr => "PCIe FLR",
            ResetCause::Device => "device reset",
        }
    }
}

/// Faults the test harness can inject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// The PF silently loses the next N VF messages.
    pub lose_msgs: u32,
    /// The PF pings the VF right after the next N VF requests are posted, overwriting them.
    pub ping_race: u32,
    /// Hold RSTI for this long on the next VFCTRL.RST instead of `Timing::reset`.
    pub hold_rsti: Option<Duration>,
    /// Drop the next N received frames.
    pub drop_rx: u32,
    /// Drop the next N transmitted frames.
    pub drop_tx: u32,
    /// The next N Rx write-backs report a length beyond the posted buffer.
    pub rx_bad_len: u32,
    /// The next N received frames end without EOP on their last descriptor.
    pub rx_no_eop: u32,
    /// With each of the next N received frames, a write-back with DD and EOP also lands on
    /// the first descriptor software has not posted.
    pub rx_dd_unposted: u32,
    /// The next N Rx write-backs carry status bits that contradict their packet type.
    pub rx_bad_status: u32,
    /// The next N received frames go to a buffer address outside guest RAM (refused by
    /// the DMA layer, as an IOMMU would refuse it; the frame is lost).
    pub dma_wild: u32,
    /// The next N Tx passes move the head forward to the tail, skipping every pending
    /// descriptor (never sent, never written back).
    pub tx_head_jump: u32,
    /// The next N Tx passes move the head back by four descriptors, redoing finished ones.
    pub tx_head_back: u32,
    /// Until then, BAR0 reads all ones, writes are lost, and the device neither receives,
    /// transmits nor interrupts (a surprise removal that comes back).
    pub gone_until: Option<Instant>,
    /// The PF's next N replies carry another message's id.
    pub mbx_wrong_id: u32,
    /// The PF's next N replies are garbage words.
    pub mbx_garbage: u32,
    /// Until then, every vector fires on every pass of the device's worker, masked or not
    /// and without a cause (a device with a stuck interrupt).
    pub storm_until: Option<Instant>,
}

/// Why the model refused or dropped something, counted for `stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// Frames handed to the wire.
    pub tx_frames: u64,
    /// Frames written to guest memory.
    pub rx_frames: u64,
    /// Rx frames refused by the PF switch (MAC, VLAN, mode, size, link, VFRE).
    pub rx_filtered: u64,
    /// Rx frames dropped for lack of descriptors (SRRCTL.DROP_EN).
    pub rx_no_desc: u64,
    /// Rx frames dropped because no queue was running.
    pub rx_queue_off: u64,
    /// Tx frames dropped by anti-spoof, link or VFTE.
    pub tx_blocked: u64,
    /// DMA accesses refused (outside guest RAM).
    pub dma_errors: u64,
    /// Malformed descriptors or rings.
    pub bad_descriptors: u64,
    /// Guest register accesses the model refused (unknown offset, bad size).
    pub bad_accesses: u64,
    /// Frames dropped on purpose by fault injection.
    pub injected_drops: u64,
    /// Injected faults that took effect (lost messages, ping races, held resets, drops):
    /// the evidence a fault test needs that its fault fired.
    pub faults_fired: u64,
    /// Mailbox messages the PF handled.
    pub mbx_msgs: u64,
    /// MSI-X messages sent by VF instances that were since reset or swapped out.
    pub msix_before_reset: u64,
    /// Tx packets the model segmented (TSE), and frames whose L4 checksum it inserted.
    pub tx_tso: u64,
    pub tx_csum: u64,
    /// Tx frames the model tagged from a context descriptor (VLE).
    pub tx_vlan: u64,
    /// Guest reads and writes of BAR0 (each access counts once, whatever its size).
    pub mmio_reads: u64,
    pub mmio_writes: u64,
}

/// A rate limiter for guest-caused warnings: the first few, then one in 1000.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Throttle(u64);

impl Throttle {
    pub(crate) fn allow(&mut self) -> bool {
        self.0 += 1;
        self.0 <= 20 || self.0 % 1000 == 0
    }
}

/// Identity and policy of a device instance.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// PCI device id (only reported; the register model is the 82599 VF's).
    pub device_id: u16,
    /// Administrator settings of the PF for this VF.
    pub admin: Admin,
    /// Timing of asynchronous operations.
    pub timing: Timing,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            device_id: 0x10ED,
            admin: Admin::default(),
            timing: Timing::default(),
        }
    }
}

/// The emulated VF and its PF peer.
pub struct Device {
    pub(crate) vf: VfState,
    pub(crate) pf: PfVf,
    pub(crate) admin: Admin,
    pub(crate) timing: Timing,
    pub(crate) faults: Faults,
    pub(crate) stats: ModelStats,
    pub(crate) link_up: bool,
    pub(crate) mem: Box<dyn GuestMemory>,
    pub(crate) sink: Box<dyn IrqSink>,
    /// Frames ready for the wire.
    pub(crate) outbox: VecDeque<Vec<u8>>,
    pub(crate) generation: u64,
    /// When the PF reset in progress ends (`pf_reset`); until then the VF is held in reset,
    /// its pool's Rx and Tx are off and the PF answers no VF message.
    pf_reset_until: Option<Instant>,
    pub(crate) warn: Throttle,
    device_id: u16,
    /// Per fault kind, how many times it took effect.
    fired: std::collections::BTreeMap<&'static str, u64>,
}

impl Device {
    /// A device at power-on, attached to `mem` and `sink`.
    pub fn new(
        cfg: DeviceConfig,
        mem: Box<dyn GuestMemory>,
        sink: Box<dyn IrqSink>,
        now: Instant,
    ) -> Self {
        let pf = PfVf::new(&cfg.admin);
        Device {
            vf: VfState::new(now),
            pf,
            admin: cfg.admin,
            timing: cfg.timing,
            faults: Faults::default(),
            stats: ModelStats::default(),
            link_up: true,
            mem,
            sink,
            outbox: VecDeque::new(),
            generation: 0,
            pf_reset_until: None,
            warn: Throttle::default(),
            device_id: cfg.device_id,
            fired: std::collections::BTreeMap::new(),
        }
    }

    /// PCI device id.
    pub fn device_id(&self) -> u16 {
        self.device_id
    }

    /// Whether the PF lets the VF read its RSS key and table (the Linux PF's per-VF
    /// `query_rss` setting, which takes effect without telling the VF).
    pub fn set_rss_query(&mut self, on: bool) {
        self.admin.rss_query = on;
    }

    /// Presents another 82599-family VF model from the next swap on (the register model
    /// is the same for all of them; the id is what a driver tells them apart by).
    pub fn set_device_id(&mut self, device_id: u16) {
        self.device_id = device_id;
    }

    /// Replaces guest memory (new DMA mappings).
    pub fn memory_mut(&mut self) -> &mut Box<dyn GuestMemory> {
        &mut self.mem
    }

    /// Replaces the MSI-X sink.
    pub fn sink_mut(&mut self) -> &mut Box<dyn IrqSink> {
        &mut self.sink
    }

    /// Counts one firing of the injected fault `kind` (`faults_fired` and per kind).
    pub(crate) fn fault_fired(&mut self, kind: &'static str) {
        self.stats.faults_fired += 1;
        *self.fired.entry(kind).or_insert(0) += 1;
    }

    /// How many times each injected fault kind took effect.
    pub fn faults_by_kind(&self) -> &std::collections::BTreeMap<&'static str, u64> {
        &self.fired
    }

    /// Whether the device plays dead now (the `gone` fault); counts each access it refuses.
    pub(crate) fn playing_dead(&mut self, now: Instant) -> bool {
        match self.faults.gone_until {
            Some(until) if now < until => true,
            Some(_) => {
                self.faults.gone_until = None;
                info!("fault: the VF answers again");
                false
            }
            None => false,
        }
    }

    /// One round of the `msix_storm` fault, while it lasts: every vector fires once.
    pub(crate) fn storm_tick(&mut self, now: Instant) {
        match self.faults.storm_until {
            Some(until) if now < until => {
                for v in 0..crate::regs::NUM_VECTORS {
                    if self.sink.fire(v) {
                        self.fault_fired("msix_storm");
                    }
                }
            }
            Some(_) => self.faults.storm_until = None,
            None => {}
        }
    }

    /// Whether an interrupt storm is under way (the worker then loops without waiting).
    pub fn storming(&self) -> bool {
        self.faults.storm_until.is_some()
    }

    /// The `ping_flood` fault: `n` PF control messages back to back, each with its
    /// interrupt; returns how many reached the mailbox.
    pub fn ping_flood(&mut self, n: u32, now: Instant) -> u32 {
        let mut sent = 0;
        for _ in 0..n {
            if self.pf_ping(now) {
                self.fault_fired("ping_flood");
                sent += 1;
            }
        }
        sent
    }

    /// Logs a guest-caused problem, rate-limited.
    pub(crate) fn guest_warn(&mut self, what: std::fmt::Arguments<'_>) {
        if self.warn.allow() {
            warn!("guest: {what}");
        }
    }

    /// BAR0 read of `data.len()` bytes at `offset`. Dword-aligned 4-byte reads are the
    /// norm; 8-byte reads are two dword reads; smaller reads take bytes of the dword (with
    /// its side effects, as on hardware). Misaligned or out-of-BAR reads return all ones.
    pub fn bar0_read(&mut self, offset: u64, data: &mut [u8], now: Instant) {
        self.stats.mmio_reads += 1;
        if self.playing_dead(now) {
            self.fault_fired("gone");
            data.fill(0xFF);
            return;
        }
        let len = data.len() as u64;
        let ok = matches!(len, 1 | 2 | 4 | 8)
            && offset % len.min(4) == 0
            && (len < 8 || offset % 4 == 0)
            && offset.checked_add(len).is_some_and(|e| e <= BAR0_SIZE)
            && (offset % 4) + len.min(4) <= 4;
        if !ok {
            self.stats.bad_accesses += 1;
            self.guest_warn(format_args!(
                "BAR0 read of {len} bytes at {offset:#x} refused"
            ));
            data.fill(0xFF);
            return;
        }
        if len == 8 {
            let lo = self.read32(offset, now);
            let hi = self.read32(offset + 4, now);
            data.copy_from_slice(&(u64::from(lo) | (u64::from(hi) << 32)).to_le_bytes());
            return;
        }
        let v = self.read32(offset & !3, now).to_le_bytes();
        let start = (offset % 4) as usize;
        data.copy_from_slice(&v[start..start + data.len()]);
    }

    /// BAR0 write. Sub-dword writes of plain registers merge with the current value;
    /// sub-dword writes are refused on registers where reading has side effects.
    pub fn bar0_write(&mut self, offset: u64, data: &[u8], now: Instant) {
        self.stats.mmio_writes += 1;
        if self.playing_dead(now) {
            self.fault_fired("gone");
            return;
        }
        let len = data.len() as u64;
        let ok = matches!(len, 1 | 2 | 4 | 8)
            && offset % len.min(4) == 0
            && (len < 8 || offset % 4 == 0)
            && offset.checked_add(len).is_some_and(|e| e <= BAR0_SIZE);
        if !ok {
            self.stats.bad_accesses += 1;
            self.guest_warn(format_args!(
                "BAR0 write of {len} bytes at {offset:#x} dropped"
            ));
            return;
        }
        match len {
            8 => {
                let v = u64::from_le_bytes(data.try_into().unwrap_or([0; 8]));
                // CAST: split into the two dwords.
                self.write32(offset, v as u32, now);
                self.write32(offset + 4, (v >> 32) as u32, now);
            }
            4 => {
                let v = u32::from_le_bytes(data.try_into().unwrap_or([0; 4]));
                self.write32(offset, v, now);
            }
            _ => {
                let base = offset & !3;
                if matches!(base, VTEICR | VFMAILBOX | VFCTRL | VTEICS | VTEIMS | VTEIMC) {
                    self.stats.bad_accesses += 1;
                    self.guest_warn(format_args!(
                        "{len}-byte write to side-effect register {base:#x} dropped"
                    ));
                    return;
                }
                let cur = self.peek32(base, now).to_le_bytes();
                let mut v = cur;
                let start = (offset % 4) as usize;
                v[start..start + data.len()].copy_from_slice(data);
                self.write32(base, u32::from_le_bytes(v), now);
            }
        }
    }

    /// A side-effect-free view of a register (for merges and the control socket).
    pub fn peek32(&mut self, offset: u64, now: Instant) -> u32 {
        match offset {
            VTEICR => self.vf.irq.peek_eicr(),
            VFMAILBOX => {
                self.vf.mbx.tick(now);
                self.vf.mbx.peek()
            }
            _ => self.read32(offset, now),
        }
    }

    /// One dword read with the register's read semantics.
    pub fn read32(&mut self, offset: u64, now: Instant) -> u32 {
        self.pf_reset_tick(now);
        match decode(offset) {
            Reg::Rx(reg, q) => {
                let queue = &mut self.vf.rxq[q];
                queue.tick(now);
                match reg {
                    VFRDBAL => queue.bal,
                    VFRDBAH => queue.bah,
                    VFRDLEN => queue.len,
                    VFDCA_RXCTRL => queue.dca,
                    VFRDH => queue.head,
                    VFSRRCTL => queue.srrctl,
                    VFRDT => queue.tail,
                    VFRXDCTL => queue.dctl(),
                    VFRSCCTL => queue.rscctl,
                    _ => self.unknown_read(offset),
                }
            }
            Reg::Tx(reg, q) => {
                let queue = &mut self.vf.txq[q];
                queue.tick(now);
                match reg {
                    VFTDBAL => queue.bal,
                    VFTDBAH => queue.bah,
                    VFTDLEN => queue.len,
                    VFDCA_TXCTRL => queue.dca,
                    VFTDH => queue.head,
                    VFTDT => queue.tail,
                    VFTXDCTL => queue.dctl(),
                    VFTDWBAL => queue.wbal,
                    VFTDWBAH => queue.wbah,
                    _ => self.unknown_read(offset),
                }
            }
            Reg::MbxMem(i) => self.vf.mbx.vf_read_mem(i),
            Reg::Eitr(v) => self.vf.irq.eitr(v),
            Reg::Ivar(i) => self.vf.irq.ivar(i),
            Reg::Global(off) => match off {
                // VFCTRL.RST self-clears; nothing else in VFCTRL is implemented for a VF.
                VFCTRL => 0,
                VFSTATUS => 0,
                VFLINKS => self.links(),
                VFFRTIMER => {
                    // CAST: a free-running microsecond timer wraps at 32 bits.
                    now.saturating_duration_since(self.vf.created).as_micros() as u32
                }
                VFRXMEMWRAP => 0,
                VTEICR => self.vf.irq.read_eicr(),
                VTEICS => self.vf.irq.peek_eicr(),
                VTEIMS => self.vf.irq.eims(),
                VTEIMC => 0,
                VTEIAC => self.vf.irq.eiac(),
                VTEIAM => self.vf.irq.eiam(),
                VTIVAR_MISC => self.vf.irq.ivar_misc(),
                VFPSRTYPE => self.vf.psrtype,
                VFMAILBOX => self.vf.mbx.vf_read(now),
                VFGPRC => self.vf.counters.gprc,
                VFGPTC => self.vf.counters.gptc,
                VFMPRC => self.vf.counters.mprc,
                // CAST: the low 32 and high 4 bits of the 36-bit octet counters.
                VFGORC_LSB => self.vf.counters.gorc as u32,
                VFGORC_MSB => (self.vf.counters.gorc >> 32) as u32,
                VFGOTC_LSB => self.vf.counters.gotc as u32,
                VFGOTC_MSB => (self.vf.counters.gotc >> 32) as u32,
                _ => self.unknown_read(offset),
            },
        }
    }

    fn unknown_read(&mut self, offset: u64) -> u32 {
        self.stats.bad_accesses += 1;
        self.guest_warn(format_args!(
            "read of unimplemented BAR0 register {offset:#x}"
        ));
        0
    }

    fn unknown_write(&mut self, offset: u64, v: u32) {
        self.stats.bad_accesses += 1;
        self.guest_warn(format_args!(
            "write of {v:#x} to unimplemented or read-only BAR0 register {offset:#x} dropped"
        ));
    }

    /// VFLINKS as the PF link makes it.
    pub fn links(&self) -> u32 {
        if self.link_up {
            LINKS_UP | LINKS_SPEED_10G
        } else {
            0
        }
    }

    /// One dword write with the register's write semantics.
    pub fn write32(&mut self, offset: u64, v: u32, now: Instant) {
        self.pf_reset_tick(now);
        match decode(offset) {
            Reg::Rx(reg, q) => {
                let t = self.timing;
                let queue = &mut self.vf.rxq[q];
                match reg {
                    VFRDBAL => queue.write_bal(v),
                    VFRDBAH => queue.bah = v,
                    VFRDLEN => queue.write_len(v),
                    VFDCA_RXCTRL => queue.dca = v,
                    VFRDH => {
                        if !queue.write_head(now, v) {
                            self.guest_warn(format_args!(
                                "RDH({q}) write of {v} ignored: queue running"
                            ));
                        }
                    }
                    VFSRRCTL => queue.srrctl = v,
                    VFRDT => queue.write_tail(v),
                    VFRXDCTL => queue.write_dctl(now, v, t.dctl_delay(v)),
                    VFRSCCTL => queue.rscctl = v,
                    _ => self.unknown_write(offset, v),
                }
            }
            Reg::Tx(reg, q) => {
                let t = self.timing;
                let queue = &mut self.vf.txq[q];
                match reg {
                    VFTDBAL => queue.write_bal(v),
                    VFTDBAH => queue.bah = v,
                    VFTDLEN => queue.write_len(v),
                    VFDCA_TXCTRL => queue.dca = v,
                    VFTDH => {
                        if !queue.write_head(now, v) {
                            self.guest_warn(format_args!(
                                "TDH({q}) write of {v} ignored: queue running"
                            ));
                        }
                    }
                    VFTDT => queue.write_tail(v),
                    VFTXDCTL => {
                        let was = queue.enabled();
                        queue.write_dctl(now, v, t.dctl_delay(v));
                        if !was && v & DCTL_ENABLE != 0 {
                            // A queue (re)start empties its context cache.
                            self.vf.ctx[q] = Default::default();
                            self.vf.partial[q] = Default::default();
                        }
                    }
                    VFTDWBAL => queue.wbal = v,
                    VFTDWBAH => queue.wbah = v,
                    _ => self.unknown_write(offset, v),
                }
            }
            Reg::MbxMem(i) => {
                if !self.vf.mbx.vf_write_mem(i, v) {
                    self.guest_warn(format_args!(
                        "VFMBMEM[{i}] write without holding VFU dropped"
                    ));
                }
            }
            Reg::Eitr(vec) => self.vf.irq.write_eitr(vec, v),
            Reg::Ivar(i) => self.vf.irq.write_ivar(i, v),
            Reg::Global(off) => match off {
                VFCTRL => {
                    if v & CTRL_RST != 0 {
                        self.vf_reset(now, ResetCause::VfctrlRst);
                    }
                }
                VTEICR => self.vf.irq.write_eicr(v),
                VTEICS => self.vf.irq.write_eics(v, &mut *self.sink),
                VTEIMS => self.vf.irq.write_eims(v, &mut *self.sink),
                VTEIMC => self.vf.irq.write_eimc(v),
                VTEIAC => self.vf.irq.write_eiac(v),
                VTEIAM => self.vf.irq.write_eiam(v),
                VTIVAR_MISC => self.vf.irq.write_ivar_misc(v),
                VFPSRTYPE => self.vf.psrtype = v,
                VFMAILBOX => {
                    let s = self.vf.mbx.vf_write(now, v);
                    if s.req {
                        self.pf_receive(now);
                    }
                    if s.ack {
                        self.pf_receive_ack();
                    }
                }
                _ => self.unknown_write(offset, v),
            },
        }
    }

    /// Raises the VF's mailbox interrupt cause (routed by VTIVAR_MISC).
    /// Injects the mailbox ("other") vector, as a hypervisor ringing the doorbell does.
    pub fn ring_mailbox_vector(&mut self) {
        self.raise_mailbox_irq();
    }

    fn raise_mailbox_irq(&mut self) {
        if let Some(v) = self.vf.irq.mailbox_vector() {
            self.vf.irq.raise(1 << v, &mut *self.sink);
        }
    }

    /// The PF's reaction to VFREQ: read the message (PFACK), handle it, write the reply
    /// (PFSTS), as `ixgbe_rcv_msg_from_vf` does from the PF's mailbox interrupt.
    fn pf_receive(&mut self, now: Instant) {
        if self.pf_reset_until.is_some() {
            info!("PF in reset: a VF message is not answered");
            return;
        }
        if self.faults.lose_msgs > 0 {
            self.faults.lose_msgs -= 1;
            self.stats.faults_fired += 1;
            info!("fault: PF loses a VF message");
            return;
        }
        if self.faults.ping_race > 0 {
            self.faults.ping_race -= 1;
            self.stats.faults_fired += 1;
            info!("fault: PF ping overwrites a VF request");
            self.pf_ping(now);
        }
        let req = match self.vf.mbx.pf_read() {
            Ok(m) => m,
            Err(e) => {
                self.guest_warn(format_args!("PF could not read the VF message: {e:?}"));
                return;
            }
        };
        self.stats.mbx_msgs += 1;
        let reply = self.pf.handle(&req, &self.admin);
        if let Some(why) = self.pf.refusal.take() {
            // What the Linux PF writes to its log when it refuses (ixgbe_sriov.c).
            warn!("PF: {why}");
        }
        if let Some(words) = reply {
            if req[0] & 0xFFFF == crate::pf::msg::VF_RESET {
                // ixgbe_vf_reset_msg clears the buffer and zeroes the VF's head write-back
                // registers, which a VF reset does not clear.
                self.vf.mbx.pf_clear();
                for q in self.vf.txq.iter_mut().take(self.admin.queues as usize) {
                    q.wbal = 0;
                    q.wbah = 0;
                }
                info!(
                    "PF: VF_RESET from the VF, MAC {}",
                    crate::control::fmt_mac(&self.pf.mac)
                );
            }
            let mut words = words;
            if self.faults.mbx_wrong_id > 0 && !words.is_empty() {
                self.faults.mbx_wrong_id -= 1;
                self.fault_fired("mbx_wrong_id");
                // Another request's id, with the reply's ACK/NACK bits kept.
                let other = if words[0] & 0xFF == crate::pf::msg::GET_QUEUES {
                    crate::pf::msg::SET_MAC_ADDR
                } else {
                    crate::pf::msg::GET_QUEUES
                };
                words[0] = (words[0] & !0xFFFF) | other;
                info!("fault: PF reply with another message's id");
            } else if self.faults.mbx_garbage > 0 {
                self.faults.mbx_garbage -= 1;
                self.fault_fired("mbx_garbage");
                words = (0..16u32)
                    .map(|i| 0x5A5A_0000 ^ i.wrapping_mul(0x9E37_79B9))
                    .collect();
                info!("fault: PF reply of garbage words");
            }
            if let Err(e) = self.vf.mbx.pf_write(&words) {
                self.guest_warn(format_args!("PF reply lost: {e:?}"));
            }
        }
        self.raise_mailbox_irq();
    }

    /// `ixgbe_rcv_ack_from_vf`.
    fn pf_receive_ack(&mut self) {
        if let Some(nack) = self.pf.on_vf_ack() {
            if self.vf.mbx.pf_write(&[nack]).is_ok() {
                self.raise_mailbox_irq();
            }
        }
    }

    /// The PF's control message to the VF (`ixgbe_ping_vf`). It fails silently when the VF
    /// holds the buffer, as the PF's write does.
    pub fn pf_ping(&mut self, now: Instant) -> bool {
        self.vf.mbx.tick(now);
        let ok = self.vf.mbx.pf_write(&[self.pf.ping()]).is_ok();
        if ok {
            self.raise_mailbox_irq();
        }
        ok
    }

    /// A VF reset (VFCTRL.RST, or an FLR through the transport): register reset, RSTI
    /// then RSTD in the mailbox, and the PF's `vf_reset_event`.
    pub fn vf_reset(&mut self, now: Instant, cause: ResetCause) {
        info!("VF reset ({})", cause.name());
        self.stats.msix_before_reset += self.vf.irq.fired_count();
        self.vf.reset_registers();
        // The held-RSTI fault stands for a PF stuck in reset when the VF driver resets its
        // VF; the transport's own resets (at attach, FLR) do not use it up.
        let held = match cause {
            ResetCause::VfctrlRst => self.faults.hold_rsti.take(),
            ResetCause::Flr | ResetCause::Device => None,
        };
        if held.is_some() {
            self.stats.faults_fired += 1;
        }
        let hold = held.unwrap_or(self.timing.reset);
        // A VF reset does not end a PF reset early: RSTI stays until the PF is back.
        let hold = match self.pf_reset_until {
            Some(t) => hold.max(t.saturating_duration_since(now)),
            None => hold,
        };
        self.vf.mbx.begin_reset(now, hold);
        self.pf.reset_event(&self.admin);
        // ixgbe_vf_reset_event re-toggles the VF's configured Tx queues, leaving them
        // disabled; the VF reset above already stopped them.
    }

    /// PF physical link change: VFLINKS follows and the PF pings every VF.
    pub fn set_link(&mut self, up: bool, now: Instant) {
        if self.link_up != up {
            self.link_up = up;
            info!("PF link {}", if up { "up" } else { "down" });
            self.pf_ping(now);
        }
    }

    /// An administrative change that makes the PF withdraw clear-to-send and ping the VF
    /// (link state or trust change), so that the VF resets and re-registers.
    pub fn admin_change(&mut self, now: Instant, f: impl FnOnce(&mut Admin)) {
        f(&mut self.admin);
        self.pf.clear_to_send = false;
        self.pf_ping(now);
    }

    /// A PF reset: RSTI for `hold` in the VF mailbox, then RSTD; the VF is no longer clear
    /// to send until it resets.
    pub fn pf_reset(&mut self, now: Instant, hold: Duration) {
        let hold = hold.min(crate::mbx::MAX_RESET_HOLD);
        self.pf_reset_until = Some(now.checked_add(hold).unwrap_or(now));
        self.vf.mbx.begin_reset(now, hold);
        self.pf.clear_to_send = false;
        // The PF's reset stops every pool's Rx and Tx; VF_RESET enables them again.
        self.pf.vfre = false;
        self.pf.vfte = false;
        info!("PF reset for {} ms", hold.as_millis());
        self.raise_mailbox_irq();
    }

    /// Ends a PF reset whose time is up: the PF comes back and sends every VF its control
    /// message, without clear-to-send (`ixgbe_ping_all_vfs`), which tells the VF to reset.
    pub(crate) fn pf_reset_tick(&mut self, now: Instant) {
        if self.pf_reset_until.is_some_and(|t| now >= t) {
            self.pf_reset_until = None;
            self.vf.mbx.tick(now);
            info!("PF reset done: control message to the VF");
            if !self.pf_ping(now) {
                self.guest_warn(format_args!(
                    "PF could not post its control message after reset"
                ));
            }
        }
    }

    /// Replaces the VF and its PF state with a fresh device, as a destination host would
    /// present it: counters elsewhere, PF state forgotten (filters, VLANs, multicast, API
    /// 1.0, not clear to send), registers a previous tenant left in the VFLR-persistent
    /// ones, and RSTD pending. Guest memory and interrupt routing to the guest are kept.
    pub fn swap(&mut self, now: Instant, admin: Option<Admin>) {
        self.generation += 1;
        let g = self.generation;
        let mut seed = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(g | 1);
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut vf = VfState::new(now);
        // Counters near their wrap points, so the driver's wrap and rebase logic is used.
        vf.counters = Counters {
            gprc: 0xFFFF_0000 | (next() as u32 & 0xFFFF),
            gptc: 0xFFFF_0000 | (next() as u32 & 0xFFFF),
            gorc: OCTETS_NEAR_WRAP | (next() & 0xFF_FFFF),
            gotc: OCTETS_NEAR_WRAP | (next() & 0xFF_FFFF),
            mprc: next() as u32,
        };
        for q in vf.rxq.iter_mut().chain(vf.txq.iter_mut()) {
            q.seed_stale(next() as u32);
        }
        vf.psrtype = next() as u32 & 0x6000_031E;
        self.stats.msix_before_reset += self.vf.irq.fired_count();
        self.vf = vf;
        if let Some(a) = admin {
            self.admin = a;
        }
        self.pf = PfVf::new(&self.admin);
        self.outbox.clear();
        info!("VF swapped for a fresh device (generation {g})");
    }

    /// The guest-visible counters.
    pub fn counters(&self) -> Counters {
        self.vf.counters
    }

    /// Queue 0's ring sizes in descriptors (Tx, Rx) and vector 0's VTEITR, as programmed.
    pub fn queue0(&self) -> (u32, u32, u32) {
        (
            self.vf.txq[0].len / 16,
            self.vf.rxq[0].len / 16,
            self.vf.irq.eitr(0),
        )
    }

    /// Model-side statistics.
    pub fn stats(&self) -> ModelStats {
        self.stats
    }

    /// PF-side state of this VF.
    pub fn pf_state(&self) -> &PfVf {
        &self.pf
    }

    /// Administrator settings.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// Faults to inject.
    pub fn faults_mut(&mut self) -> &mut Faults {
        &mut self.faults
    }

    /// Whether the PF link is up.
    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Swap generation (0 = the original device).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// MSI-X pending bits (BAR3 PBA).
    pub fn pba(&self) -> u32 {
        self.vf.irq.pba()
    }

    /// Retries interrupts left pending for lack of an eventfd.
    pub fn retry_pending_irqs(&mut self) {
        self.vf.irq.retry_pending(&mut *self.sink);
    }

    /// Number of MSI-X messages sent since the device was created.
    pub fn irqs_fired(&self) -> u64 {
        self.stats.msix_before_reset + self.vf.irq.fired_count()
    }

    /// Takes the frames the device has put on the wire.
    pub fn take_tx(&mut self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.outbox.drain(..)
    }
}

/// 36-bit octet counters start 16 MiB below their wrap after a swap.
const OCTETS_NEAR_WRAP: u64 = crate::vf::OCTET_MASK & !0xFF_FFFF;

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
