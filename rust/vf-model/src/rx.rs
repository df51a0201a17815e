//! The Rx path: the PF switch decides whether a frame from the wire reaches this VF and on
//! which queue (L2 filters, VLAN filter, RSS), then the descriptor engine writes it into the
//! buffers software posted between RDH and RDT and writes back the advanced descriptor
//! (length, status, checksum results, stripped VLAN tag, packet and RSS type).
//!
//! A frame that needs more descriptors than are posted is dropped when SRRCTL.DROP_EN is
//! set (the PF forces it for VF queues); otherwise it waits in the packet buffer and the
//! caller offers it again later. A buffer address outside guest RAM drops the frame.

use std::time::Instant;

use crate::device::Device;
use crate::msix::QueueCause;
use crate::net::{self, Parsed};
use crate::pf::{mta_hash, Xcast};
use crate::regs::{
    PSRTYPE_RQPL_SHIFT, RXDCTL_VME, SRRCTL_BSIZEPKT_MASK, SRRCTL_DESCTYPE_ADV_ONEBUF,
    SRRCTL_DESCTYPE_MASK, SRRCTL_DROP_EN,
};
use crate::rss;

/// Write-back status bits.
mod sta {
    pub const DD: u32 = 1 << 0;
    pub const EOP: u32 = 1 << 1;
    pub const VP: u32 = 1 << 3;
    pub const UDPCS: u32 = 1 << 4;
    pub const L4CS: u32 = 1 << 5;
    pub const IPCS: u32 = 1 << 6;
    pub const PIF: u32 = 1 << 7;
    pub const TCPE: u32 = 1 << 30;
    pub const IPE: u32 = 1 << 31;
}

/// Packet type bits of pkt_info (already shifted into place).
mod ptype {
    pub const IPV4: u16 = 0x0010;
    pub const IPV6: u16 = 0x0040;
    pub const TCP: u16 = 0x0100;
    pub const UDP: u16 = 0x0200;
    pub const SCTP: u16 = 0x0400;
}

/// What became of a frame offered to the VF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxOutcome {
    /// Written to guest memory.
    Delivered,
    /// Not for this VF, or dropped by the device (counted in the model's stats).
    Dropped,
    /// No descriptors and DROP_EN clear: offer it again after software posts buffers.
    Retry,
}

impl Device {
    /// Offers a frame arriving from the wire.
    pub fn receive(&mut self, frame: &[u8], now: Instant) -> RxOutcome {
        self.pf_reset_tick(now);
        if self.playing_dead(now) {
            self.stats.rx_queue_off += 1;
            return RxOutcome::Dropped;
        }
        if frame.len() < 14 {
            self.stats.rx_filtered += 1;
            return RxOutcome::Dropped;
        }
        let padded;
        let frame: &[u8] = if frame.len() < net::ETH_ZLEN {
            // What arrives over a real wire is padded to the Ethernet minimum.
            let mut v = frame.to_vec();
            v.resize(net::ETH_ZLEN, 0);
            padded = v;
            &padded
        } else {
            frame
        };
        let parsed = net::parse(frame);
        let Some(pif) = self.rx_filter(frame, &parsed) else {
            self.stats.rx_filtered += 1;
            return RxOutcome::Dropped;
        };
        if self.faults.drop_rx > 0 {
            self.faults.drop_rx -= 1;
            self.stats.injected_drops += 1;
            self.stats.faults_fired += 1;
            return RxOutcome::Dropped;
        }
        let (hash, rss_type) = rss::hash(&parsed, frame);
        let q = self.rx_queue(hash);
        let queue = &mut self.vf.rxq[q];
        queue.tick(now);
        if !queue.enabled() {
            self.stats.rx_queue_off += 1;
            return RxOutcome::Dropped;
        }
        let count = queue.count();
        let (head, tail, srrctl, rxdctl) = (queue.head, queue.tail, queue.srrctl, queue.dctl());
        if count < 8 || head >= count || tail >= count {
            self.stats.bad_descriptors += 1;
            self.guest_warn(format_args!(
                "Rx queue {q}: ring of {count} descriptors with head {head} tail {tail} not used"
            ));
            return RxOutcome::Dropped;
        }
        if srrctl & SRRCTL_DESCTYPE_MASK != SRRCTL_DESCTYPE_ADV_ONEBUF {
            self.stats.bad_descriptors += 1;
            self.guest_warn(format_args!(
                "Rx queue {q}: SRRCTL {srrctl:#x}: only advanced one-buffer descriptors are modelled"
            ));
            return RxOutcome::Dropped;
        }
        // Strip the tag when RXDCTL.VME asks for it.
        let stripped;
        let (data, inner, vlan) = match parsed.vlan.filter(|_| rxdctl & RXDCTL_VME != 0) {
            Some(tci) => {
                stripped = net::strip_vlan(frame);
                let p = net::parse(&stripped);
                (&stripped[..], p, Some(tci))
            }
            None => (frame, parsed, None),
        };
        self.rx_write(q, data, &inner, vlan, pif, (hash, rss_type), frame.len())
    }

