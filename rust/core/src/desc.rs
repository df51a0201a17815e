//! Advanced Rx and Tx descriptors and ring arithmetic (anatomy §8; 82599 datasheet 7.1.6,
//! 7.2.3): what the driver writes for the device and how it reads what the device wrote back.
//!
//! Descriptors are two little-endian 64-bit words. The driver keeps them in DMA-coherent
//! memory and moves them as `[u64; 2]`; everything here is pure arithmetic on those words, so
//! the host tests and the module share it. A write-back is untrusted input: its length is
//! bounded by the buffer the driver posted, and unknown bits are ignored.

/// Bytes of one descriptor.
pub const DESC_BYTES: u32 = 16;

/// Tx command and status bits (ixgbevf defines.h `IXGBE_ADVTXD_*`, `IXGBE_TXD_CMD_*`).
pub mod tx {
    /// End of packet.
    pub const CMD_EOP: u32 = 1 << 24;
    /// Insert the Ethernet FCS.
    pub const CMD_IFCS: u32 = 1 << 25;
    /// Report status: the device writes DD back when the descriptor is done.
    pub const CMD_RS: u32 = 1 << 27;
    /// Extended (advanced) descriptor.
    pub const CMD_DEXT: u32 = 1 << 29;
    /// Advanced data descriptor type.
    pub const DTYP_DATA: u32 = 0x3 << 20;
    /// Descriptor done, in the write-back's status word.
    pub const STAT_DD: u32 = 1;
    /// Shift of the payload length in `olinfo_status`.
    pub const PAYLEN_SHIFT: u32 = 14;
    /// Largest buffer one data descriptor carries (the 16-bit length field).
    pub const MAX_DATA_PER_DESC: u32 = 1 << 14;
    /// Insert a VLAN tag (from the context descriptor).
    pub const CMD_VLE: u32 = 1 << 30;
    /// TCP segmentation.
    pub const CMD_TSE: u32 = 1 << 31;
    /// Advanced context descriptor type.
    pub const DTYP_CTXT: u32 = 0x2 << 20;
    /// `olinfo_status`: use the context named by IDX.
    pub const OLINFO_CC: u32 = 0x80;
    /// `olinfo_status`: context index shift.
    pub const OLINFO_IDX_SHIFT: u32 = 4;
    /// `olinfo_status`: insert the IPv4 header checksum.
    pub const POPTS_IXSM: u32 = 0x100;
    /// `olinfo_status`: insert the L4 checksum.
    pub const POPTS_TXSM: u32 = 0x200;
    /// Context TUCMD: IPv4 packet.
    pub const TUCMD_IPV4: u32 = 0x400;
    /// Context TUCMD: L4 type TCP (UDP is 0).
    pub const TUCMD_L4T_TCP: u32 = 0x800;
    /// Context TUCMD: L4 type SCTP.
    pub const TUCMD_L4T_SCTP: u32 = 0x1000;
}

/// Rx status bits of the advanced write-back (`IXGBE_RXD_STAT_*`, `IXGBE_RXDADV_ERR_*`).
pub mod rx {
    /// Descriptor done.
    pub const STAT_DD: u32 = 0x01;
    /// End of packet.
    pub const STAT_EOP: u32 = 0x02;
    /// A VLAN tag was stripped into the descriptor.
    pub const STAT_VP: u32 = 0x08;
    /// The L4 checksum was checked.
    pub const STAT_L4CS: u32 = 0x20;
    /// The IPv4 header checksum was checked.
    pub const STAT_IPCS: u32 = 0x40;
    /// The L4 checksum is wrong.
    pub const ERR_TCPE: u32 = 0x4000_0000;
    /// The IPv4 header checksum is wrong.
    pub const ERR_IPE: u32 = 0x8000_0000;
    /// Packet type (pkt_info) bits: IPv4, IPv4 with options, IPv6, IPv6 with extensions.
    pub const PTYPE_IP: u16 = 0x0010 | 0x0020 | 0x0040 | 0x0080;
    /// Packet type bits: TCP, UDP, SCTP.
    pub const PTYPE_L4: u16 = 0x0100 | 0x0200 | 0x0400;
    /// RSS types whose hash covers the ports (TCP and UDP over IPv4 and IPv6).
    pub const RSS_L4_TYPES: u32 = 1 << 1 | 1 << 3 | 1 << 7 | 1 << 8;
    /// Frame errors that make the frame unusable: CE, LE, PE, OSE, USE
    /// (`IXGBE_RXDADV_ERR_FRAME_ERR_MASK`).
    pub const ERR_FRAME: u32 = 0x0100_0000 | 0x0200_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000;
}

