//! The Tx descriptor engine: fetches advanced context and data descriptors between TDH and
//! TDT, gathers packet data from guest memory, applies the offloads the context asks for
//! (checksums, VLAN insertion, TSO), writes back DD on RS descriptors and advances TDH.
//!
//! Garbage is the guest's problem, never the host's: a descriptor of an unknown type, a
//! buffer outside guest RAM, or a packet larger than the device accepts is logged and the
//! packet dropped; its descriptors still complete, so the ring does not wedge. A ring whose
//! descriptors cannot even be fetched stops (the queue is left as it is) until the driver
//! rewrites it.

use std::time::Instant;

use crate::device::Device;
use crate::msix::QueueCause;
use crate::net;
use crate::regs::{NUM_QUEUES, TDWBAL_HEAD_WB_EN};
use crate::vf::{TxContext, TxPartial};

/// DTYP of an advanced context descriptor.
const DTYP_CTXT: u32 = 0x2;
/// DTYP of an advanced data descriptor.
const DTYP_DATA: u32 = 0x3;
/// DCMD.EOP.
const CMD_EOP: u32 = 1 << 24;
/// DCMD.RS.
const CMD_RS: u32 = 1 << 27;
/// DCMD.DEXT.
const CMD_DEXT: u32 = 1 << 29;
/// DCMD.VLE.
const CMD_VLE: u32 = 1 << 30;
/// DCMD.TSE.
const CMD_TSE: u32 = 1 << 31;
/// POPTS.IXSM.
const POPTS_IXSM: u32 = 1 << 8;
/// POPTS.TXSM.
const POPTS_TXSM: u32 = 1 << 9;
/// olinfo.CC.
const OLINFO_CC: u32 = 1 << 7;
/// Status DD.
const STA_DD: u32 = 1;
/// Largest packet the device gathers (TSO limit, 256 KiB).
pub const MAX_TX_PACKET: usize = 256 * 1024;
/// Descriptors processed per queue per call, to bound the time the device lock is held.
const BATCH: u32 = 256;

impl Device {
    /// Processes every running Tx queue. Returns the number of descriptors consumed.
    pub fn process_tx(&mut self, now: Instant) -> usize {
        self.pf_reset_tick(now);
        self.storm_tick(now);
        if self.playing_dead(now) {
            return 0;
        }
        let mut done = 0;
        for q in 0..NUM_QUEUES {
            done += self.process_tx_queue(q, now);
        }
        done
    }

    fn process_tx_queue(&mut self, q: usize, now: Instant) -> usize {
        let queue = &mut self.vf.txq[q];
        queue.tick(now);
        if !queue.enabled() || queue.head == queue.tail {
            return 0;
        }
        // The pool has only the queues the PF's layout gives the VF: a ring on another one is
        // never fetched (the driver sees no completion) and is counted as a bad access.
        if q >= self.admin.queues as usize {
            self.stats.bad_accesses += 1;
            let granted = self.admin.queues;
            self.guest_warn(format_args!(
                "Tx on queue {q}, beyond the {granted} queues the PF granted: not transmitted"
            ));
            return 0;
        }
        let queue = &mut self.vf.txq[q];
        let count = queue.count();
        let base = queue.base();
        if count < 8 || queue.head >= count || queue.tail >= count {
            let (h, t) = (queue.head, queue.tail);
            self.stats.bad_descriptors += 1;
            self.guest_warn(format_args!(
                "Tx queue {q}: ring of {count} descriptors with head {h} tail {t} not processed"
            ));
            return 0;
        }
        // Injected head faults: forward to the tail (every pending descriptor skipped, never
        // sent nor written back) or back by four (finished descriptors redone).
        if self.faults.tx_head_jump > 0 {
            self.faults.tx_head_jump -= 1;
            self.fault_fired("tx_head_jump");
            let queue = &mut self.vf.txq[q];
            queue.head = queue.tail;
            return 0;
        } else if self.faults.tx_head_back > 0 {
            self.faults.tx_head_back -= 1;
            self.fault_fired("tx_head_back");
            let queue = &mut self.vf.txq[q];
            queue.head = (queue.head + count - 4) % count;
        }
        let mut n = 0;
        let mut wrote_back = false;
        while self.vf.txq[q].head != self.vf.txq[q].tail && n < BATCH {
            let head = self.vf.txq[q].head;
            let addr = base.wrapping_add(u64::from(head) * 16);
            let mut d = [0u8; 16];
            if let Err(e) = self.mem.read(addr, &mut d) {
                self.stats.dma_errors += 1;
                self.guest_warn(format_args!(
                    "Tx queue {q}: descriptor fetch: {e}; queue stalls"
                ));
                break;
            }
            let buf = u64::from_le_bytes(d[0..8].try_into().unwrap_or_default());
            let cmd = u32::from_le_bytes(d[8..12].try_into().unwrap_or_default());
            let olinfo = u32::from_le_bytes(d[12..16].try_into().unwrap_or_default());
            self.tx_descriptor(q, buf, cmd, olinfo);
            if cmd & CMD_RS != 0 {
                // Write-back format: reserved, nxtseq_seed, status with DD.
                let mut wb = [0u8; 8];
                wb[4..8].copy_from_slice(&STA_DD.to_le_bytes());
                if let Err(e) = self.mem.write(addr.wrapping_add(8), &wb) {
                    self.stats.dma_errors += 1;
                    self.guest_warn(format_args!("Tx queue {q}: write-back: {e}"));
                }
                wrote_back = true;
            }
            self.vf.txq[q].head = (head + 1) % count;
            n += 1;
        }
        let queue = &self.vf.txq[q];
        if queue.wbal & TDWBAL_HEAD_WB_EN != 0 {
            let at = (u64::from(queue.wbah) << 32) | u64::from(queue.wbal & !3);
            let head = queue.head.to_le_bytes();
            if let Err(e) = self.mem.write(at, &head) {
                self.stats.dma_errors += 1;
                self.guest_warn(format_args!("Tx queue {q}: head write-back: {e}"));
            }
            wrote_back = true;
        }
        if wrote_back {
            if let Some(v) = self.vf.irq.queue_vector(q, QueueCause::Tx) {
                self.vf.irq.raise(1 << v, &mut *self.sink);
            }
        }
        n as usize
    }

