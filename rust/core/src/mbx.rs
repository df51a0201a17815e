//! PF mailbox messages: encode VF requests, decode PF replies and PF-initiated messages.
//!
//! Wire format from ixgbevf/mbx.h and ixgbe/ixgbe_mbx.h (anatomy §3a, §3c): word 0 carries
//! the message id in bits 15:0, MSGINFO in 23:16, and the PF's verdict in bits 31 (ACK,
//! "SUCCESS" on the VF side), 30 (NACK) and 29 (CTS, "clear to send"). Every decoder treats
//! its input as untrusted: a wrong length, an unknown id, a reply to another request or an
//! out-of-range field is an error, never a panic.

#[path = "mbx/api.rs"]
mod api;
#[path = "mbx/reply.rs"]
mod reply;
#[path = "mbx/request.rs"]
mod request;

pub use api::{ApiNegotiation, ApiVersion, FEATURE_ESX_MBX, FEATURE_IPSEC};
pub use reply::{PfMessage, QueueInfo, Reply};
pub use request::Request;

/// Words in the shared mailbox buffer (`IXGBE_VFMAILBOX_SIZE`, mbx.h:9).
pub const MBX_WORDS: usize = 16;

/// Word-0 bit: the PF executed the request (`IXGBE_VT_MSGTYPE_SUCCESS` / `ACK`).
pub const MSG_SUCCESS: u32 = 0x8000_0000;
/// Word-0 bit: the PF refused the request (`IXGBE_VT_MSGTYPE_FAILURE` / `NACK`).
pub const MSG_FAILURE: u32 = 0x4000_0000;
/// Word-0 bit: the VF is still clear to send requests (`IXGBE_VT_MSGTYPE_CTS`).
pub const MSG_CTS: u32 = 0x2000_0000;
/// MSGINFO field shift (`IXGBE_VT_MSGINFO_SHIFT`).
pub const MSGINFO_SHIFT: u32 = 16;
/// MSGINFO field mask (`IXGBE_VT_MSGINFO_MASK`).
pub const MSGINFO_MASK: u32 = 0xFF << MSGINFO_SHIFT;
/// Message id mask: the PF dispatches on `msgbuf[0] & 0xFFFF` (ixgbe_sriov.c:1362).
pub const MSG_ID_MASK: u32 = 0xFFFF;

/// Most multicast hashes a VF may register (`IXGBE_MAX_VF_MC_ENTRIES`, ixgbe.h:171).
pub const MAX_MC_HASHES: usize = 30;
/// RSS key length returned by GET_RSS_KEY (vf.c:375-427).
pub const RSS_KEY_LEN: usize = 40;
/// RETA entries returned by GET_RETA on 82599/X540 (vf.c:297-360).
pub const PF_RETA_ENTRIES: usize = 128;

/// A mailbox message id (word 0 bits 15:0). Existing numbers may not change (mbx.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MsgId {
    /// `IXGBE_VF_RESET`.
    Reset = 0x01,
    /// `IXGBE_VF_SET_MAC_ADDR`.
    SetMacAddr = 0x02,
    /// `IXGBE_VF_SET_MULTICAST`.
    SetMulticast = 0x03,
    /// `IXGBE_VF_SET_VLAN`.
    SetVlan = 0x04,
    /// `IXGBE_VF_SET_LPE`.
    SetLpe = 0x05,
    /// `IXGBE_VF_SET_MACVLAN`.
    SetMacvlan = 0x06,
    /// `IXGBE_VF_API_NEGOTIATE`.
    ApiNegotiate = 0x08,
    /// `IXGBE_VF_GET_QUEUES`.
    GetQueues = 0x09,
    /// `IXGBE_VF_GET_RETA`.
    GetReta = 0x0a,
    /// `IXGBE_VF_GET_RSS_KEY`.
    GetRssKey = 0x0b,
    /// `IXGBE_VF_UPDATE_XCAST_MODE`.
    UpdateXcastMode = 0x0c,
    /// `IXGBE_VF_GET_LINK_STATE`.
    GetLinkState = 0x10,
    /// `IXGBE_VF_GET_PF_LINK_STATE` (E610 PF).
    GetPfLinkState = 0x11,
    /// `IXGBE_VF_FEATURES_NEGOTIATE`.
    FeaturesNegotiate = 0x12,
    /// `IXGBE_PF_CONTROL_MSG`: the PF's unsolicited ping.
    PfControl = 0x100,
}

impl MsgId {
    /// Every id this crate knows.
    pub const ALL: [MsgId; 15] = [
        MsgId::Reset,
        MsgId::SetMacAddr,
        MsgId::SetMulticast,
        MsgId::SetVlan,
        MsgId::SetLpe,
        MsgId::SetMacvlan,
        MsgId::ApiNegotiate,
        MsgId::GetQueues,
        MsgId::GetReta,
        MsgId::GetRssKey,
        MsgId::UpdateXcastMode,
        MsgId::GetLinkState,
        MsgId::GetPfLinkState,
        MsgId::FeaturesNegotiate,
        MsgId::PfControl,
    ];

