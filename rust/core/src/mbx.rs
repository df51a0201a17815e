//! PF mailbox messages: encode VF requests, decode PF replies and PF-initiated messages.
//!
//! Wire format from ixgbevf/mbx.h and ixgbe/ixgbe_mbx.h (anatomy §3a, §3c): word 0 carries
//! the message id in bits 15:0, MSGINFO in 23:16, and the PF's verdict in bits 31 (ACK,
//! "SUCCESS" on the VF side), 30 (NACK) and 29 (CTS, "clear to send"). Every decoder treats
//! its input as untrusted: a wrong length, an unknown id, a reply to another request or an
//! out-of-range field is an error, never a panic.

use super::emul::copy_bytes;

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

/// Mailbox API version, ordered so that `>=` means "has at least the features of".
///
/// The wire values are not ordered (2.0 sits between 1.0 and 1.1), hence the explicit
/// mapping (mbx.h:61-73). Solaris' 2.0 is never sent by ixgbevf and is not represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiVersion {
    /// API 1.0.
    V1_0,
    /// API 1.1: GET_QUEUES, jumbo on 82599.
    V1_1,
    /// API 1.2: GET_RETA, GET_RSS_KEY, UPDATE_XCAST_MODE (no PROMISC), GET_LINK_STATE.
    V1_2,
    /// API 1.3: PROMISC xcast mode.
    V1_3,
    /// API 1.4: IPsec implied.
    V1_4,
    /// API 1.5: ESX mailbox implied; the Linux PF refuses it.
    V1_5,
    /// API 1.6: GET_PF_LINK_STATE.
    V1_6,
    /// API 1.7: FEATURES_NEGOTIATE.
    V1_7,
}

impl ApiVersion {
    /// Versions in the order ixgbevf tries them (main.c:2322-2346), newest first.
    pub const NEGOTIATION_ORDER: [ApiVersion; 8] = [
        ApiVersion::V1_7,
        ApiVersion::V1_6,
        ApiVersion::V1_5,
        ApiVersion::V1_4,
        ApiVersion::V1_3,
        ApiVersion::V1_2,
        ApiVersion::V1_1,
        ApiVersion::V1_0,
    ];

    /// The `ixgbe_pfvf_api_rev` value sent on the wire.
    pub const fn wire(self) -> u32 {
        match self {
            ApiVersion::V1_0 => 0,
            ApiVersion::V1_1 => 2,
            ApiVersion::V1_2 => 3,
            ApiVersion::V1_3 => 4,
            ApiVersion::V1_4 => 5,
            ApiVersion::V1_5 => 6,
            ApiVersion::V1_6 => 7,
            ApiVersion::V1_7 => 8,
        }
    }

    /// The version for a wire value; `None` for 2.0, `unknown` and garbage.
    pub fn from_wire(value: u32) -> Option<ApiVersion> {
        ApiVersion::NEGOTIATION_ORDER
            .iter()
            .copied()
            .find(|v| v.wire() == value)
    }

    /// True when the Linux PF accepts this version (ixgbe_negotiate_vf_api: not 1.5).
    pub const fn linux_pf_accepts(self) -> bool {
        !matches!(self, ApiVersion::V1_5)
    }

    /// True when GET_QUEUES is allowed (ixgbe_get_vf_queues gate).
    pub fn has_get_queues(self) -> bool {
        self >= ApiVersion::V1_1
    }

    /// True when GET_RETA / GET_RSS_KEY / GET_LINK_STATE / UPDATE_XCAST_MODE are allowed.
    pub fn has_query_messages(self) -> bool {
        self >= ApiVersion::V1_2
    }

    /// True when xcast mode PROMISC may be requested (the VF blocks it on 1.2, vf.c:545-579).
    pub fn has_promisc(self) -> bool {
        self >= ApiVersion::V1_3
    }

    /// True when GET_PF_LINK_STATE is allowed.
    pub fn has_pf_link_state(self) -> bool {
        self >= ApiVersion::V1_6
    }

    /// True when FEATURES_NEGOTIATE is allowed; before 1.7 features are implied.
    pub fn has_features_negotiate(self) -> bool {
        self >= ApiVersion::V1_7
    }

