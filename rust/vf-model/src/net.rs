//! Frame parsing and the packet arithmetic the device does in hardware: Internet checksums,
//! VLAN tag insertion and stripping, and TCP segmentation (TSO).
//!
//! Everything here takes untrusted bytes: every offset is checked against the frame, and a
//! frame that does not parse is simply "not IP" to the offloads.

/// 802.1Q TPID.
pub const ETH_P_8021Q: u16 = 0x8100;
/// IPv4 ethertype.
pub const ETH_P_IP: u16 = 0x0800;
/// IPv6 ethertype.
pub const ETH_P_IPV6: u16 = 0x86DD;
/// Ethernet header length without a tag.
pub const ETH_HLEN: usize = 14;
/// Minimum frame length on the wire without FCS (`ETH_ZLEN`).
pub const ETH_ZLEN: usize = 60;

/// What a frame is made of, as far as the device's parser goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The 802.1Q TCI, if the frame is tagged.
    pub vlan: Option<u16>,
    /// Offset of the L3 header.
    pub l3: Option<usize>,
    /// Offset of the L4 header.
    pub l4: Option<usize>,
    /// IPv4.
    pub ipv4: bool,
    /// IPv6.
    pub ipv6: bool,
    /// TCP.
    pub tcp: bool,
    /// UDP.
    pub udp: bool,
    /// SCTP.
    pub sctp: bool,
    /// An IP fragment (no L4 header to trust).
    pub fragment: bool,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Parses Ethernet, one optional 802.1Q tag, IPv4/IPv6 and the L4 protocol.
pub fn parse(frame: &[u8]) -> Parsed {
    let mut p = Parsed::default();
    let Some(mut ethertype) = be16(frame, 12) else {
        return p;
    };
    let mut l3 = ETH_HLEN;
    if ethertype == ETH_P_8021Q {
        p.vlan = be16(frame, 14);
        let Some(inner) = be16(frame, 16) else {
            return p;
        };
        ethertype = inner;
        l3 = ETH_HLEN + 4;
    }
    let proto;
    let l4;
    match ethertype {
        ETH_P_IP => {
            let Some(&vihl) = frame.get(l3) else { return p };
            let ihl = usize::from(vihl & 0xF) * 4;
            if vihl >> 4 != 4 || ihl < 20 || frame.len() < l3 + ihl {
                return p;
            }
            p.l3 = Some(l3);
            p.ipv4 = true;
            let frag = be16(frame, l3 + 6).unwrap_or(0);
            p.fragment = frag & 0x3FFF != 0;
            proto = frame[l3 + 9];
            l4 = l3 + ihl;
        }
        ETH_P_IPV6 => {
            if frame.len() < l3 + 40 || frame[l3] >> 4 != 6 {
                return p;
            }
            p.l3 = Some(l3);
            p.ipv6 = true;
            let mut next = frame[l3 + 6];
            let mut off = l3 + 40;
            // Walk the common extension headers; stop at anything else.
            loop {
                match next {
                    0 | 43 | 60 => {
                        let (Some(&n), Some(&len)) = (frame.get(off), frame.get(off + 1)) else {
                            return p;
                        };
                        next = n;
                        off += (usize::from(len) + 1) * 8;
                    }
                    44 => {
                        let Some(&n) = frame.get(off) else { return p };
                        p.fragment = true;
                        next = n;
                        off += 8;
                    }
                    _ => break,
                }
            }
            proto = next;
            l4 = off;
        }
        _ => return p,
    }
    if p.fragment || l4 >= frame.len() {
        return p;
    }
    match proto {
        6 if frame.len() >= l4 + 20 => p.tcp = true,
        17 if frame.len() >= l4 + 8 => p.udp = true,
        132 if frame.len() >= l4 + 12 => p.sctp = true,
        _ => return p,
    }
    p.l4 = Some(l4);
    p
}

/// One's-complement sum of `data` added to `acc` (not folded).
pub fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

/// Folds a sum to 16 bits.
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    // CAST: folded to 16 bits above.
    acc as u16
}

/// Pseudo-header sum for an L4 segment of `l4_len` bytes.
pub fn pseudo_sum(frame: &[u8], p: &Parsed, proto: u8, l4_len: usize) -> u64 {
    let Some(l3) = p.l3 else { return 0 };
    let addrs = if p.ipv4 {
        &frame[l3 + 12..l3 + 20]
    } else {
        &frame[l3 + 8..l3 + 40]
    };
    sum(addrs, u64::from(proto) + l4_len as u64)
}

/// Whether the IPv4 header checksum verifies.
pub fn ipv4_header_ok(frame: &[u8], l3: usize) -> bool {
    let ihl = usize::from(frame[l3] & 0xF) * 4;
    fold(sum(&frame[l3..l3 + ihl], 0)) == 0xFFFF
}

