//! The PF's side of the mailbox, as the Linux ixgbe PF driver behaves, and the per-VF state
//! the PF keeps (`struct vf_data_storage` and the hardware filters it programs).
//!
//! Messages are answered the way `ixgbe_rcv_msg_from_vf` does: buffers that already carry
//! ACK or NACK are ignored; VF_RESET is always handled; anything else before a VF_RESET
//! (clear-to-send false) gets a one-word NACK and is not executed; replies are
//! `request | ACK-or-NACK | CTS`, 16 words, except the 4-word VF_RESET reply (no CTS).

use std::collections::BTreeSet;

use crate::regs::MBX_WORDS;

/// Mailbox message ids (word 0, bits 15:0).
pub mod msg {
    /// VF reset request; reply carries the MAC and the multicast filter type.
    pub const VF_RESET: u32 = 0x01;
    /// Set the VF's primary MAC.
    pub const SET_MAC_ADDR: u32 = 0x02;
    /// Set the multicast hash list.
    pub const SET_MULTICAST: u32 = 0x03;
    /// Add or remove a VLAN.
    pub const SET_VLAN: u32 = 0x04;
    /// Set the maximum frame size.
    pub const SET_LPE: u32 = 0x05;
    /// Secondary unicast MAC list.
    pub const SET_MACVLAN: u32 = 0x06;
    /// Negotiate the mailbox API version.
    pub const API_NEGOTIATE: u32 = 0x08;
    /// Queue layout query.
    pub const GET_QUEUES: u32 = 0x09;
    /// RSS redirection table query.
    pub const GET_RETA: u32 = 0x0a;
    /// RSS key query.
    pub const GET_RSS_KEY: u32 = 0x0b;
    /// Multicast/promiscuous mode.
    pub const UPDATE_XCAST_MODE: u32 = 0x0c;
    /// Add an IPsec SA.
    pub const IPSEC_ADD: u32 = 0x0d;
    /// Delete an IPsec SA.
    pub const IPSEC_DEL: u32 = 0x0e;
    /// Administrative link state query.
    pub const GET_LINK_STATE: u32 = 0x10;
    /// PF link state query (E610 PF only).
    pub const GET_PF_LINK_STATE: u32 = 0x11;
    /// Feature negotiation (API 1.7).
    pub const FEATURES_NEGOTIATE: u32 = 0x12;
    /// PF-to-VF control message ("ping").
    pub const PF_CONTROL: u32 = 0x100;

    /// ACK (PF) / SUCCESS (VF).
    pub const ACK: u32 = 0x8000_0000;
    /// NACK (PF) / FAILURE (VF).
    pub const NACK: u32 = 0x4000_0000;
    /// Clear to send.
    pub const CTS: u32 = 0x2000_0000;
    /// MSGINFO field shift (bits 23:16).
    pub const INFO_SHIFT: u32 = 16;
    /// MSGINFO field mask.
    pub const INFO_MASK: u32 = 0xFF << INFO_SHIFT;
}

/// Mailbox API versions as sent on the wire (`enum ixgbe_pfvf_api_rev`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Api {
    /// 1.0
    V10 = 0,
    /// 2.0 (Solaris PF; the Linux PF refuses it)
    V20 = 1,
    /// 1.1
    V11 = 2,
    /// 1.2
    V12 = 3,
    /// 1.3
    V13 = 4,
    /// 1.4
    V14 = 5,
    /// 1.5 (ESX mailbox; the Linux PF refuses it)
    V15 = 6,
    /// 1.6
    V16 = 7,
    /// 1.7
    V17 = 8,
}

impl Api {
    /// Decodes a wire value.
    pub fn from_wire(v: u32) -> Option<Api> {
        Some(match v {
            0 => Api::V10,
            1 => Api::V20,
            2 => Api::V11,
            3 => Api::V12,
            4 => Api::V13,
            5 => Api::V14,
            6 => Api::V15,
            7 => Api::V16,
            8 => Api::V17,
            _ => return None,
        })
    }