    /// True when the 82599 PF lets the VF use jumbo frames (ixgbe_set_vf_lpe, API >= 1.1).
    pub fn allows_82599_jumbo(self) -> bool {
        self >= ApiVersion::V1_1
    }

    /// The features implied by this version when FEATURES_NEGOTIATE is not available
    /// (ixgbevf_set_features, main.c:2304-2320).
    pub const fn implied_features(self) -> u32 {
        match self {
            ApiVersion::V1_4 => FEATURE_IPSEC,
            ApiVersion::V1_5 => FEATURE_ESX_MBX,
            _ => 0,
        }
    }
}

/// VF feature bit: IPsec offload (`IXGBEVF_PF_SUP_IPSEC`).
pub const FEATURE_IPSEC: u32 = 1 << 0;
/// VF feature bit: the ESX mailbox flavour (`IXGBEVF_PF_SUP_ESX_MBX`).
pub const FEATURE_ESX_MBX: u32 = 1 << 1;

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
}

/// A VF request to the PF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Start (or restart) the PF session; the PF answers with the admin MAC.
    Reset,
    /// Set the VF's primary MAC.
    SetMacAddr(MacAddr),
    /// Replace the multicast hash list.
    SetMulticast(McList),
    /// Add or remove a VLAN filter.
    SetVlan {
        /// VLAN id, 12 bits.
        vid: u16,
        /// Add when true, remove when false.
        add: bool,
    },
    /// Set the maximum frame size (MTU + 18).
    SetLpe {
        /// Max frame in bytes; the PF accepts 68..=9728.
        max_frame: u32,
    },
    /// Secondary unicast MAC: index 0 clears all, 1 starts a new list, >1 appends.
    SetMacvlan {
        /// List position (MSGINFO).
        index: u8,
        /// Address (ignored for index 0).
        mac: MacAddr,
    },
    /// Propose an API version.
    ApiNegotiate(ApiVersion),
    /// Ask for the queue layout.
    GetQueues,
    /// Ask the PF's RSS redirection table (82599/X540).
    GetReta,
    /// Ask the PF's RSS key (82599/X540).
    GetRssKey,
    /// Set the Rx mode.
    UpdateXcastMode(XcastMode),
    /// Ask the administrative link state.
    GetLinkState,
    /// Ask the PF's link speed and state (E610 PF).
    GetPfLinkState,
    /// Propose VF features.
    FeaturesNegotiate(u32),
}

/// Queue layout from GET_QUEUES (ixgbe_get_vf_queues, vf.c:1063-1121).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct QueueInfo {
    /// Tx queues the PF grants, 1..=8.
    pub max_tx: u8,
    /// Rx queues the PF grants, 1..=8.
    pub max_rx: u8,
    /// Traffic classes; 0 means transparent VLAN, normalised to 1 when above `max_rx`.
    pub num_tcs: u8,
    /// Default queue; normalised to 0 when not below `max_tx`.
    pub default_queue: u8,
}

/// A decoded PF reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// VF_RESET answered: the admin MAC (ACK) or none (NACK), and the MTA filter type.
    Reset {
        /// Admin-assigned MAC, if the PF has one.
        mac: Option<MacAddr>,
        /// `mc_filter_type`, 0..=3: which address bits form the multicast hash.
        mc_filter_type: u8,
    },
    /// The request was executed and carries no data.
    Ack,
    /// GET_QUEUES answered.
    Queues(QueueInfo),
    /// GET_RETA answered: 128 entries of 2 bits.
    Reta([u8; PF_RETA_ENTRIES]),
    /// GET_RSS_KEY answered.
    RssKey([u8; RSS_KEY_LEN]),
    /// UPDATE_XCAST_MODE answered with the effective mode (untrusted VFs are clamped).
    XcastMode(XcastMode),
    /// GET_LINK_STATE answered.
    LinkState {
        /// Administrative link state: false means "VF administratively disabled".
        enabled: bool,
    },
    /// GET_PF_LINK_STATE answered.
    PfLinkState {
        /// `IXGBE_LINK_SPEED_*` bits.
        speed: u32,
        /// PF link up.
        up: bool,
    },
    /// FEATURES_NEGOTIATE answered with the features the PF accepts.
    Features(u32),
}