    /// The id in word 0 bits 15:0, if known.
    pub fn from_word0(word0: u32) -> Option<MsgId> {
        let id = word0 & MSG_ID_MASK;
        MsgId::ALL.iter().copied().find(|m| *m as u32 == id)
    }
}

/// Rx mode asked of the PF (ixgbevf.h:413-418).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum XcastMode {
    /// No multicast beyond the hash list.
    None = 0,
    /// Multicast hash list.
    Multi = 1,
    /// All multicast.
    AllMulti = 2,
    /// Promiscuous.
    Promisc = 3,
}

impl XcastMode {
    /// The mode for a wire value.
    pub fn from_wire(value: u32) -> Option<XcastMode> {
        match value {
            0 => Some(XcastMode::None),
            1 => Some(XcastMode::Multi),
            2 => Some(XcastMode::AllMulti),
            3 => Some(XcastMode::Promisc),
            _ => None,
        }
    }
}

/// An Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// True for a non-zero unicast address, what `is_valid_ether_addr` accepts.
    pub fn is_valid_unicast(&self) -> bool {
        self.0 != [0; 6] && self.0[0] & 1 == 0
    }

    /// Packs the address the way ixgbevf copies it into `&msgbuf[1]` (little endian bytes).
    fn to_words(self) -> [u32; 2] {
        let b = self.0;
        [
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u32::from_le_bytes([b[4], b[5], 0, 0]),
        ]
    }

    fn from_words(w1: u32, w2: u32) -> MacAddr {
        let a = w1.to_le_bytes();
        let b = w2.to_le_bytes();
        MacAddr([a[0], a[1], a[2], a[3], b[0], b[1]])
    }
}

/// The multicast hash list of SET_MULTICAST: 12-bit MTA vectors (vf.c:488-523).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct McList {
    count: u8,
    hashes: [u16; MAX_MC_HASHES],
}

impl Default for McList {
    fn default() -> Self {
        McList {
            count: 0,
            hashes: [0; MAX_MC_HASHES],
        }
    }
}

impl McList {
    /// A list from hash vectors; `None` if there are more than 30 or a hash exceeds 12 bits.
    pub fn new(hashes: &[u16]) -> Option<McList> {
        let mut list = McList::default();
        for h in hashes {
            if !list.push(*h) {
                return None;
            }
        }
        Some(list)
    }

    /// Appends a hash; false (and unchanged) when full or the hash exceeds 12 bits.
    pub fn push(&mut self, hash: u16) -> bool {
        if hash > 0xFFF {
            return false;
        }
        match self.hashes.get_mut(usize::from(self.count)) {
            Some(slot) => {
                *slot = hash;
                // A slot was free, so the count stays below the list's length.
                self.count = self.count.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// The hashes in use.
    pub fn hashes(&self) -> &[u16] {
        self.hashes
            .get(..usize::from(self.count))
            .unwrap_or(&self.hashes)
    }

    /// The list for multicast addresses (at most 30 are kept; the caller asks for
    /// all-multicast beyond that).
    pub fn from_addrs(addrs: &[MacAddr]) -> McList {
        let mut list = McList::default();
        for a in addrs {
            if !list.push(mc_hash(a)) {
                break;
            }
        }
        list
    }
}

/// The 12-bit MTA vector of a multicast address under filter type 0, bits 47:36
/// (`ixgbevf_mta_vector`, vf.c).
pub fn mc_hash(addr: &MacAddr) -> u16 {
    let [.., b4, b5] = addr.0;
    (u16::from(b4) >> 4 | u16::from(b5) << 4) & 0xFFF
}

/// The Rx mode to ask of the PF for the interface flags (`ixgbevf_set_rx_mode`):
/// promiscuous only where the API allows it, else all-multicast; the hash list otherwise.
pub fn xcast_mode(promisc: bool, allmulti: bool, api: ApiVersion) -> XcastMode {
    if promisc && api.has_promisc() {
        XcastMode::Promisc
    } else if promisc || allmulti {
        XcastMode::AllMulti
    } else {
        XcastMode::Multi
    }
}

/// Why a mailbox exchange or decode failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MbxError {
    /// No words at all.
    Empty,
    /// Fewer words than the message needs.
    TooShort {
        /// Message concerned.
        msg: MsgId,
        /// Words needed.
        needed: usize,
        /// Words given.
        got: usize,
    },
    /// More words than the mailbox holds.
    TooLong {
        /// Words given.
        got: usize,
    },
    /// Word 0 carries an id this crate does not know.
    UnknownId {
        /// Bits 15:0 of word 0.
        id: u32,
    },
    /// The reply answers another request (the id differs).
    ReplyMismatch {
        /// The request sent.
        expected: MsgId,
        /// Bits 15:0 of the reply.
        got: u32,
    },
    /// Same id, but MSGINFO differs from what was sent: a reply to another request.
    InfoMismatch {
        /// The request sent.
        msg: MsgId,
        /// MSGINFO sent.
        sent: u8,
        /// MSGINFO received.
        got: u8,
    },
    /// Word 0 has neither ACK nor NACK (our own request still in the buffer), or both.
    NotAReply {
        /// Word 0 as read.
        word0: u32,
    },
    /// The PF refused the request.
    Nack {
        /// The request refused.
        msg: MsgId,
    },
    /// The PF refused because the VF is not clear to send: it must VF_RESET first.
    NotClearToSend {
        /// The request refused.
        msg: MsgId,
    },
    /// A field holds a value outside its range.
    BadField {
        /// Message concerned.
        msg: MsgId,
        /// Word index.
        word: usize,
        /// The value found.
        value: u32,
    },
    /// The request cannot be encoded (a field out of range).
    BadRequest {
        /// Message concerned.
        msg: MsgId,
    },
    /// A wait ran out (lock, PF ack, PF message), measured in the driver's poll periods.
    Timeout {
        /// Which wait.
        phase: MbxPhase,
        /// Time waited.
        waited_us: u32,
    },
    /// The PF ping overwrote our request or took the place of its reply too often.
    PingStorm {
        /// The request that kept losing.
        msg: MsgId,
    },
    /// A mailbox transaction is still running.
    Busy,
    /// VFMAILBOX read as all ones: the device is gone (surprise removal or a dead VF).
    DeviceGone,
    /// The self-emulation layer refused a mailbox register access (a table inconsistency).
    RegisterRefused,
    /// The mailbox is frozen (ixgbevf's `mbx.timeout = 0`): every operation fails.
    Frozen,
    /// The negotiation found no version both sides accept.
    NoCommonApi {
        /// The lowest version the saved state can live with.
        needed: ApiVersion,
    },
}

impl MbxError {
    /// Whether the PF's words themselves were wrong (a reply to another request, an unknown
    /// id, a field out of range, no ACK or NACK): what a hostile or broken PF sends, as
    /// opposed to a refusal, a timeout or a gone device.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            MbxError::Empty
                | MbxError::TooShort { .. }
                | MbxError::TooLong { .. }
                | MbxError::UnknownId { .. }
                | MbxError::ReplyMismatch { .. }
                | MbxError::InfoMismatch { .. }
                | MbxError::NotAReply { .. }
                | MbxError::BadField { .. }
        )
    }
}