    /// Human name, for statistics.
    pub fn name(self) -> &'static str {
        match self {
            Api::V10 => "1.0",
            Api::V20 => "2.0",
            Api::V11 => "1.1",
            Api::V12 => "1.2",
            Api::V13 => "1.3",
            Api::V14 => "1.4",
            Api::V15 => "1.5",
            Api::V16 => "1.6",
            Api::V17 => "1.7",
        }
    }

    /// 1.1 or later, as the Linux PF's `switch (vf_api)` ladders list them: 1.5 (ESX
    /// mailbox) and 2.0 (Solaris) are never negotiated with it and are left out.
    pub fn from_11(self) -> bool {
        matches!(
            self,
            Api::V11 | Api::V12 | Api::V13 | Api::V14 | Api::V16 | Api::V17
        )
    }

    /// 1.2 or later, in the same sense as `from_11`: the gate of GET_RETA, GET_RSS_KEY,
    /// GET_LINK_STATE and UPDATE_XCAST_MODE.
    pub fn from_12(self) -> bool {
        self != Api::V11 && self.from_11()
    }
}

/// VF Rx mode (`enum ixgbevf_xcast_modes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Xcast {
    /// No broadcast or multicast.
    None = 0,
    /// Broadcast plus the multicast hash list.
    Multi = 1,
    /// All multicast.
    AllMulti = 2,
    /// Promiscuous.
    Promisc = 3,
}

/// Maximum multicast hashes per VF (`IXGBE_MAX_VF_MC_ENTRIES`).
pub const MAX_MC_HASHES: usize = 30;
/// Maximum secondary MACs per VF the model grants (RAR entries left to VFs).
pub const MAX_MACVLANS: usize = 16;
/// VLAN filter entries shared by the PF (VLVF).
pub const MAX_VLANS: usize = 64;
/// Largest frame the PF accepts in SET_LPE (`IXGBE_MAX_JUMBO_FRAME_SIZE`).
pub const MAX_JUMBO_FRAME: u32 = 9728;
/// 1514: `ETH_FRAME_LEN`.
const ETH_FRAME_LEN: u32 = 1514;
/// `ETH_FCS_LEN`.
const ETH_FCS_LEN: u32 = 4;
/// `ETH_HLEN`: the PF's own max frame is its MTU plus this.
const ETH_HLEN: u32 = 14;

/// What the host administrator configured for this VF (`ip link set ... vf N ...`) and PF
/// facts that policy depends on. This survives a VF reset; a swap may change it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    /// MAC set by the administrator (`pf_set_mac`), if any.
    pub mac: Option<[u8; 6]>,
    /// Trusted VF: may override the MAC, add MACVLANs, use ALLMULTI/PROMISC and IPsec.
    pub trusted: bool,
    /// MAC/VLAN anti-spoof requested by the administrator.
    pub spoofchk: bool,
    /// GET_RETA/GET_RSS_KEY permitted.
    pub rss_query: bool,
    /// Administrative link enable (`link_enable`).
    pub link_enable: bool,
    /// Port VLAN (0 = none).
    pub pf_vlan: u16,
    /// MTU of the PF netdev; the 82599 jumbo rule compares the VF against it.
    pub pf_mtu: u32,
    /// PF netdev in promiscuous mode (FCTRL.UPE).
    pub pf_promisc: bool,
    /// PF private flag `vf-ipsec`.
    pub ipsec: bool,
    /// Queues per pool the PF's VMDq layout gives each VF.
    pub queues: u32,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            mac: None,
            trusted: false,
            spoofchk: true,
            rss_query: false,
            link_enable: true,
            pf_vlan: 0,
            pf_mtu: 1500,
            pf_promisc: false,
            ipsec: false,
            queues: 2,
        }
    }
}

/// One IPsec SA the PF holds for the VF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sa {
    /// Handle returned to the VF.
    pub handle: u32,
    /// SPI, as sent (big-endian on the wire).
    pub spi: u32,
}