    /// The PF switch's Rx decision for this VF. Returns whether the frame matched an
    /// inexact (multicast hash) filter, or None if the VF does not receive it.
    fn rx_filter(&self, frame: &[u8], parsed: &Parsed) -> Option<bool> {
        if !self.link_up || !self.pf.rx_enabled(&self.admin) {
            return None;
        }
        let dst: [u8; 6] = frame[0..6].try_into().ok()?;
        let mut pif = false;
        let accepted = if dst == [0xFF; 6] {
            // VMOLR.BAM is always set for a VF by the Linux PF.
            true
        } else if dst[0] & 1 != 0 {
            pif = true;
            // VMOLR.MPE, or VMOLR.ROMPE and a hit in the hash list.
            self.pf.xcast >= Xcast::AllMulti
                || (self.pf.rompe && self.pf.mc_hashes.contains(&mta_hash(&dst)))
        } else {
            (self.pf.mac_filter && dst == self.pf.mac)
                || self.pf.macvlans.contains(&dst)
                || self.pf.xcast == Xcast::Promisc
        };
        if !accepted {
            return None;
        }
        if let Some(tci) = parsed.vlan {
            if !self.pf.vlans.contains(&(tci & 0xFFF)) {
                return None;
            }
        }
        let tag = if parsed.vlan.is_some() { 4 } else { 0 };
        // MAXFRS: frame plus FCS against the VF's maximum frame size.
        if frame.len() + 4 > self.pf.max_frame.max(1518) as usize + tag {
            return None;
        }
        Some(pif)
    }

    /// Queue selection: RSS over the queues PSRTYPE.RQPL gives the pool.
    fn rx_queue(&self, hash: u32) -> usize {
        let rqpl = (self.vf.psrtype >> PSRTYPE_RQPL_SHIFT) & 3;
        let nq = match rqpl {
            1 => 2,
            2 => 4,
            _ => 1,
        }
        .min(self.admin.queues.max(1));
        // RETA: 128 entries round-robin over the pool's queues.
        ((hash & 0x7F) % nq) as usize
    }