/// The L4 protocol whose checksum the device inserts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP (CRC32c).
    Sctp,
}

/// What the stack asked of one frame, as the driver read it from the skb.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOffload {
    /// Insert the L4 checksum of this protocol.
    pub csum: Option<L4>,
    /// Segment with this MSS (TCP only); `segs` frames come out.
    pub tso: Option<(u32, u32)>,
    /// The frame is IPv4.
    pub ipv4: bool,
    /// Bytes before the IP header.
    pub mac_len: u32,
    /// Bytes of the IP header (up to the L4 header).
    pub ip_len: u32,
    /// Bytes of the TCP header (TSO only).
    pub l4_len: u32,
    /// Insert this 802.1Q tag.
    pub vlan: Option<u16>,
}

/// How to describe a frame: the context descriptor, if any, and what its data descriptors
/// carry (`ixgbevf_tx_csum`, `ixgbevf_tso`, `ixgbevf_tx_olinfo_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxPlan {
    /// The context descriptor to write before the data descriptors.
    pub context: Option<[u64; 2]>,
    /// Bits for every data descriptor's command word.
    pub cmd: u32,
    /// Bits for every data descriptor's `olinfo_status` (besides PAYLEN).
    pub olinfo: u32,
    /// The PAYLEN field: the whole frame, or the TCP payload for TSO.
    pub paylen: u32,
    /// Bytes that go on the wire (every segment's headers counted), for BQL and statistics.
    pub wire_bytes: u32,
    /// Frames that go on the wire (TSO segments).
    pub segs: u32,
}

/// Plans the descriptors of a frame of `len` bytes; `None` when the lengths cannot be
/// described (the frame is then dropped, never sent half-described).
pub fn tx_plan(o: &TxOffload, len: u32) -> Option<TxPlan> {
    if o.csum.is_none() && o.tso.is_none() && o.vlan.is_none() {
        return Some(TxPlan {
            context: None,
            cmd: 0,
            olinfo: 0,
            paylen: len,
            wire_bytes: len,
            segs: 1,
        });
    }
    let offload = o.csum.is_some() || o.tso.is_some();
    let ip_len = if offload { o.ip_len } else { 0 };
    if o.mac_len > 0x7F || ip_len > 0x1FF || o.l4_len > 0xFF {
        return None;
    }
    let mut vlan_macip_lens = ip_len | o.mac_len << 9;
    let mut cmd = 0;
    if let Some(tag) = o.vlan {
        vlan_macip_lens |= u32::from(tag) << 16;
        cmd |= tx::CMD_VLE;
    }
    let mut tucmd = tx::DTYP_CTXT | tx::CMD_DEXT;
    match o.csum {
        Some(L4::Tcp) => tucmd |= tx::TUCMD_L4T_TCP,
        Some(L4::Sctp) => tucmd |= tx::TUCMD_L4T_SCTP,
        Some(L4::Udp) | None => {}
    }
    if o.ipv4 && offload {
        tucmd |= tx::TUCMD_IPV4;
    }
    let mut olinfo = tx::OLINFO_CC;
    if o.csum.is_some() {
        olinfo |= tx::POPTS_TXSM;
    }
    let (mut paylen, mut wire_bytes, mut mss_l4len_idx, mut frames) = (len, len, 0, 1);
    if let Some((mss, segs)) = o.tso {
        if o.csum != Some(L4::Tcp) || mss == 0 || mss > 0xFFFF || o.l4_len < 20 {
            return None;
        }
        let hdr = o.mac_len.checked_add(ip_len)?.checked_add(o.l4_len)?;
        paylen = len.checked_sub(hdr)?;
        wire_bytes = len.checked_add(segs.max(1).checked_sub(1)?.checked_mul(hdr)?)?;
        frames = segs.max(1);
        cmd |= tx::CMD_TSE;
        // Context 1 for TSO, as ixgbevf; IXSM has the device fill each segment's IPv4
        // header checksum.
        mss_l4len_idx = o.l4_len << 8 | mss << 16 | 1 << tx::OLINFO_IDX_SHIFT;
        olinfo |= 1 << tx::OLINFO_IDX_SHIFT;
        if o.ipv4 {
            olinfo |= tx::POPTS_IXSM;
        }
    }
    if paylen > 0x3_FFFF {
        return None;
    }
    Some(TxPlan {
        context: Some([
            u64::from(vlan_macip_lens),
            u64::from(tucmd) | u64::from(mss_l4len_idx) << 32,
        ]),
        cmd,
        olinfo,
        paylen,
        wire_bytes,
        segs: frames,
    })
}