/// Per-VF state the PF keeps, guest-requested part (what a VF reset or a new host loses).
#[derive(Clone, Debug)]
pub struct PfVf {
    /// `vf_mac_addresses`.
    pub mac: [u8; 6],
    /// The MAC filter (RAR entry) for `mac` is programmed.
    pub mac_filter: bool,
    /// `vf_mc_hashes`.
    pub mc_hashes: Vec<u16>,
    /// `clear_to_send`.
    pub clear_to_send: bool,
    /// VLANs in the VF's VLVF pool bits.
    pub vlans: BTreeSet<u16>,
    /// MAXFRS: the largest frame the port accepts, the PF's own at first, raised (never
    /// lowered) by SET_LPE.
    pub max_frame: u32,
    /// Rx enable for this VF's pool (VFRE bit).
    pub vfre: bool,
    /// Tx enable (VFTE bit).
    pub vfte: bool,
    /// Secondary MAC filters.
    pub macvlans: Vec<[u8; 6]>,
    /// `xcast_mode`; a VF reset does not reset it.
    pub xcast: Xcast,
    /// VMOLR.ROMPE: multicast matching the hash list is accepted. SET_MULTICAST sets it
    /// (so a VF below API 1.2, which cannot send UPDATE_XCAST_MODE, still gets its
    /// groups); a change to NONE clears it. Broadcast needs no flag: the Linux PF sets
    /// VMOLR.BAM at every VF reset and in every mode.
    pub rompe: bool,
    /// `vf_api`.
    pub api: Api,
    /// MAC anti-spoof in force (the admin setting, turned off by a MACVLAN add).
    pub spoofchk: bool,
    /// IPsec SAs.
    pub sas: Vec<Sa>,
    next_sa: u32,
    /// Messages answered with NACK.
    pub nacks: u64,
    /// Messages handled.
    pub handled: u64,
    /// What the PF logged for its last refusal, as the Linux PF words it (taken by the
    /// device, which writes it to the model's log).
    pub refusal: Option<String>,
    /// Last message id that was refused, for diagnosis.
    pub last_nack: Option<u32>,
}

/// The multicast filter type the PF reports (`hw->mac.mc_filter_type`): 0 = bits 47:36.
pub const MC_FILTER_TYPE: u32 = 0;

/// The 12-bit MTA hash of a multicast address for filter type 0 (`ixgbe_mta_vector`).
pub fn mta_hash(addr: &[u8; 6]) -> u16 {
    ((u16::from(addr[4]) >> 4) | (u16::from(addr[5]) << 4)) & 0xFFF
}

fn mac_from_words(w1: u32, w2: u32) -> [u8; 6] {
    let a = w1.to_le_bytes();
    let b = w2.to_le_bytes();
    [a[0], a[1], a[2], a[3], b[0], b[1]]
}

fn is_valid_unicast(mac: &[u8; 6]) -> bool {
    mac.iter().any(|&b| b != 0) && mac[0] & 1 == 0
}

impl PfVf {
    /// State at SR-IOV enable: nothing programmed, API 1.0, not clear to send.
    pub fn new(admin: &Admin) -> Self {
        PfVf {
            mac: admin.mac.unwrap_or([0; 6]),
            mac_filter: false,
            mc_hashes: Vec::new(),
            clear_to_send: false,
            vlans: BTreeSet::new(),
            max_frame: (admin.pf_mtu + ETH_HLEN + ETH_FCS_LEN).max(ETH_FRAME_LEN + ETH_FCS_LEN),
            vfre: true,
            vfte: true,
            macvlans: Vec::new(),
            xcast: Xcast::None,
            rompe: false,
            api: Api::V10,
            spoofchk: admin.spoofchk,
            sas: Vec::new(),
            next_sa: 0,
            nacks: 0,
            handled: 0,
            refusal: None,
            last_nack: None,
        }
    }

    /// `ixgbe_vf_reset_event`: what the PF undoes when the VF resets (VFLR or VF_RESET).
    /// The stored MAC and `xcast_mode` survive; `clear_to_send` is not changed here.
    pub fn reset_event(&mut self, admin: &Admin) {
        self.vlans.clear();
        // The port VLAN, or VLAN 0, is re-added.
        self.vlans.insert(admin.pf_vlan);
        self.mc_hashes.clear();
        self.sas.clear();
        self.mac_filter = false;
        self.macvlans.clear();
        self.api = Api::V10;
        self.spoofchk = admin.spoofchk;
    }

    /// Whether the VF may receive frames (pool Rx enable and admin link).
    pub fn rx_enabled(&self, admin: &Admin) -> bool {
        self.vfre && admin.link_enable
    }

    /// Whether the VF may transmit.
    pub fn tx_enabled(&self, admin: &Admin) -> bool {
        self.vfte && admin.link_enable
    }