/// Writes the IPv4 header checksum.
pub fn fill_ipv4_checksum(frame: &mut [u8], l3: usize) {
    let ihl = usize::from(frame[l3] & 0xF) * 4;
    frame[l3 + 10..l3 + 12].fill(0);
    let c = !fold(sum(&frame[l3..l3 + ihl], 0));
    frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

/// L4 length as the IP header declares it (bounded by the frame), for checksum checks.
fn l4_len(frame: &[u8], p: &Parsed, l4: usize) -> Option<usize> {
    let l3 = p.l3?;
    let ip_end = if p.ipv4 {
        l3 + usize::from(be16(frame, l3 + 2)?)
    } else {
        l3 + 40 + usize::from(be16(frame, l3 + 4)?)
    };
    (ip_end <= frame.len() && ip_end >= l4).then(|| ip_end - l4)
}

/// Checks the TCP/UDP checksum. None if there is nothing to check (not TCP/UDP, a UDP
/// datagram over IPv4 without checksum, or lengths that do not add up).
pub fn l4_checksum_ok(frame: &[u8], p: &Parsed) -> Option<bool> {
    let l4 = p.l4?;
    let len = l4_len(frame, p, l4)?;
    let proto = if p.tcp {
        6
    } else if p.udp {
        if p.ipv4 && be16(frame, l4 + 6)? == 0 {
            return None;
        }
        17
    } else {
        return None;
    };
    Some(fold(sum(&frame[l4..l4 + len], pseudo_sum(frame, p, proto, len))) == 0xFFFF)
}

/// Completes a partial checksum the driver seeded: sums from `start` to the end of the frame
/// (the seed included) and stores the complement at `start + offset`.
pub fn fill_l4_checksum(frame: &mut [u8], start: usize, offset: usize, udp: bool) -> bool {
    let at = start + offset;
    if at + 2 > frame.len() {
        return false;
    }
    let mut c = !fold(sum(&frame[start..], 0));
    if udp && c == 0 {
        c = 0xFFFF;
    }
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Inserts an 802.1Q tag carrying `tci` after the MAC addresses.
pub fn insert_vlan(frame: &[u8], tci: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + 4);
    out.extend_from_slice(&frame[..12]);
    out.extend_from_slice(&ETH_P_8021Q.to_be_bytes());
    out.extend_from_slice(&tci.to_be_bytes());
    out.extend_from_slice(&frame[12..]);
    out
}

/// Removes the outer 802.1Q tag.
pub fn strip_vlan(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() - 4);
    out.extend_from_slice(&frame[..12]);
    out.extend_from_slice(&frame[16..]);
    out
}

/// Why a TSO request cannot be carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsoError {
    /// The frame is not TCP over IPv4/IPv6 at the offsets the context descriptor gave.
    NotTcp,
    /// MSS of zero, or headers longer than the frame.
    BadLengths,
}

