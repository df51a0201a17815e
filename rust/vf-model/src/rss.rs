//! RSS as the 82599 PF programs it for a VF pool: a Toeplitz hash over the IPv4/IPv6
//! addresses and TCP/UDP ports, and a redirection table spreading over the pool's queues.

use crate::net::Parsed;

/// The PF's RSS key (the VF can query it with GET_RSS_KEY when the admin allows).
pub const PF_RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// Toeplitz hash of `input` under `key` (the Microsoft RSS definition).
pub fn toeplitz(key: &[u8; 40], input: &[u8]) -> u32 {
    let mut result = 0u32;
    // The 32-bit window of the key starting at the current input bit.
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    let mut next_key_bit = 32;
    for &byte in input {
        for bit in (0..8).rev() {
            if byte & (1 << bit) != 0 {
                result ^= window;
            }
            let kb = key
                .get(next_key_bit / 8)
                .map_or(0, |k| (k >> (7 - next_key_bit % 8)) & 1);
            window = (window << 1) | u32::from(kb);
            next_key_bit += 1;
        }
    }
    result
}

/// RSS type codes written to the Rx descriptor (pkt_info bits 3:0).
pub mod rss_type {
    /// No hash computed.
    pub const NONE: u16 = 0;
    /// IPv4 + TCP.
    pub const IPV4_TCP: u16 = 1;
    /// IPv4 only.
    pub const IPV4: u16 = 2;
    /// IPv6 + TCP.
    pub const IPV6_TCP: u16 = 3;
    /// IPv6 only.
    pub const IPV6: u16 = 5;
    /// IPv4 + UDP.
    pub const IPV4_UDP: u16 = 7;
    /// IPv6 + UDP.
    pub const IPV6_UDP: u16 = 8;
}

/// Hash and RSS type for a parsed frame, using the hash types the PF enables
/// (IPv4, IPv4/TCP, IPv6, IPv6/TCP, plus UDP).
pub fn hash(p: &Parsed, frame: &[u8]) -> (u32, u16) {
    let Some(l3) = p.l3 else {
        return (0, rss_type::NONE);
    };
    let (src, dst, v6) = if p.ipv4 {
        (&frame[l3 + 12..l3 + 16], &frame[l3 + 16..l3 + 20], false)
    } else if p.ipv6 {
        (&frame[l3 + 8..l3 + 24], &frame[l3 + 24..l3 + 40], true)
    } else {
        return (0, rss_type::NONE);
    };
    let mut input = Vec::with_capacity(36);
    input.extend_from_slice(src);
    input.extend_from_slice(dst);
    let with_ports =
        p.l4.filter(|&l4| !p.fragment && (p.tcp || p.udp) && frame.len() >= l4 + 4);
    let ty = match (with_ports, v6, p.tcp) {
        (Some(l4), _, tcp) => {
            input.extend_from_slice(&frame[l4..l4 + 4]);
            match (v6, tcp) {
                (false, true) => rss_type::IPV4_TCP,
                (false, false) => rss_type::IPV4_UDP,
                (true, true) => rss_type::IPV6_TCP,
                (true, false) => rss_type::IPV6_UDP,
            }
        }
        (None, false, _) => rss_type::IPV4,
        (None, true, _) => rss_type::IPV6,
    };
    (toeplitz(&PF_RSS_KEY, &input), ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toeplitz_matches_the_published_vectors() {
        // Microsoft's RSS verification suite, IPv4 with TCP ports:
        // 66.9.149.187:2794 -> 161.142.100.80:1766 hashes to 0x51ccc178.
        let input = [66, 9, 149, 187, 161, 142, 100, 80, 0x0a, 0xea, 0x06, 0xe6];
        assert_eq!(toeplitz(&PF_RSS_KEY, &input), 0x51cc_c178);
        // IPv4 only: 0x323e8fc2.
        assert_eq!(toeplitz(&PF_RSS_KEY, &input[..8]), 0x323e_8fc2);
    }
}