    /// One descriptor: a context load or a piece of a packet.
    fn tx_descriptor(&mut self, q: usize, buf: u64, cmd: u32, olinfo: u32) {
        let dext = cmd & CMD_DEXT != 0;
        let dtyp = (cmd >> 20) & 0xF;
        if dext && dtyp == DTYP_CTXT {
            // Context descriptor: buf holds vlan_macip_lens and fceof_saidx.
            let idx = ((olinfo >> 4) & 0x7) as usize;
            if idx > 1 {
                self.stats.bad_descriptors += 1;
                self.guest_warn(format_args!(
                    "Tx queue {q}: context slot {idx} does not exist"
                ));
                return;
            }
            self.vf.ctx[q][idx] = TxContext {
                // CAST: the low dword of the first quadword.
                vlan_macip_lens: buf as u32,
                type_tucmd_mlhl: cmd,
                mss_l4len_idx: olinfo,
                valid: true,
            };
            return;
        }
        let p = &mut self.vf.partial[q];
        if dext && dtyp != DTYP_DATA {
            self.stats.bad_descriptors += 1;
            p.bad = true;
            p.active = true;
            self.guest_warn(format_args!(
                "Tx queue {q}: descriptor type {dtyp:#x} is invalid"
            ));
        } else {
            if !p.active {
                // A legacy descriptor (DEXT = 0) carries no offload request the model
                // honours: keep only its EOP and RS bits.
                let (cmd, olinfo) = if dext {
                    (cmd, olinfo)
                } else {
                    (cmd & (CMD_EOP | CMD_RS), 0)
                };
                *p = TxPartial {
                    cmd,
                    olinfo,
                    active: true,
                    ..Default::default()
                };
            }
            let len = (cmd & 0xFFFF) as usize;
            if p.bad {
                // Already failed: just consume.
            } else if p.data.len() + len > MAX_TX_PACKET {
                p.bad = true;
                self.stats.bad_descriptors += 1;
                self.guest_warn(format_args!(
                    "Tx queue {q}: packet over {MAX_TX_PACKET} bytes"
                ));
            } else {
                let start = p.data.len();
                p.data.resize(start + len, 0);
                if let Err(e) = self.mem.read(buf, &mut p.data[start..]) {
                    p.bad = true;
                    self.stats.dma_errors += 1;
                    self.guest_warn(format_args!("Tx queue {q}: buffer read: {e}"));
                }
            }
        }
        if cmd & CMD_EOP != 0 {
            let packet = std::mem::take(&mut self.vf.partial[q]);
            if !packet.bad {
                self.tx_packet(q, packet);
            }
        }
    }