    /// Handles one VF message, as `ixgbe_rcv_msg_from_vf`. Returns the reply words the PF
    /// writes, or None when the PF writes nothing (a buffer it already processed).
    pub fn handle(&mut self, req: &[u32; MBX_WORDS], admin: &Admin) -> Option<Vec<u32>> {
        // A buffer with ACK or NACK set is one the PF already answered.
        if req[0] & (msg::ACK | msg::NACK) != 0 {
            return None;
        }
        self.handled += 1;
        if req[0] == msg::VF_RESET {
            return Some(self.vf_reset(admin));
        }
        if !self.clear_to_send {
            self.nacks += 1;
            self.last_nack = Some(req[0] & 0xFFFF);
            return Some(vec![req[0] | msg::NACK]);
        }
        let mut reply = *req;
        let ok = match req[0] & 0xFFFF {
            msg::SET_MAC_ADDR => self.set_mac(req, admin),
            msg::SET_MULTICAST => self.set_multicast(req),
            msg::SET_VLAN => self.set_vlan(req, admin),
            msg::SET_LPE => self.set_lpe(req, admin),
            msg::SET_MACVLAN => self.set_macvlan(req, admin),
            msg::API_NEGOTIATE => self.negotiate_api(req),
            msg::GET_QUEUES => self.get_queues(&mut reply, admin),
            msg::GET_RETA => self.get_reta(&mut reply, admin),
            msg::GET_RSS_KEY => self.get_rss_key(&mut reply, admin),
            msg::UPDATE_XCAST_MODE => self.update_xcast(&mut reply, admin),
            msg::IPSEC_ADD => self.ipsec_add(&mut reply, admin),
            msg::IPSEC_DEL => self.ipsec_del(req, admin),
            msg::GET_LINK_STATE => self.get_link_state(&mut reply, admin),
            msg::FEATURES_NEGOTIATE => self.negotiate_features(&mut reply),
            // GET_PF_LINK_STATE exists only on an E610 PF; the 82599 PF refuses it, and
            // anything else is "Unhandled Msg".
            _ => self.refuse(format!("Unhandled Msg {:08x}", req[0])),
        };
        if ok {
            reply[0] |= msg::ACK;
        } else {
            self.nacks += 1;
            self.last_nack = Some(req[0] & 0xFFFF);
            reply[0] |= msg::NACK;
        }
        reply[0] |= msg::CTS;
        Some(reply.to_vec())
    }

    fn vf_reset(&mut self, admin: &Admin) -> Vec<u32> {
        self.reset_event(admin);
        // The stored MAC (`vf_mac_addresses`) is what the reply carries, not the admin's
        // original: a trusted VF may have changed it.
        if is_valid_unicast(&self.mac) {
            self.mac_filter = true;
        }
        self.vfte = true;
        // 82599: a legacy (API 1.0) VF cannot receive while the PF runs jumbo frames.
        self.vfre = admin.pf_mtu + ETH_HLEN <= ETH_FRAME_LEN;
        self.clear_to_send = true;
        let mut reply = vec![msg::VF_RESET, 0, 0, MC_FILTER_TYPE];
        if admin.mac.is_some() && is_valid_unicast(&self.mac) {
            reply[0] |= msg::ACK;
            let m = self.mac;
            reply[1] = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
            reply[2] = u32::from_le_bytes([m[4], m[5], 0, 0]);
        } else {
            reply[0] |= msg::NACK;
        }
        reply
    }

    /// Records the PF's log line for a refusal; returns false (the NACK).
    fn refuse(&mut self, why: String) -> bool {
        self.refusal = Some(why);
        false
    }

    fn set_mac(&mut self, req: &[u32; MBX_WORDS], admin: &Admin) -> bool {
        let new = mac_from_words(req[1], req[2]);
        if !is_valid_unicast(&new) {
            return self.refuse("VF 0 attempted to set invalid mac".into());
        }
        // An untrusted VF whose MAC the administrator set may only re-send the MAC the PF
        // holds for it (`vf_mac_addresses`).
        if admin.mac.is_some() && !admin.trusted && new != self.mac {
            return self
                .refuse("VF 0 attempted to override administratively set MAC address".into());
        }
        self.mac = new;
        self.mac_filter = true;
        true
    }

