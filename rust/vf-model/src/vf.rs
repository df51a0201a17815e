//! The VF's own register state (what a VF reset or a swap replaces), separate from the PF
//! state and from the transport: interrupts, mailbox, queues, counters, Tx context slots.

use std::time::Instant;

use crate::mbx::Mailbox;
use crate::msix::Interrupts;
use crate::queue::Queue;
use crate::regs::NUM_QUEUES;

/// 36-bit octet counters wrap at 2^36.
pub const OCTET_MASK: u64 = (1 << 36) - 1;

/// The per-VF statistics counters. Free-running, wrapping, not cleared on read; a VF reset
/// does not clear them (only a PF reset would, which the model does not do).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// VFGPRC.
    pub gprc: u32,
    /// VFGPTC.
    pub gptc: u32,
    /// VFGORC, 36 bits.
    pub gorc: u64,
    /// VFGOTC, 36 bits.
    pub gotc: u64,
    /// VFMPRC.
    pub mprc: u32,
}

impl Counters {
    /// Counts one received frame of `octets` bytes (CRC included).
    pub fn rx(&mut self, octets: usize, multicast: bool) {
        self.gprc = self.gprc.wrapping_add(1);
        self.gorc = (self.gorc + octets as u64) & OCTET_MASK;
        if multicast {
            self.mprc = self.mprc.wrapping_add(1);
        }
    }

    /// Counts one transmitted frame of `octets` bytes (CRC included).
    pub fn tx(&mut self, octets: usize) {
        self.gptc = self.gptc.wrapping_add(1);
        self.gotc = (self.gotc + octets as u64) & OCTET_MASK;
    }
}

/// One Tx context slot (`ixgbe_adv_tx_context_desc`), as last loaded on the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxContext {
    /// VLAN tag (bits 31:16), MACLEN (15:9), IPLEN (8:0).
    pub vlan_macip_lens: u32,
    /// TUCMD and DTYP.
    pub type_tucmd_mlhl: u32,
    /// MSS (31:16), L4LEN (15:8), IDX (6:4).
    pub mss_l4len_idx: u32,
    /// The slot was loaded since the queue was enabled.
    pub valid: bool,
}

impl TxContext {
    /// MAC header length.
    pub fn maclen(&self) -> usize {
        ((self.vlan_macip_lens >> 9) & 0x7F) as usize
    }
    /// IP header length.
    pub fn iplen(&self) -> usize {
        (self.vlan_macip_lens & 0x1FF) as usize
    }
    /// VLAN tag to insert.
    pub fn vlan(&self) -> u16 {
        // CAST: the upper half holds the 16-bit tag.
        (self.vlan_macip_lens >> 16) as u16
    }
    /// L4 header length (TSO).
    pub fn l4len(&self) -> usize {
        ((self.mss_l4len_idx >> 8) & 0xFF) as usize
    }
    /// Maximum segment size (TSO).
    pub fn mss(&self) -> usize {
        (self.mss_l4len_idx >> 16) as usize
    }
    /// TUCMD.IPV4.
    pub fn ipv4(&self) -> bool {
        self.type_tucmd_mlhl & 0x400 != 0
    }
    /// TUCMD.L4T: 0 UDP, 1 TCP, 2 SCTP.
    pub fn l4t(&self) -> u32 {
        (self.type_tucmd_mlhl >> 11) & 3
    }
}

/// A frame being gathered from several Tx data descriptors.
#[derive(Clone, Debug, Default)]
pub struct TxPartial {
    /// Bytes so far.
    pub data: Vec<u8>,
    /// cmd_type_len of the first descriptor.
    pub cmd: u32,
    /// olinfo_status of the first descriptor.
    pub olinfo: u32,
    /// A descriptor of this packet failed (DMA or format); the packet will be dropped.
    pub bad: bool,
    /// A packet is in progress.
    pub active: bool,
}

/// Everything inside the VF that a VF reset or a swap replaces or resets.
#[derive(Clone, Debug)]
pub struct VfState {
    /// Interrupt registers.
    pub irq: Interrupts,
    /// Mailbox registers.
    pub mbx: Mailbox,
    /// Rx queues.
    pub rxq: [Queue; NUM_QUEUES],
    /// Tx queues.
    pub txq: [Queue; NUM_QUEUES],
    /// Tx context cache, two slots per queue.
    pub ctx: [[TxContext; 2]; NUM_QUEUES],
    /// Packets being gathered per Tx queue.
    pub partial: Vec<TxPartial>,
    /// VFPSRTYPE (not reset by VFLR).
    pub psrtype: u32,
    /// Statistics counters.
    pub counters: Counters,
    /// Origin of VFFRTIMER.
    pub created: Instant,
}

impl VfState {
    /// A VF at power-on: everything 0, mailbox showing RSTD.
    pub fn new(now: Instant) -> Self {
        VfState {
            irq: Interrupts::default(),
            mbx: Mailbox::new(),
            rxq: Default::default(),
            txq: Default::default(),
            ctx: Default::default(),
            partial: vec![TxPartial::default(); NUM_QUEUES],
            psrtype: 0,
            counters: Counters::default(),
            created: now,
        }
    }

    /// The register part of a VF reset (VFCTRL.RST or FLR): interrupts cleared, queues
    /// stopped, Tx contexts and partial packets dropped; the registers the Specification
    /// Update lists as not reset by VFLR, and the counters, keep their values.
    pub fn reset_registers(&mut self) {
        self.irq = Interrupts::default();
        for q in self.rxq.iter_mut().chain(self.txq.iter_mut()) {
            q.vf_reset();
        }
        self.ctx = Default::default();
        self.partial = vec![TxPartial::default(); NUM_QUEUES];
    }
}