/// An advanced Tx data descriptor for one buffer of a frame, with the plan's offload bits.
pub fn tx_data_planned(addr: u64, len: u16, eop: bool, plan: &TxPlan) -> [u64; 2] {
    let [a, w] = tx_data(addr, len, eop, plan.paylen);
    [a, w | u64::from(plan.cmd) | u64::from(plan.olinfo) << 32]
}

/// An advanced Tx data descriptor for one buffer of a frame.
///
/// `paylen` is the whole frame's length; the device takes it from the first descriptor.
pub fn tx_data(addr: u64, len: u16, eop: bool, paylen: u32) -> [u64; 2] {
    let mut cmd = tx::DTYP_DATA | tx::CMD_DEXT | tx::CMD_IFCS | u32::from(len);
    if eop {
        cmd |= tx::CMD_EOP | tx::CMD_RS;
    }
    // PAYLEN is 18 bits; a longer frame cannot be described (the caller checks).
    let olinfo = (paylen & 0x3_FFFF) << tx::PAYLEN_SHIFT;
    [addr, u64::from(cmd) | u64::from(olinfo) << 32]
}

/// Whether the device wrote back DD for a Tx descriptor (the status is the high half of
/// the second word).
pub fn tx_done(desc: [u64; 2]) -> bool {
    let [_, hi] = desc;
    (hi >> 32) as u32 & tx::STAT_DD != 0
}

/// The Rx read format: the buffer's bus address (no header split).
pub fn rx_read(addr: u64) -> [u64; 2] {
    [addr, 0]
}

/// What the device's checksum check says of a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxCsum {
    /// Not checked (not TCP/UDP, or not IP): the stack checks.
    None,
    /// The L4 checksum is good (CHECKSUM_UNNECESSARY).
    Good,
    /// A checksum is wrong: counted, and left to the stack to drop.
    Bad,
}

/// What the device wrote back for one Rx descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxWriteback {
    /// Packet and RSS type (the low half of the first word).
    pub pkt_info: u16,
    /// Status and error bits.
    pub status: u32,
    /// Bytes written to this descriptor's buffer, as reported (unchecked).
    pub len: u16,
    /// The stripped VLAN tag, valid when [`rx::STAT_VP`] is set.
    pub vlan: u16,
    /// The RSS hash.
    pub rss: u32,
}

impl RxWriteback {
    /// Decodes a descriptor; `None` until the device set DD.
    pub fn decode(desc: [u64; 2]) -> Option<RxWriteback> {
        let [lo, hi] = desc;
        // CAST: each field is the named slice of the 64-bit word.
        let status = hi as u32;
        if status & rx::STAT_DD == 0 {
            return None;
        }
        Some(RxWriteback {
            pkt_info: lo as u16,
            status,
            len: (hi >> 32) as u16,
            vlan: (hi >> 48) as u16,
            rss: (lo >> 32) as u32,
        })
    }

    /// Whether this descriptor ends the frame.
    pub fn eop(&self) -> bool {
        self.status & rx::STAT_EOP != 0
    }