    fn set_multicast(&mut self, req: &[u32; MBX_WORDS]) -> bool {
        let n = (((req[0] & msg::INFO_MASK) >> msg::INFO_SHIFT) as usize).min(MAX_MC_HASHES);
        self.mc_hashes = (0..n)
            .map(|i| {
                let w = req[1 + i / 2];
                // CAST: each word packs two 16-bit hashes, low half first.
                let h = if i % 2 == 0 { w & 0xFFFF } else { w >> 16 } as u16;
                h & 0xFFF
            })
            .collect();
        self.rompe = true;
        true
    }

    fn set_vlan(&mut self, req: &[u32; MBX_WORDS], admin: &Admin) -> bool {
        let add = req[0] & msg::INFO_MASK != 0;
        // CAST: masked to the 12-bit VLAN id.
        let vid = (req[1] & 0xFFF) as u16;
        if admin.pf_vlan != 0 {
            return self.refuse(
                "VF 0 attempted to override administratively set VLAN configuration".into(),
            );
        }
        if !add {
            // Removing VLAN 0 is refused silently (ACK, nothing done).
            if vid != 0 {
                self.vlans.remove(&vid);
            }
            return true;
        }
        if !self.vlans.contains(&vid) && self.vlans.len() >= MAX_VLANS {
            return self.refuse(format!("VF 0 failed to set VLAN {vid}: filter table full"));
        }
        self.vlans.insert(vid);
        true
    }

    fn set_lpe(&mut self, req: &[u32; MBX_WORDS], admin: &Admin) -> bool {
        let max_frame = req[1];
        if !(68..=MAX_JUMBO_FRAME).contains(&max_frame) {
            return self.refuse(format!("VF max_frame {max_frame} out of range"));
        }
        // 82599 (ixgbe_set_vf_lpe): PF and VFs must agree on jumbo frames. A VF on API
        // 1.1+ may use any size while the PF itself runs jumbo frames (legacy VFs are then
        // off anyway); otherwise neither the PF nor the VF may exceed a standard frame.
        let pf_jumbo = admin.pf_mtu + ETH_HLEN > ETH_FRAME_LEN;
        let err = !(self.api.from_11() && pf_jumbo)
            && (pf_jumbo || max_frame > ETH_FRAME_LEN + ETH_FCS_LEN);
        // The pool's Rx follows the verdict: shut off on error, re-enabled otherwise.
        self.vfre = !err;
        if err {
            return self.refuse(format!("VF max_frame {max_frame} out of range"));
        }
        // MAXFRS is the port's: the PF raises it for a VF and never lowers it.
        self.max_frame = self.max_frame.max(max_frame);
        true
    }

    fn set_macvlan(&mut self, req: &[u32; MBX_WORDS], admin: &Admin) -> bool {
        let index = (req[0] & msg::INFO_MASK) >> msg::INFO_SHIFT;
        let mac = mac_from_words(req[1], req[2]);
        if admin.mac.is_some() && !admin.trusted && index > 0 {
            return false;
        }
        if index > 0 {
            if !is_valid_unicast(&mac) {
                return false;
            }
            // A VF allowed to set filters loses anti-spoof, to avoid false positives.
            self.spoofchk = false;
        }
        match index {
            0 => self.macvlans.clear(),
            1 => {
                self.macvlans.clear();
                self.macvlans.push(mac);
            }
            _ => {
                if self.macvlans.len() >= MAX_MACVLANS {
                    return false;
                }
                self.macvlans.push(mac);
            }
        }
        true
    }

    fn negotiate_api(&mut self, req: &[u32; MBX_WORDS]) -> bool {
        match Api::from_wire(req[1]) {
            Some(api) if api == Api::V10 || api.from_11() => {
                self.api = api;
                true
            }
            _ => false,
        }
    }

    fn get_queues(&mut self, reply: &mut [u32; MBX_WORDS], admin: &Admin) -> bool {
        if !(self.api == Api::V20 || self.api.from_11()) {
            return false;
        }
        reply[1] = admin.queues;
        reply[2] = admin.queues;
        // No DCB: 0 TCs ("transparent VLAN"), or 1 when a port VLAN hides the tag.
        reply[3] = u32::from(admin.pf_vlan != 0);
        reply[4] = 0;
        true
    }