/// A wait inside a mailbox transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MbxPhase {
    /// Taking VFU.
    Lock,
    /// Waiting for PFSTS (the PF's reply).
    Reply,
    /// Waiting for RSTI/RSTD to settle after VFCTRL.RST.
    ResetDone,
}

/// Word 0 and the length check every decoder starts with.
fn split(msg: &[u32]) -> Result<(u32, &[u32]), MbxError> {
    if msg.len() > MBX_WORDS {
        return Err(MbxError::TooLong { got: msg.len() });
    }
    match msg.split_first() {
        Some((w0, rest)) => Ok((*w0, rest)),
        None => Err(MbxError::Empty),
    }
}

fn msginfo(word0: u32) -> u8 {
    // CAST: masked to 8 bits.
    ((word0 & MSGINFO_MASK) >> MSGINFO_SHIFT) as u8
}

#[cfg(test)]
mod rx_mode_tests {
    use super::*;

    #[test]
    fn multicast_hash_takes_bits_47_to_36() {
        // 01:00:5e:00:00:fb (mDNS): (0x00 >> 4) | (0xfb << 4) = 0xfb0.
        assert_eq!(mc_hash(&MacAddr([1, 0, 0x5e, 0, 0, 0xfb])), 0xFB0);
        assert_eq!(mc_hash(&MacAddr([0x33, 0x33, 0, 0, 0xF1, 0xFF])), 0xFFF);
        let many: [MacAddr; 40] = core::array::from_fn(|i| MacAddr([1, 0, 0x5e, 0, 0, i as u8]));
        assert_eq!(McList::from_addrs(&many).hashes().len(), MAX_MC_HASHES);
    }

    #[test]
    fn promiscuous_falls_back_to_allmulti_before_api_1_3() {
        assert_eq!(
            xcast_mode(true, false, ApiVersion::V1_4),
            XcastMode::Promisc
        );
        assert_eq!(
            xcast_mode(true, false, ApiVersion::V1_2),
            XcastMode::AllMulti
        );
        assert_eq!(
            xcast_mode(false, true, ApiVersion::V1_4),
            XcastMode::AllMulti
        );
        assert_eq!(xcast_mode(false, false, ApiVersion::V1_4), XcastMode::Multi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address the request and reply tests carry.
    pub(super) const MAC: MacAddr = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);

    #[test]
    fn mc_list_bounds() {
        assert!(McList::new(&[0x1000]).is_none());
        assert!(McList::new(&[1; MAX_MC_HASHES + 1]).is_none());
        assert_eq!(McList::new(&[1, 2]).unwrap().hashes(), &[1, 2]);
    }
}