    #[allow(clippy::too_many_arguments)]
    fn rx_write(
        &mut self,
        q: usize,
        frame: &[u8],
        parsed: &Parsed,
        vlan: Option<u16>,
        pif: bool,
        (hash, rss_type): (u32, u16),
        wire_len: usize,
    ) -> RxOutcome {
        let queue = &self.vf.rxq[q];
        let count = queue.count();
        let (mut head, tail, base, srrctl) = (queue.head, queue.tail, queue.base(), queue.srrctl);
        let bsize = match (srrctl & SRRCTL_BSIZEPKT_MASK) as usize * 1024 {
            0 => 2048,
            b => b,
        };
        let needed = frame.len().div_ceil(bsize) as u32;
        let free = (tail + count - head) % count;
        if needed > free {
            if srrctl & SRRCTL_DROP_EN != 0 {
                self.stats.rx_no_desc += 1;
                return RxOutcome::Dropped;
            }
            return RxOutcome::Retry;
        }
        // Status and checksum results, reported on the last descriptor.
        let mut status = 0u32;
        let mut pkt_info = rss_type;
        if parsed.ipv4 {
            pkt_info |= ptype::IPV4;
            status |= sta::IPCS;
            if let Some(l3) = parsed.l3 {
                if !net::ipv4_header_ok(frame, l3) {
                    status |= sta::IPE;
                }
            }
        } else if parsed.ipv6 {
            pkt_info |= ptype::IPV6;
        }
        if parsed.tcp {
            pkt_info |= ptype::TCP;
        } else if parsed.udp {
            pkt_info |= ptype::UDP;
        } else if parsed.sctp {
            pkt_info |= ptype::SCTP;
        }
        if let Some(ok) = net::l4_checksum_ok(frame, parsed) {
            status |= sta::L4CS;
            if parsed.udp {
                status |= sta::UDPCS;
            }
            if !ok {
                status |= sta::TCPE;
            }
        }
        if vlan.is_some() {
            status |= sta::VP;
        }
        if pif {
            status |= sta::PIF;
        }
        // Injected faults, each for this whole frame.
        let take = |n: &mut u32| {
            let fire = *n > 0;
            *n = n.saturating_sub(1);
            fire
        };
        let bad_len = take(&mut self.faults.rx_bad_len);
        let no_eop = take(&mut self.faults.rx_no_eop);
        let dd_unposted = take(&mut self.faults.rx_dd_unposted);
        let bad_status = take(&mut self.faults.rx_bad_status);
        let wild = take(&mut self.faults.dma_wild);
        for (fired, kind) in [
            (bad_len, "rx_bad_len"),
            (no_eop, "rx_no_eop"),
            (dd_unposted, "rx_dd_unposted"),
            (bad_status, "rx_bad_status"),
            (wild, "dma_wild"),
        ] {
            if fired {
                self.fault_fired(kind);
            }
        }
        if bad_status {
            // Checksum results for a frame whose type says it has no IP and no L4, and
            // error bits without their checks.
            pkt_info = 0;
            status |= sta::IPCS | sta::L4CS | sta::TCPE;
        }
        let chunks: Vec<&[u8]> = frame.chunks(bsize).collect();
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let daddr = base.wrapping_add(u64::from(head) * 16);
            let buf = match crate::dma::read_u64(&*self.mem, daddr) {
                // Past the end of any guest RAM the model is given (52-bit physical).
                Ok(_) if wild => 1 << 52,
                Ok(b) => b,
                Err(e) => {
                    self.stats.dma_errors += 1;
                    self.guest_warn(format_args!("Rx queue {q}: descriptor fetch: {e}"));
                    return RxOutcome::Dropped;
                }
            };
            if let Err(e) = self.mem.write(buf, chunk) {
                self.stats.dma_errors += 1;
                self.guest_warn(format_args!(
                    "Rx queue {q}: buffer write: {e}; frame dropped"
                ));
                return RxOutcome::Dropped;
            }
            let mut st = sta::DD;
            if i == last {
                st |= sta::EOP | status;
                if no_eop {
                    st &= !sta::EOP;
                }
            }
            let mut wb = [0u8; 16];
            wb[0..2].copy_from_slice(&pkt_info.to_le_bytes());
            wb[4..8].copy_from_slice(&hash.to_le_bytes());
            wb[8..12].copy_from_slice(&st.to_le_bytes());
            // CAST: a chunk is at most one buffer (< 128 KiB) long.
            let len = if bad_len { bsize + 512 } else { chunk.len() } as u16;
            wb[12..14].copy_from_slice(&len.to_le_bytes());
            wb[14..16].copy_from_slice(&vlan.unwrap_or(0).to_le_bytes());
            if let Err(e) = self.mem.write(daddr, &wb) {
                self.stats.dma_errors += 1;
                self.guest_warn(format_args!("Rx queue {q}: write-back: {e}"));
                return RxOutcome::Dropped;
            }
            head = (head + 1) % count;
            self.vf.rxq[q].head = head;
        }
        if dd_unposted {
            // The first descriptor past the tail is software's: a device must not write it.
            let daddr = base.wrapping_add(u64::from(tail) * 16);
            let mut wb = [0u8; 16];
            wb[8..12].copy_from_slice(&(sta::DD | sta::EOP).to_le_bytes());
            wb[12..14].copy_from_slice(&64u16.to_le_bytes());
            let _ = self.mem.write(daddr, &wb);
        }
        let multicast = frame[0] & 1 != 0 && frame[0..6] != [0xFF; 6];
        self.vf.counters.rx(wire_len + 4, multicast);
        self.stats.rx_frames += 1;
        if let Some(v) = self.vf.irq.queue_vector(q, QueueCause::Rx) {
            self.vf.irq.raise(1 << v, &mut *self.sink);
        }
        RxOutcome::Delivered
    }
}