/// An unsolicited message from the PF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfMessage {
    /// `IXGBE_PF_CONTROL_MSG`: link or trust change; without CTS the VF must reset.
    Control {
        /// The VF may still send requests.
        clear_to_send: bool,
    },
    /// A bare NACK: the VF acknowledged while not clear to send (ixgbe_rcv_ack_from_vf).
    BareNack,
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

impl Request {
    /// The message id.
    pub const fn id(&self) -> MsgId {
        match self {
            Request::Reset => MsgId::Reset,
            Request::SetMacAddr(_) => MsgId::SetMacAddr,
            Request::SetMulticast(_) => MsgId::SetMulticast,
            Request::SetVlan { .. } => MsgId::SetVlan,
            Request::SetLpe { .. } => MsgId::SetLpe,
            Request::SetMacvlan { .. } => MsgId::SetMacvlan,
            Request::ApiNegotiate(_) => MsgId::ApiNegotiate,
            Request::GetQueues => MsgId::GetQueues,
            Request::GetReta => MsgId::GetReta,
            Request::GetRssKey => MsgId::GetRssKey,
            Request::UpdateXcastMode(_) => MsgId::UpdateXcastMode,
            Request::GetLinkState => MsgId::GetLinkState,
            Request::GetPfLinkState => MsgId::GetPfLinkState,
            Request::FeaturesNegotiate(_) => MsgId::FeaturesNegotiate,
        }
    }

    /// True when sending the request twice leaves the PF as sending it once, so a lost
    /// reply may be answered by re-sending. A MACVLAN append (index > 1) would add a second
    /// filter; the restore replays the whole list from index 1 instead.
    pub const fn is_idempotent(&self) -> bool {
        !matches!(self, Request::SetMacvlan { index, .. } if *index > 1)
    }

    /// Words of the reply the VF reads (vf.c: the `size` passed to `poll_mbx`).
    pub const fn reply_words(&self) -> usize {
        match self {
            Request::Reset => 4,
            Request::GetQueues => 5,
            Request::GetReta => 9,
            Request::GetRssKey => 11,
            Request::GetPfLinkState => 3,
            Request::SetMacAddr(_) | Request::SetMacvlan { .. } | Request::ApiNegotiate(_) => 3,
            Request::SetMulticast(_) => 1,
            _ => 2,
        }
    }

    /// Encodes the request into `buf`; returns the number of words to write.
    pub fn encode(&self, buf: &mut [u32; MBX_WORDS]) -> Result<usize, MbxError> {
        *buf = [0; MBX_WORDS];
        let id = self.id() as u32;
        let len = match *self {
            Request::Reset | Request::GetReta | Request::GetRssKey => {
                buf[0] = id;
                1
            }
            Request::SetMacAddr(mac) => {
                let [a, b] = mac.to_words();
                *buf = words([id, a, b]);
                3
            }
            Request::SetMulticast(list) => {
                let hashes = list.hashes();
                // CAST: `McList` holds at most 30 hashes, which fits MSGINFO's 8 bits.
                buf[0] = id | (hashes.len() as u32) << MSGINFO_SHIFT;
                // Two u16 vectors per word, low half first (a u16 array over msgbuf[1..]).
                for (w, pair) in buf.iter_mut().skip(1).zip(hashes.chunks(2)) {
                    let lo = pair.first().copied().unwrap_or(0);
                    let hi = pair.get(1).copied().unwrap_or(0);
                    *w |= u32::from(lo) | u32::from(hi) << 16;
                }
                MBX_WORDS
            }
            Request::SetVlan { vid, add } => {
                if vid > 0xFFF {
                    return Err(MbxError::BadRequest { msg: self.id() });
                }
                *buf = words([id | u32::from(add) << MSGINFO_SHIFT, u32::from(vid)]);
                2
            }
            Request::SetLpe { max_frame } => {
                *buf = words([id, max_frame]);
                2
            }
            Request::SetMacvlan { index, mac } => {
                let [a, b] = mac.to_words();
                *buf = words([id | u32::from(index) << MSGINFO_SHIFT, a, b]);
                3
            }
            Request::ApiNegotiate(api) => {
                *buf = words([id, api.wire(), 0]);
                3
            }
            Request::GetQueues => {
                buf[0] = id;
                5
            }
            Request::UpdateXcastMode(mode) => {
                *buf = words([id, mode as u32]);
                2
            }
            Request::GetLinkState => {
                buf[0] = id;
                2
            }
            Request::GetPfLinkState => {
                buf[0] = id;
                3
            }
            Request::FeaturesNegotiate(features) => {
                *buf = words([id, features]);
                2
            }
        };
        Ok(len)
    }