/// Segments a TCP super-frame into frames of at most `mss` payload bytes, as the 82599
/// does: headers copied, IPv4 total length / ID / checksum and IPv6 payload length
/// rewritten, sequence numbers advanced, FIN/PSH only on the last segment and CWR only on
/// the first, and the TCP checksum computed for each segment.
pub fn tso(
    frame: &[u8],
    l3: usize,
    l4: usize,
    l4_hdr: usize,
    mss: usize,
) -> Result<Vec<Vec<u8>>, TsoError> {
    let hdr = l4 + l4_hdr;
    if mss == 0 || l4_hdr < 20 || hdr > frame.len() || l3 + 20 > l4 {
        return Err(TsoError::BadLengths);
    }
    let p = parse(frame);
    if p.l3 != Some(l3) || p.l4 != Some(l4) || !p.tcp {
        return Err(TsoError::NotTcp);
    }
    let payload = &frame[hdr..];
    let n = payload.len().div_ceil(mss).max(1);
    let seq0 = u32::from_be_bytes([frame[l4 + 4], frame[l4 + 5], frame[l4 + 6], frame[l4 + 7]]);
    let id0 = be16(frame, l3 + 4).unwrap_or(0);
    let flags0 = frame[l4 + 13];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let chunk = &payload[(i * mss).min(payload.len())..((i + 1) * mss).min(payload.len())];
        let mut seg = Vec::with_capacity(hdr + chunk.len());
        seg.extend_from_slice(&frame[..hdr]);
        seg.extend_from_slice(chunk);
        if p.ipv4 {
            let tot = (seg.len() - l3) as u16;
            seg[l3 + 2..l3 + 4].copy_from_slice(&tot.to_be_bytes());
            seg[l3 + 4..l3 + 6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
            fill_ipv4_checksum(&mut seg, l3);
        } else {
            let pl = (seg.len() - l3 - 40) as u16;
            seg[l3 + 4..l3 + 6].copy_from_slice(&pl.to_be_bytes());
        }
        let seq = seq0.wrapping_add((i * mss) as u32);
        seg[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
        let mut flags = flags0;
        if i + 1 != n {
            flags &= !0x09; // FIN, PSH only on the last segment
        }
        if i != 0 {
            flags &= !0x80; // CWR only on the first
        }
        seg[l4 + 13] = flags;
        seg[l4 + 16..l4 + 18].fill(0);
        let len = seg.len() - l4;
        let sp = parse(&seg);
        let c = !fold(sum(&seg[l4..], pseudo_sum(&seg, &sp, 6, len)));
        seg[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        out.push(seg);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A TCP/IPv4 frame from 10.0.0.1:1000 to 10.0.0.2:2000 with a valid checksum.
    pub(crate) fn tcp4(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 54];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&ETH_P_IP.to_be_bytes());
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((40 + payload.len()) as u16).to_be_bytes());
        f[18..20].copy_from_slice(&0x1234u16.to_be_bytes());
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[34..36].copy_from_slice(&1000u16.to_be_bytes());
        f[36..38].copy_from_slice(&2000u16.to_be_bytes());
        f[38..42].copy_from_slice(&7u32.to_be_bytes());
        f[46] = 0x50;
        f[47] = 0x19; // FIN PSH ACK
        f.extend_from_slice(payload);
        fill_ipv4_checksum(&mut f, 14);
        let p = parse(&f);
        let len = f.len() - 34;
        let c = !fold(sum(&f[34..], pseudo_sum(&f, &p, 6, len)));
        f[50..52].copy_from_slice(&c.to_be_bytes());
        f
    }

    #[test]
    fn parse_and_verify() {
        let f = tcp4(b"hello");
        let p = parse(&f);
        assert!(p.ipv4 && p.tcp && p.vlan.is_none());
        assert_eq!((p.l3, p.l4), (Some(14), Some(34)));
        assert!(ipv4_header_ok(&f, 14));
        assert_eq!(l4_checksum_ok(&f, &p), Some(true));
        let mut bad = f.clone();
        bad[56] ^= 1;
        assert_eq!(l4_checksum_ok(&bad, &parse(&bad)), Some(false));
        let t = insert_vlan(&f, 0x2005);
        let pt = parse(&t);
        assert_eq!((pt.vlan, pt.l3, pt.l4), (Some(0x2005), Some(18), Some(38)));
        assert_eq!(strip_vlan(&t), f);
    }

    #[test]
    fn garbage_parses_as_nothing() {
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = parse(&junk);
        }
        let mut f = tcp4(b"x");
        f[14] = 0x4F; // IHL 60 bytes, longer than the frame
        assert!(parse(&f).l3.is_none());
    }

    #[test]
    fn tso_segments_verify() {
        let payload: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let f = tcp4(&payload);
        let segs = tso(&f, 14, 34, 20, 1448).unwrap();
        assert_eq!(segs.len(), 3);
        let mut seq = 7u32;
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let p = parse(s);
            assert!(ipv4_header_ok(s, 14));
            assert_eq!(l4_checksum_ok(s, &p), Some(true));
            assert_eq!(u32::from_be_bytes(s[38..42].try_into().unwrap()), seq);
            assert_eq!(u16::from_be_bytes([s[18], s[19]]), 0x1234 + i as u16);
            let last = i == 2;
            assert_eq!(s[47] & 0x09 != 0, last, "FIN/PSH only on the last segment");
            seq += (s.len() - 54) as u32;
            joined.extend_from_slice(&s[54..]);
        }
        assert_eq!(joined, payload);
        assert_eq!(tso(&f, 14, 34, 20, 0), Err(TsoError::BadLengths));
        assert_eq!(tso(&f, 14, 38, 20, 100), Err(TsoError::NotTcp));
    }

    #[test]
    fn partial_checksum_completion() {
        let mut f = tcp4(&[1, 2, 3, 4, 5]);
        // Seed the field with the pseudo-header sum, as a driver does for CHECKSUM_PARTIAL.
        let p = parse(&f);
        let seed = fold(pseudo_sum(&f, &p, 6, f.len() - 34));
        f[50..52].copy_from_slice(&seed.to_be_bytes());
        assert!(fill_l4_checksum(&mut f, 34, 16, false));
        assert_eq!(l4_checksum_ok(&f, &parse(&f)), Some(true));
        assert!(!fill_l4_checksum(&mut f, 34, 1000, false));
    }
}
