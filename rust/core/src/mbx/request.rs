//! VF requests: their encoding into the mailbox buffer, and the decoder the PF side of the
//! tests, the fuzzer and diagnostics use.

use super::{
    msginfo, split, ApiVersion, MacAddr, MbxError, McList, MsgId, XcastMode, MAX_MC_HASHES,
    MBX_WORDS, MSGINFO_SHIFT, MSG_FAILURE, MSG_ID_MASK, MSG_SUCCESS,
};

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
    pub(super) fn msginfo(&self) -> u8 {
        match *self {
            // CAST: at most 30.
            Request::SetMulticast(list) => list.hashes().len() as u8,
            Request::SetVlan { add, .. } => u8::from(add),
            Request::SetMacvlan { index, .. } => index,
            _ => 0,
        }
    }
}

/// A mailbox buffer whose leading words are `head`, the rest zero.
fn words<const N: usize>(head: [u32; N]) -> [u32; MBX_WORDS] {
    let mut buf = [0; MBX_WORDS];
    for (dst, src) in buf.iter_mut().zip(head) {
        *dst = src;
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::super::tests::MAC;
    use super::super::FEATURE_IPSEC;
    use super::*;

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
}