    /// Decodes a request as the PF would read it (for tests, fuzzing and diagnostics).
    pub fn decode(msg: &[u32]) -> Result<Request, MbxError> {
        let (word0, _) = split(msg)?;
        let id = MsgId::from_word0(word0).ok_or(MbxError::UnknownId {
            id: word0 & MSG_ID_MASK,
        })?;
        if word0 & (MSG_SUCCESS | MSG_FAILURE) != 0 {
            return Err(MbxError::NotAReply { word0 });
        }
        let info = msginfo(word0);
        let w = |i: usize, needed: usize| {
            msg.get(i).copied().ok_or(MbxError::TooShort {
                msg: id,
                needed,
                got: msg.len(),
            })
        };
        let bad = |word: usize, value: u32| MbxError::BadField {
            msg: id,
            word,
            value,
        };
        Ok(match id {
            MsgId::Reset => Request::Reset,
            MsgId::SetMacAddr => Request::SetMacAddr(MacAddr::from_words(w(1, 3)?, w(2, 3)?)),
            MsgId::SetMulticast => {
                let count = usize::from(info);
                if count > MAX_MC_HASHES {
                    return Err(bad(0, word0));
                }
                let mut list = McList::default();
                // count <= MAX_MC_HASHES: the word indexes below stay small.
                let needed = count.div_ceil(2).saturating_add(1);
                for i in 0..count {
                    let at = (i / 2).saturating_add(1);
                    let word = w(at, needed)?;
                    // Low half first. CAST: either half is 16 bits.
                    let hash = if i % 2 == 0 {
                        word & 0xFFFF
                    } else {
                        word >> 16
                    } as u16;
                    if !list.push(hash) {
                        return Err(bad(at, word));
                    }
                }
                Request::SetMulticast(list)
            }
            MsgId::SetVlan => {
                let vid = w(1, 2)?;
                if vid > 0xFFF || info > 1 {
                    return Err(bad(1, vid));
                }
                // CAST: checked above to fit 12 bits.
                Request::SetVlan {
                    vid: vid as u16,
                    add: info == 1,
                }
            }
            MsgId::SetLpe => Request::SetLpe {
                max_frame: w(1, 2)?,
            },
            MsgId::SetMacvlan => Request::SetMacvlan {
                index: info,
                mac: MacAddr::from_words(w(1, 3)?, w(2, 3)?),
            },
            MsgId::ApiNegotiate => {
                let v = w(1, 2)?;
                Request::ApiNegotiate(ApiVersion::from_wire(v).ok_or(bad(1, v))?)
            }
            MsgId::GetQueues => Request::GetQueues,
            MsgId::GetReta => Request::GetReta,
            MsgId::GetRssKey => Request::GetRssKey,
            MsgId::UpdateXcastMode => {
                let v = w(1, 2)?;
                Request::UpdateXcastMode(XcastMode::from_wire(v).ok_or(bad(1, v))?)
            }
            MsgId::GetLinkState => Request::GetLinkState,
            MsgId::GetPfLinkState => Request::GetPfLinkState,
            MsgId::FeaturesNegotiate => Request::FeaturesNegotiate(w(1, 2)?),
            MsgId::PfControl => {
                return Err(MbxError::UnknownId {
                    id: word0 & MSG_ID_MASK,
                })
            }
        })
    }