    /// A complete packet: offloads, switch checks, then the wire.
    fn tx_packet(&mut self, q: usize, p: TxPartial) {
        let mut frame = p.data;
        if frame.len() < 14 {
            self.stats.bad_descriptors += 1;
            self.guest_warn(format_args!(
                "Tx queue {q}: runt packet of {} bytes",
                frame.len()
            ));
            return;
        }
        let ctx = if p.olinfo & OLINFO_CC != 0 {
            // IDX is 3 bits wide but the queue has two slots: 2..7 name nothing.
            let idx = ((p.olinfo >> 4) & 0x7) as usize;
            let c = self.vf.ctx[q].get(idx).copied().unwrap_or_default();
            if !c.valid {
                self.stats.bad_descriptors += 1;
                self.guest_warn(format_args!(
                    "Tx queue {q}: packet uses empty context {idx}"
                ));
                return;
            }
            Some(c)
        } else {
            None
        };
        let mut frames = Vec::with_capacity(1);
        let needs_ctx =
            p.cmd & (CMD_TSE | CMD_VLE) != 0 || p.olinfo & (POPTS_IXSM | POPTS_TXSM) != 0;
        if needs_ctx && ctx.is_none() {
            self.stats.bad_descriptors += 1;
            self.guest_warn(format_args!(
                "Tx queue {q}: offload requested without a context"
            ));
            return;
        }
        let (l3, l4) = ctx.map_or((14, 14), |c| (c.maclen(), c.maclen() + c.iplen()));
        if p.cmd & CMD_TSE != 0 {
            let Some(c) = ctx else { return };
            match net::tso(&frame, l3, l4, c.l4len(), c.mss()) {
                Ok(segs) => {
                    self.stats.tx_tso += 1;
                    frames = segs;
                }
                Err(e) => {
                    self.stats.bad_descriptors += 1;
                    self.guest_warn(format_args!("Tx queue {q}: TSO refused: {e:?}"));
                    return;
                }
            }
        } else {
            if p.olinfo & POPTS_TXSM != 0 {
                let c = ctx.unwrap_or_default();
                let offset = match c.l4t() {
                    0 => Some(6),  // UDP
                    1 => Some(16), // TCP
                    _ => None,     // SCTP CRC32c is not offloaded by the model
                };
                let filled =
                    offset.is_some_and(|o| net::fill_l4_checksum(&mut frame, l4, o, c.l4t() == 0));
                if filled {
                    self.stats.tx_csum += 1;
                } else {
                    self.guest_warn(format_args!(
                        "Tx queue {q}: L4 checksum not inserted (L4T {}, start {l4})",
                        c.l4t()
                    ));
                }
            }
            if p.olinfo & POPTS_IXSM != 0 {
                if frame.len() >= l3 + 20
                    && frame[l3] >> 4 == 4
                    && frame.len() >= l3 + usize::from(frame[l3] & 0xF) * 4
                {
                    net::fill_ipv4_checksum(&mut frame, l3);
                } else {
                    self.guest_warn(format_args!(
                        "Tx queue {q}: IP checksum requested on a non-IPv4 header"
                    ));
                }
            }
            frames.push(frame);
        }
        for mut f in frames {
            if p.cmd & CMD_VLE != 0 {
                self.stats.tx_vlan += 1;
                f = net::insert_vlan(&f, ctx.map_or(0, |c| c.vlan()));
            }
            // Short frames are padded to the Ethernet minimum.
            if f.len() < net::ETH_ZLEN {
                f.resize(net::ETH_ZLEN, 0);
            }
            self.tx_wire(f);
        }
    }

    /// The PF switch's checks on a frame leaving the VF, then the wire.
    fn tx_wire(&mut self, f: Vec<u8>) {
        if !self.link_up || !self.pf.tx_enabled(&self.admin) {
            self.stats.tx_blocked += 1;
            return;
        }
        let src: [u8; 6] = f[6..12].try_into().unwrap_or_default();
        if self.pf.spoofchk && src != self.pf.mac && !self.pf.macvlans.contains(&src) {
            self.stats.tx_blocked += 1;
            self.guest_warn(format_args!(
                "anti-spoof: frame from {} dropped",
                crate::control::fmt_mac(&src)
            ));
            return;
        }
        if let Some(tci) = net::parse(&f).vlan {
            if self.pf.spoofchk && !self.pf.vlans.contains(&(tci & 0xFFF)) {
                self.stats.tx_blocked += 1;
                return;
            }
        }
        if self.faults.drop_tx > 0 {
            self.faults.drop_tx -= 1;
            self.stats.injected_drops += 1;
            self.stats.faults_fired += 1;
            return;
        }
        self.vf.counters.tx(f.len() + 4);
        self.stats.tx_frames += 1;
        self.outbox.push_back(f);
    }
}