    /// The device's checksum verdict (`ixgbevf_rx_checksum`).
    pub fn checksum(&self) -> RxCsum {
        if self.status & rx::STAT_IPCS != 0 && self.status & rx::ERR_IPE != 0 {
            return RxCsum::Bad;
        }
        if self.status & rx::STAT_L4CS == 0 {
            return RxCsum::None;
        }
        if self.status & rx::ERR_TCPE != 0 {
            RxCsum::Bad
        } else {
            RxCsum::Good
        }
    }

    /// The stripped VLAN tag.
    pub fn vlan(&self) -> Option<u16> {
        (self.status & rx::STAT_VP != 0).then_some(self.vlan)
    }

    /// The RSS hash and whether it covers L4 ports; `None` when the device computed none.
    pub fn hash(&self) -> Option<(u32, bool)> {
        let rss_type = u32::from(self.pkt_info & 0xF);
        (rss_type != 0).then_some((self.rss, rx::RSS_L4_TYPES & (1 << rss_type) != 0))
    }

    /// Whether the device flagged the frame as bad.
    pub fn frame_error(&self) -> bool {
        self.status & rx::ERR_FRAME != 0
    }

    /// Whether the status contradicts the packet type: a checksum result for a layer the
    /// device says the frame does not have, or an error bit without its check. The frame
    /// itself may be fine; its offload results are not to be trusted.
    pub fn nonsense(&self) -> bool {
        let ip = self.pkt_info & rx::PTYPE_IP != 0;
        let l4 = self.pkt_info & rx::PTYPE_L4 != 0;
        let s = self.status;
        (s & rx::STAT_IPCS != 0 && !ip)
            || (s & rx::STAT_L4CS != 0 && !l4)
            || (s & rx::ERR_IPE != 0 && s & rx::STAT_IPCS == 0)
            || (s & rx::ERR_TCPE != 0 && s & rx::STAT_L4CS == 0)
    }

    /// The checksum verdict to hand the stack: [`Self::checksum`], or `None` (the stack
    /// checks) when the status is [`Self::nonsense`].
    pub fn trusted_checksum(&self) -> RxCsum {
        if self.nonsense() {
            RxCsum::None
        } else {
            self.checksum()
        }
    }

    /// The length to use: what the device reported, or `None` when it is zero or larger
    /// than the buffer the driver posted (a hostile or broken device).
    pub fn checked_len(&self, buf_len: u32) -> Option<u32> {
        let len = u32::from(self.len);
        (len != 0 && len <= buf_len).then_some(len)
    }
}

/// A descriptor ring's size and index arithmetic. The count is a power of two, so indices
/// wrap with a mask and never overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSize {
    count: u32,
}

impl RingSize {
    /// Smallest ring the driver accepts (ixgbevf `IXGBEVF_MIN_TXD`/`RXD`).
    pub const MIN: u32 = 64;
    /// Largest ring (`IXGBEVF_MAX_TXD`/`RXD`).
    pub const MAX: u32 = 4096;

    /// A ring of `count` descriptors, if it is a power of two within [`Self::MIN`] and
    /// [`Self::MAX`].
    pub fn new(count: u32) -> Option<RingSize> {
        (count.is_power_of_two() && (Self::MIN..=Self::MAX).contains(&count))
            .then_some(RingSize { count })
    }

    /// Descriptors in the ring.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Bytes of descriptor memory (the VFxDLEN value).
    pub fn bytes(&self) -> u32 {
        self.count.saturating_mul(DESC_BYTES)
    }

    /// The index after `i`.
    pub fn next(&self, i: u32) -> u32 {
        i.wrapping_add(1) & self.count.wrapping_sub(1)
    }

    /// `i` reduced into the ring (for indices from outside, such as a device head).
    pub fn wrap(&self, i: u32) -> u32 {
        i & self.count.wrapping_sub(1)
    }