    /// MSGINFO the request carries in word 0, which a genuine reply echoes.
    fn msginfo(&self) -> u8 {
        match *self {
            // CAST: at most 30.
            Request::SetMulticast(list) => list.hashes().len() as u8,
            Request::SetVlan { add, .. } => u8::from(add),
            Request::SetMacvlan { index, .. } => index,
            _ => 0,
        }
    }

    /// Decodes the PF's reply to this request.
    ///
    /// The PF echoes word 0 as the VF sent it and ORs in ACK or NACK and CTS
    /// (ixgbe_rcv_msg_from_vf, ixgbe_sriov.c:1414-1422), so a reply whose id or MSGINFO
    /// differs answers some other request. VF_RESET is the exception: its reply is built
    /// fresh, carries no CTS, and a NACK there means "no admin MAC", not a refusal.
    pub fn decode_reply(&self, reply: &[u32]) -> Result<Reply, MbxError> {
        let (word0, _) = split(reply)?;
        let msg = self.id();
        let id = word0 & MSG_ID_MASK;
        if id != msg as u32 {
            return Err(MbxError::ReplyMismatch {
                expected: msg,
                got: id,
            });
        }
        let verdict = word0 & (MSG_SUCCESS | MSG_FAILURE);
        if verdict == 0 || verdict == MSG_SUCCESS | MSG_FAILURE {
            return Err(MbxError::NotAReply { word0 });
        }
        let acked = verdict == MSG_SUCCESS;
        if *self != Request::Reset {
            if msginfo(word0) != self.msginfo() {
                return Err(MbxError::InfoMismatch {
                    msg,
                    sent: self.msginfo(),
                    got: msginfo(word0),
                });
            }
            if !acked {
                return Err(if word0 & MSG_CTS == 0 {
                    MbxError::NotClearToSend { msg }
                } else {
                    MbxError::Nack { msg }
                });
            }
        }
        let needed = self.reply_words();
        if reply.len() < needed {
            return Err(MbxError::TooShort {
                msg,
                needed,
                got: reply.len(),
            });
        }
        // PANIC-free: `needed` words are present, checked above; `get` keeps it so.
        let w = |i: usize| reply.get(i).copied().unwrap_or(0);
        let bad = |word: usize, value: u32| MbxError::BadField { msg, word, value };
        Ok(match *self {
            Request::Reset => {
                let filter = w(3);
                if filter > 3 {
                    return Err(bad(3, filter));
                }
                let mac = MacAddr::from_words(w(1), w(2));
                // CAST: checked <= 3.
                let mc_filter_type = filter as u8;
                if !acked {
                    Reply::Reset {
                        mac: None,
                        mc_filter_type,
                    }
                } else if mac.is_valid_unicast() {
                    Reply::Reset {
                        mac: Some(mac),
                        mc_filter_type,
                    }
                } else {
                    // ixgbevf_reset_hw_vf: an ACK must carry a valid MAC.
                    return Err(bad(1, w(1)));
                }
            }
            Request::SetMacAddr(_)
            | Request::SetMulticast(_)
            | Request::SetVlan { .. }
            | Request::SetLpe { .. }
            | Request::SetMacvlan { .. }
            | Request::ApiNegotiate(_) => Reply::Ack,
            Request::GetQueues => {
                let (tx, rx) = (w(1), w(2));
                if !(1..=8).contains(&tx) {
                    return Err(bad(1, tx));
                }
                if !(1..=8).contains(&rx) {
                    return Err(bad(2, rx));
                }
                // ixgbevf_get_queues normalises these two rather than failing.
                let tcs = if w(3) > rx { 1 } else { w(3) };
                let def_q = if w(4) >= tx { 0 } else { w(4) };
                // CAST: all four are at most 8 after the checks above.
                Reply::Queues(QueueInfo {
                    max_tx: tx as u8,
                    max_rx: rx as u8,
                    num_tcs: tcs as u8,
                    default_queue: def_q as u8,
                })
            }
            Request::GetReta => {
                let mut reta = [0u8; PF_RETA_ENTRIES];
                // 16 two-bit entries per word, lowest bits first (ixgbevf_get_reta_locked).
                for (i, entries) in reta.chunks_mut(16).enumerate() {
                    // i < PF_RETA_ENTRIES / 16: the word index stays small.
                    let mut word = w(i.saturating_add(1));
                    for e in entries {
                        // CAST: masked to 2 bits.
                        *e = (word & 0x3) as u8;
                        word >>= 2;
                    }
                }
                Reply::Reta(reta)
            }
            Request::GetRssKey => {
                let mut key = [0u8; RSS_KEY_LEN];
                for (i, chunk) in key.chunks_mut(4).enumerate() {
                    // i < RSS_KEY_LEN / 4: the word index stays small.
                    copy_bytes(chunk, &w(i.saturating_add(1)).to_le_bytes());
                }
                Reply::RssKey(key)
            }
            Request::UpdateXcastMode(_) => {
                Reply::XcastMode(XcastMode::from_wire(w(1)).ok_or(bad(1, w(1)))?)
            }
            Request::GetLinkState => Reply::LinkState { enabled: w(1) != 0 },
            Request::GetPfLinkState => Reply::PfLinkState {
                speed: w(1),
                up: w(2) != 0,
            },
            Request::FeaturesNegotiate(offered) => {
                // The PF can only narrow the offer (ixgbe_negotiate_vf_features).
                if w(1) & !offered != 0 {
                    return Err(bad(1, w(1)));
                }
                Reply::Features(w(1))
            }
        })
    }
}

