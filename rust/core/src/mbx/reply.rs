//! PF replies to VF requests and the PF's unsolicited messages, decoded from untrusted
//! words.

use super::super::emul::copy_bytes;
use super::{
    msginfo, split, MacAddr, MbxError, MsgId, Request, XcastMode, MSG_CTS, MSG_FAILURE,
    MSG_ID_MASK, MSG_SUCCESS, PF_RETA_ENTRIES, RSS_KEY_LEN,
};

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

impl QueueInfo {
    /// How many queue pairs a VF driver with room for `max` uses under this grant
    /// (`ixgbevf_set_num_queues`): one with traffic classes (the PF's DCB owns the mapping)
    /// or without a grant (API 1.0), else the smaller of the Tx and Rx grants, at most
    /// `max`, at least one.
    pub fn queue_pairs(grant: Option<QueueInfo>, max: u8) -> u8 {
        match grant {
            Some(q) if q.num_tcs <= 1 => q.max_tx.min(q.max_rx).min(max).max(1),
            _ => 1,
        }
    }
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
impl Request {
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

#[cfg(test)]
mod tests {
    use super::super::tests::MAC;
    use super::super::{FEATURE_ESX_MBX, FEATURE_IPSEC, MBX_WORDS};
    use super::*;

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
}

#[cfg(test)]
mod queue_tests {
    use super::QueueInfo;

    #[test]
    fn queue_pairs_follow_the_grant_within_the_drivers_room() {
        let q = |tx, rx, tcs| {
            Some(QueueInfo {
                max_tx: tx,
                max_rx: rx,
                num_tcs: tcs,
                default_queue: 0,
            })
        };
        assert_eq!(QueueInfo::queue_pairs(None, 2), 1);
        assert_eq!(QueueInfo::queue_pairs(q(2, 2, 0), 2), 2);
        assert_eq!(QueueInfo::queue_pairs(q(8, 4, 1), 2), 2);
        assert_eq!(QueueInfo::queue_pairs(q(4, 1, 0), 2), 1);
        assert_eq!(QueueInfo::queue_pairs(q(4, 4, 4), 2), 1);
        assert_eq!(QueueInfo::queue_pairs(q(0, 0, 0), 2), 1);
    }
}