    fn rss_query_allowed(&self, admin: &Admin) -> bool {
        self.api.from_12() && admin.rss_query
    }

    fn get_reta(&mut self, reply: &mut [u32; MBX_WORDS], admin: &Admin) -> bool {
        if !self.rss_query_allowed(admin) {
            return false;
        }
        // 128 entries of 2 bits, 16 per word, round-robin over the pool's queues.
        for (w, word) in reply[1..9].iter_mut().enumerate() {
            *word = (0..16).fold(0, |acc, i| {
                let entry = (w as u32 * 16 + i) % admin.queues.max(1);
                acc | ((entry & 3) << (2 * i))
            });
        }
        true
    }

    fn get_rss_key(&mut self, reply: &mut [u32; MBX_WORDS], admin: &Admin) -> bool {
        if !self.rss_query_allowed(admin) {
            return false;
        }
        for (i, word) in reply[1..11].iter_mut().enumerate() {
            let b = &crate::rss::PF_RSS_KEY[i * 4..i * 4 + 4];
            *word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        true
    }

    fn update_xcast(&mut self, reply: &mut [u32; MBX_WORDS], admin: &Admin) -> bool {
        let mode = match reply[1] {
            0 => Xcast::None,
            1 => Xcast::Multi,
            2 => Xcast::AllMulti,
            3 => Xcast::Promisc,
            _ => return false,
        };
        // PROMISC arrived with 1.3.
        if !self.api.from_12() || (self.api == Api::V12 && mode == Xcast::Promisc) {
            return false;
        }
        let mode = if mode > Xcast::Multi && !admin.trusted {
            Xcast::Multi
        } else {
            mode
        };
        if mode != self.xcast && mode == Xcast::Promisc {
            // The 82599 cannot put a VF in unicast promiscuous mode (and it would need
            // the PF itself promiscuous, FCTRL.UPE).
            return false;
        }
        if mode != self.xcast {
            self.rompe = mode != Xcast::None;
        }
        self.xcast = mode;
        reply[1] = mode as u32;
        true
    }

    fn ipsec_add(&mut self, reply: &mut [u32; MBX_WORDS], admin: &Admin) -> bool {
        if !admin.trusted || !admin.ipsec {
            return false;
        }
        // struct sa_mbx_msg: spi (be32) in word 1, then dir in the low byte of word 2.
        let dir = reply[2] & 0xFF;
        // The Linux PF takes inbound SAs only: it tests the XFRM_DEV_OFFLOAD_IN bit.
        if dir & 1 == 0 || self.sas.len() >= 1024 {
            return false;
        }
        let handle = self.next_sa;
        self.next_sa = self.next_sa.wrapping_add(1);
        self.sas.push(Sa {
            handle,
            spi: reply[1],
        });
        reply[1] = handle;
        true
    }

    fn ipsec_del(&mut self, req: &[u32; MBX_WORDS], admin: &Admin) -> bool {
        if !admin.trusted || !admin.ipsec {
            return false;
        }
        // Deleting a handle that is not in use silently succeeds.
        self.sas.retain(|s| s.handle != req[1]);
        true
    }

    fn get_link_state(&mut self, reply: &mut [u32; MBX_WORDS], admin: &Admin) -> bool {
        if !self.api.from_12() {
            return false;
        }
        reply[1] = u32::from(admin.link_enable);
        true
    }

    fn negotiate_features(&mut self, reply: &mut [u32; MBX_WORDS]) -> bool {
        if self.api != Api::V17 {
            return false;
        }
        // IXGBE_SUPPORTED_FEATURES: IPsec only.
        reply[1] &= 1;
        true
    }

    /// The PF's unsolicited control message ("ping"): `0x100`, plus CTS when the VF is
    /// clear to send.
    pub fn ping(&self) -> u32 {
        msg::PF_CONTROL | if self.clear_to_send { msg::CTS } else { 0 }
    }

    /// `ixgbe_rcv_ack_from_vf`: an ACK while not clear to send is answered with a bare NACK.
    pub fn on_vf_ack(&self) -> Option<u32> {
        (!self.clear_to_send).then_some(msg::NACK)
    }
}

#[cfg(test)]
#[path = "pf_tests.rs"]
mod tests;