impl PfMessage {
    /// Decodes a message the PF sent without being asked: a control ping or a bare NACK.
    pub fn decode(word0: u32) -> Result<PfMessage, MbxError> {
        let id = word0 & MSG_ID_MASK;
        if id == MsgId::PfControl as u32 && word0 & (MSG_SUCCESS | MSG_FAILURE) == 0 {
            return Ok(PfMessage::Control {
                clear_to_send: word0 & MSG_CTS != 0,
            });
        }
        if word0 == MSG_FAILURE {
            return Ok(PfMessage::BareNack);
        }
        Err(MbxError::UnknownId { id })
    }

    /// Encodes the message as the PF writes it (ixgbe_ping_vf, ixgbe_rcv_ack_from_vf).
    pub const fn encode(&self) -> u32 {
        match *self {
            PfMessage::Control { clear_to_send } => {
                MsgId::PfControl as u32 | if clear_to_send { MSG_CTS } else { 0 }
            }
            PfMessage::BareNack => MSG_FAILURE,
        }
    }
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

fn words<const N: usize>(head: [u32; N]) -> [u32; MBX_WORDS] {
    let mut buf = [0; MBX_WORDS];
    for (dst, src) in buf.iter_mut().zip(head) {
        *dst = src;
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);

    fn all_requests() -> Vec<Request> {
        let mut v = vec![
            Request::Reset,
            Request::SetMacAddr(MAC),
            Request::SetMulticast(McList::new(&[0x123, 0xFFF, 0]).unwrap()),
            Request::SetMulticast(McList::new(&[7; MAX_MC_HASHES]).unwrap()),
            Request::SetVlan {
                vid: 100,
                add: true,
            },
            Request::SetVlan {
                vid: 4095,
                add: false,
            },
            Request::SetLpe { max_frame: 9728 },
            Request::SetMacvlan {
                index: 0,
                mac: MacAddr::default(),
            },
            Request::SetMacvlan { index: 3, mac: MAC },
            Request::GetQueues,
            Request::GetReta,
            Request::GetRssKey,
            Request::UpdateXcastMode(XcastMode::AllMulti),
            Request::GetLinkState,
            Request::GetPfLinkState,
            Request::FeaturesNegotiate(FEATURE_IPSEC),
        ];
        v.extend(ApiVersion::NEGOTIATION_ORDER.map(Request::ApiNegotiate));
        v
    }

    /// What the Linux PF writes back for an ACK: word 0 echoed with ACK|CTS.
    fn ack(req: &Request, data: &[u32]) -> Vec<u32> {
        let mut buf = [0; MBX_WORDS];
        req.encode(&mut buf).unwrap();
        let mut out = vec![buf[0] | MSG_SUCCESS | MSG_CTS];
        out.extend_from_slice(data);
        out.resize(req.reply_words().max(1 + data.len()), 0);
        out
    }

    #[test]
    fn requests_round_trip() {
        for req in all_requests() {
            let mut buf = [0; MBX_WORDS];
            let len = req.encode(&mut buf).unwrap();
            assert!((1..=MBX_WORDS).contains(&len));
            assert_eq!(Request::decode(&buf[..len]), Ok(req), "{req:?}");
        }
    }

    #[test]
    fn encodings_match_ixgbevf() {
        // (request, expected leading words) from vf.c as quoted in anatomy §3c.
        let cases: [(Request, &[u32]); 6] = [
            (Request::Reset, &[0x01]),
            (Request::SetVlan { vid: 5, add: true }, &[0x0001_0004, 5]),
            (Request::SetMacAddr(MAC), &[0x2, 0x3322_1102, 0x5544]),
            (Request::ApiNegotiate(ApiVersion::V1_7), &[0x8, 8, 0]),
            (
                Request::SetMacvlan { index: 2, mac: MAC },
                &[0x0002_0006, 0x3322_1102, 0x5544],
            ),
            (
                Request::SetMulticast(McList::new(&[0xABC, 0x123, 0x7]).unwrap()),
                &[0x0003_0003, 0x0123_0ABC, 0x7],
            ),
        ];
        for (req, expect) in cases {
            let mut buf = [0; MBX_WORDS];
            let len = req.encode(&mut buf).unwrap();
            assert_eq!(&buf[..expect.len()], expect, "{req:?}");
            assert!(len >= expect.len());
        }
    }

    #[test]
    fn api_wire_values_and_pf_acceptance() {
        let wire: Vec<u32> = ApiVersion::NEGOTIATION_ORDER
            .iter()
            .map(|v| v.wire())
            .collect();
        assert_eq!(wire, [8, 7, 6, 5, 4, 3, 2, 0]);
        assert_eq!(ApiVersion::from_wire(1), None, "2.0 is not offered");
        assert_eq!(ApiVersion::from_wire(9), None, "unknown");
        assert!(!ApiVersion::V1_5.linux_pf_accepts());
        assert!(ApiVersion::V1_6.has_pf_link_state() && !ApiVersion::V1_5.has_pf_link_state());
    }

    #[test]
    fn replies_decode() {
        let q = Request::GetQueues;
        assert_eq!(
            q.decode_reply(&ack(&q, &[2, 2, 0, 0])),
            Ok(Reply::Queues(QueueInfo {
                max_tx: 2,
                max_rx: 2,
                num_tcs: 0,
                default_queue: 0
            }))
        );
        // Normalisation: tcs > rx -> 1, def_q >= tx -> 0.
        assert_eq!(
            q.decode_reply(&ack(&q, &[2, 4, 5, 2])),
            Ok(Reply::Queues(QueueInfo {
                max_tx: 2,
                max_rx: 4,
                num_tcs: 1,
                default_queue: 0
            }))
        );
        let r = Request::Reset;
        let reset_ack = [0x01 | MSG_SUCCESS, 0x3322_1102, 0x5544, 2];
        assert_eq!(
            r.decode_reply(&reset_ack),
            Ok(Reply::Reset {
                mac: Some(MAC),
                mc_filter_type: 2
            })
        );
        assert_eq!(
            r.decode_reply(&[0x01 | MSG_FAILURE, 0, 0, 0]),
            Ok(Reply::Reset {
                mac: None,
                mc_filter_type: 0
            })
        );
        let key = Request::GetRssKey;
        let kw: Vec<u32> = (0..10).map(|i| 0x0403_0201 * (i + 1)).collect();
        let Ok(Reply::RssKey(k)) = key.decode_reply(&ack(&key, &kw)) else {
            panic!()
        };
        assert_eq!(&k[..4], &[1, 2, 3, 4]);
        let reta = Request::GetReta;
        let Ok(Reply::Reta(t)) = reta.decode_reply(&ack(&reta, &[0b11_10_01_00; 8])) else {
            panic!()
        };
        assert_eq!(&t[..5], &[0, 1, 2, 3, 0]);
    }

    #[test]
    fn replies_reject_malformed() {
        let vlan = Request::SetVlan { vid: 7, add: true };
        let ok = ack(&vlan, &[7]);
        let cases: Vec<(Vec<u32>, MbxError)> = vec![
            (vec![], MbxError::Empty),
            (vec![0; 17], MbxError::TooLong { got: 17 }),
            (
                vec![0x05 | MSG_SUCCESS | MSG_CTS, 0],
                MbxError::ReplyMismatch {
                    expected: MsgId::SetVlan,
                    got: 5,
                },
            ),
            (
                vec![0x04 | MSG_SUCCESS | MSG_CTS, 7],
                MbxError::InfoMismatch {
                    msg: MsgId::SetVlan,
                    sent: 1,
                    got: 0,
                },
            ),
            (
                vec![0x0001_0004, 7],
                MbxError::NotAReply { word0: 0x0001_0004 },
            ),
            (
                vec![0x0001_0004 | MSG_FAILURE | MSG_CTS, 7],
                MbxError::Nack {
                    msg: MsgId::SetVlan,
                },
            ),
            (
                vec![0x0001_0004 | MSG_FAILURE, 7],
                MbxError::NotClearToSend {
                    msg: MsgId::SetVlan,
                },
            ),
            (
                vec![MsgId::PfControl as u32 | MSG_CTS],
                MbxError::ReplyMismatch {
                    expected: MsgId::SetVlan,
                    got: 0x100,
                },
            ),
        ];
        assert_eq!(vlan.decode_reply(&ok), Ok(Reply::Ack));
        for (reply, err) in cases {
            assert_eq!(vlan.decode_reply(&reply), Err(err), "{reply:x?}");
        }
        // Field checks.
        let q = Request::GetQueues;
        assert!(matches!(
            q.decode_reply(&ack(&q, &[0, 2, 0, 0])),
            Err(MbxError::BadField { word: 1, .. })
        ));
        assert!(matches!(
            q.decode_reply(&[0x09 | MSG_SUCCESS | MSG_CTS, 2]),
            Err(MbxError::TooShort { needed: 5, .. })
        ));
        let f = Request::FeaturesNegotiate(FEATURE_IPSEC);
        assert!(matches!(
            f.decode_reply(&ack(&f, &[FEATURE_ESX_MBX])),
            Err(MbxError::BadField { .. })
        ));
        let x = Request::UpdateXcastMode(XcastMode::Promisc);
        assert!(matches!(
            x.decode_reply(&ack(&x, &[4])),
            Err(MbxError::BadField { .. })
        ));
        // An ACKed reset must carry a valid unicast MAC.
        assert!(matches!(
            Request::Reset.decode_reply(&[0x01 | MSG_SUCCESS, 0x01, 0, 0]),
            Err(MbxError::BadField { word: 1, .. })
        ));
    }

    #[test]
    fn request_decoder_rejects_garbage() {
        let cases: [&[u32]; 6] = [
            &[],
            &[0x7],
            &[0x0004, 0x1000],
            &[0x001F_0003],
            &[0x8, 1, 0],
            &[0x0001_0004 | MSG_SUCCESS, 3],
        ];
        for c in cases {
            assert!(Request::decode(c).is_err(), "{c:x?}");
        }
    }

    #[test]
    fn pf_messages() {
        for m in [
            PfMessage::Control {
                clear_to_send: true,
            },
            PfMessage::Control {
                clear_to_send: false,
            },
            PfMessage::BareNack,
        ] {
            assert_eq!(PfMessage::decode(m.encode()), Ok(m));
        }
        assert!(PfMessage::decode(0x100 | MSG_SUCCESS).is_err());
        assert!(PfMessage::decode(0x3).is_err());
    }

    #[test]
    fn mc_list_bounds() {
        assert!(McList::new(&[0x1000]).is_none());
        assert!(McList::new(&[1; MAX_MC_HASHES + 1]).is_none());
        assert_eq!(McList::new(&[1, 2]).unwrap().hashes(), &[1, 2]);
    }
}