    /// Descriptors the producer may still fill, keeping one slot empty so that a full ring
    /// is told apart from an empty one (ixgbevf's `IXGBE_DESC_UNUSED`).
    pub fn unused(&self, next_to_use: u32, next_to_clean: u32) -> u32 {
        next_to_clean.wrapping_sub(next_to_use).wrapping_sub(1) & self.count.wrapping_sub(1)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nonsense_status_is_not_trusted() {
        // What the model writes for a TCP/IPv4 frame: consistent.
        let good = RxWriteback {
            pkt_info: 0x0110,
            status: rx::STAT_DD | rx::STAT_EOP | rx::STAT_IPCS | rx::STAT_L4CS,
            len: 60,
            vlan: 0,
            rss: 0,
        };
        assert!(!good.nonsense());
        assert_eq!(good.trusted_checksum(), RxCsum::Good);
        // Checksum results for a frame the device says is not IP.
        let no_type = RxWriteback {
            pkt_info: 0,
            ..good
        };
        assert!(no_type.nonsense());
        assert_eq!(no_type.trusted_checksum(), RxCsum::None);
        // An L4 error without an L4 check.
        let stray = RxWriteback {
            status: rx::STAT_DD | rx::STAT_EOP | rx::ERR_TCPE,
            ..good
        };
        assert!(stray.nonsense());
        assert_eq!(stray.trusted_checksum(), RxCsum::None);
        // A genuine bad checksum stays Bad.
        let bad = RxWriteback {
            status: good.status | rx::ERR_TCPE,
            ..good
        };
        assert!(!bad.nonsense());
        assert_eq!(bad.trusted_checksum(), RxCsum::Bad);
    }

    use super::*;

    #[test]
    fn tx_descriptor_carries_length_and_end_of_packet() {
        let [addr, w] = tx_data(0x1234_5000, 1514, true, 1514);
        assert_eq!(addr, 0x1234_5000);
        let cmd = w as u32;
        assert_eq!(cmd & 0xFFFF, 1514);
        assert_ne!(cmd & tx::CMD_EOP, 0);
        assert_ne!(cmd & tx::CMD_RS, 0);
        assert_eq!(cmd & tx::DTYP_DATA, tx::DTYP_DATA);
        assert_eq!((w >> 32) as u32 >> tx::PAYLEN_SHIFT, 1514);
        let [_, mid] = tx_data(0, 100, false, 1514);
        assert_eq!(mid as u32 & (tx::CMD_EOP | tx::CMD_RS), 0);
        assert!(!tx_done([addr, w]));
        assert!(tx_done([0, 1 << 32]));
    }

    #[test]
    fn plain_frames_need_no_context() {
        let p = tx_plan(&TxOffload::default(), 60).unwrap();
        assert_eq!(
            (p.context, p.cmd, p.olinfo, p.paylen, p.wire_bytes),
            (None, 0, 0, 60, 60)
        );
    }

    #[test]
    fn checksum_offload_describes_headers_in_a_context() {
        let o = TxOffload {
            csum: Some(L4::Tcp),
            ipv4: true,
            mac_len: 14,
            ip_len: 20,
            vlan: Some(5),
            ..TxOffload::default()
        };
        let p = tx_plan(&o, 1514).unwrap();
        let [w0, w1] = p.context.unwrap();
        assert_eq!(w0 as u32, 20 | 14 << 9 | 5 << 16);
        let tucmd = w1 as u32;
        assert_eq!(tucmd & tx::TUCMD_L4T_TCP, tx::TUCMD_L4T_TCP);
        assert_eq!(tucmd & tx::TUCMD_IPV4, tx::TUCMD_IPV4);
        assert_eq!(tucmd & tx::DTYP_CTXT, tx::DTYP_CTXT);
        assert_eq!(w1 >> 32, 0);
        assert_eq!(p.cmd, tx::CMD_VLE);
        assert_eq!(p.olinfo, tx::OLINFO_CC | tx::POPTS_TXSM);
        let [_, d] = tx_data_planned(0x1000, 1514, true, &p);
        assert_eq!(d as u32 & tx::CMD_VLE, tx::CMD_VLE);
        assert_eq!(
            (d >> 32) as u32,
            tx::OLINFO_CC | tx::POPTS_TXSM | 1514 << tx::PAYLEN_SHIFT
        );
    }

    #[test]
    fn tso_counts_every_segments_headers_and_refuses_nonsense() {
        let o = TxOffload {
            csum: Some(L4::Tcp),
            tso: Some((1448, 3)),
            ipv4: true,
            mac_len: 14,
            ip_len: 20,
            l4_len: 32,
            vlan: None,
        };
        let len = 66 + 3 * 1448;
        let p = tx_plan(&o, len).unwrap();
        assert_eq!(p.paylen, 3 * 1448);
        assert_eq!(p.wire_bytes, len + 2 * 66);
        assert_eq!(p.cmd, tx::CMD_TSE);
        assert_eq!(
            p.olinfo,
            tx::OLINFO_CC | tx::POPTS_TXSM | tx::POPTS_IXSM | 1 << 4
        );
        let [_, w1] = p.context.unwrap();
        assert_eq!((w1 >> 32) as u32, 32 << 8 | 1448 << 16 | 1 << 4);
        assert_eq!(
            tx_plan(
                &TxOffload {
                    csum: Some(L4::Udp),
                    ..o
                },
                len
            ),
            None
        );
        assert_eq!(
            tx_plan(
                &TxOffload {
                    tso: Some((0, 1)),
                    ..o
                },
                len
            ),
            None
        );
        assert_eq!(tx_plan(&o, 10), None);
        assert_eq!(tx_plan(&TxOffload { mac_len: 200, ..o }, len), None);
    }

    #[test]
    fn rx_checksum_vlan_and_hash_follow_the_status() {
        let wb = |lo: u64, st: u64| RxWriteback::decode([lo, 1 | st | 60 << 32 | 7 << 48]).unwrap();
        assert_eq!(wb(0, 0).checksum(), RxCsum::None);
        assert_eq!(wb(0, 0x20).checksum(), RxCsum::Good);
        assert_eq!(wb(0, 0x20 | 0x4000_0000).checksum(), RxCsum::Bad);
        assert_eq!(wb(0, 0x40 | 0x8000_0000).checksum(), RxCsum::Bad);
        assert_eq!(wb(0, 0).vlan(), None);
        assert_eq!(wb(0, 0x08).vlan(), Some(7));
        assert_eq!(wb(0, 0).hash(), None);
        assert_eq!(wb(0xABCD << 32 | 1, 0).hash(), Some((0xABCD, true)));
        assert_eq!(wb(0xABCD << 32 | 2, 0).hash(), Some((0xABCD, false)));
    }

    #[test]
    fn rx_writeback_is_decoded_and_its_length_bounded() {
        assert_eq!(RxWriteback::decode([0, 0]), None);
        let wb = RxWriteback::decode([0xAB << 32, 3 | 60 << 32 | 5 << 48]).unwrap();
        assert!(wb.eop());
        assert_eq!((wb.len, wb.vlan, wb.rss), (60, 5, 0xAB));
        assert_eq!(wb.checked_len(2048), Some(60));
        let huge = RxWriteback::decode([0, 1 | 0xFFFF << 32]).unwrap();
        assert_eq!(huge.checked_len(2048), None);
        assert!(!huge.eop());
        let empty = RxWriteback::decode([0, 3]).unwrap();
        assert_eq!(empty.checked_len(2048), None);
        let bad = RxWriteback::decode([0, 3 | 1 << 24]).unwrap();
        assert!(bad.frame_error());
    }

    #[test]
    fn ring_arithmetic_wraps_and_keeps_a_slot_free() {
        assert_eq!(RingSize::new(100), None);
        assert_eq!(RingSize::new(32), None);
        assert_eq!(RingSize::new(8192), None);
        let r = RingSize::new(512).unwrap();
        assert_eq!(r.bytes(), 8192);
        assert_eq!(r.next(511), 0);
        assert_eq!(r.wrap(0xFFFF_FFFF), 511);
        assert_eq!(r.unused(0, 0), 511);
        assert_eq!(r.unused(10, 11), 0);
        assert_eq!(r.unused(511, 0), 0);
        assert_eq!(r.unused(5, 2), 508);
    }
}
