//! The state the PF holds for this VF at the guest's request, kept so it can be replayed.
//!
//! Everything here lives outside the VF's BAR (anatomy §3e, "guest-plane state"): the PF
//! forgets it on VF reset or FLR and a destination PF never had it, so CompSC's "replayed"
//! class rebuilds it by re-sending the requests. [`PfState::note`] records the effect of each
//! exchange the PF acknowledged, mirroring what the Linux PF stores (`struct
//! vf_data_storage`) and what its `ixgbe_vf_reset_event` clears. Admin-plane state (port
//! VLAN, trust, spoof check, admin MAC) is the management stack's job on the destination.

use super::emul::{copy_bytes, le32};
use super::mac::{MAX_FRAME, MIN_FRAME};
use super::mbx::{
    ApiVersion, MacAddr, McList, QueueInfo, Reply, Request, XcastMode, FEATURE_ESX_MBX,
    FEATURE_IPSEC, MAX_MC_HASHES,
};

/// Most VLAN filters recorded. The PF's VLVF pool table has 64 entries shared by all
/// functions (`IXGBE_VLVF_ENTRIES`), so a VF can never hold more.
pub const MAX_VLANS: usize = 64;
/// Most secondary unicast addresses recorded; beyond this the driver should fall back to
/// promiscuous rather than add filters that the log cannot replay.
pub const MAX_MACVLANS: usize = 16;

/// Why an acknowledged exchange could not be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfLogError {
    /// The VLAN list is full.
    VlansFull,
    /// The secondary MAC list is full.
    MacvlansFull,
    /// The reply does not answer the request (the caller mixed them up).
    ReplyKind,
}

/// Guest-requested PF state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PfState {
    /// Negotiated API (1.0 after a reset, as the PF's `vf_reset_event` sets it).
    pub api: ApiVersion,
    /// Negotiated or implied features.
    pub features: u32,
    /// Admin MAC from the last VF_RESET reply.
    pub perm_mac: Option<MacAddr>,
    /// MAC set with SET_MAC_ADDR and acknowledged.
    pub mac: Option<MacAddr>,
    /// Multicast hash selector from the VF_RESET reply.
    pub mc_filter_type: u8,
    /// Multicast hash list.
    pub mc: McList,
    /// Xcast mode the driver asked for (the PF may grant less; the replay asks again).
    pub xcast: Option<XcastMode>,
    /// Max frame set with SET_LPE.
    pub max_frame: Option<u32>,
    /// Queue layout from GET_QUEUES.
    pub queues: Option<QueueInfo>,
    /// Administrative link state from GET_LINK_STATE.
    pub link_enabled: bool,
    vlan_count: u8,
    vlans: [u16; MAX_VLANS],
    macvlan_count: u8,
    macvlans: [MacAddr; MAX_MACVLANS],
}

impl Default for PfState {
    fn default() -> Self {
        PfState {
            api: ApiVersion::V1_0,
            features: 0,
            perm_mac: None,
            mac: None,
            mc_filter_type: 0,
            mc: McList::default(),
            xcast: None,
            max_frame: None,
            queues: None,
            link_enabled: true,
            vlan_count: 0,
            vlans: [0; MAX_VLANS],
            macvlan_count: 0,
            macvlans: [MacAddr([0; 6]); MAX_MACVLANS],
        }
    }
}

impl PfState {
    /// VLAN ids with a filter, in the order they were added.
    pub fn vlans(&self) -> &[u16] {
        self.vlans
            .get(..usize::from(self.vlan_count))
            .unwrap_or(&[])
    }

    /// Secondary unicast addresses, in list order.
    pub fn macvlans(&self) -> &[MacAddr] {
        self.macvlans
            .get(..usize::from(self.macvlan_count))
            .unwrap_or(&[])
    }

    /// The MAC the driver uses: the one it set, else the admin one.
    pub fn current_mac(&self) -> Option<MacAddr> {
        self.mac.or(self.perm_mac)
    }

    /// Records an exchange the PF acknowledged.
    pub fn note(&mut self, request: &Request, reply: &Reply) -> Result<(), PfLogError> {
        match (*request, *reply) {
            (
                Request::Reset,
                Reply::Reset {
                    mac,
                    mc_filter_type,
                },
            ) => {
                // ixgbe_vf_reset_event: MC hashes, VLANs, MACVLANs and the API are dropped;
                // xcast_mode is kept by the PF but the driver re-sends it on every up.
                *self = PfState {
                    perm_mac: mac,
                    mc_filter_type,
                    xcast: self.xcast,
                    mac: self.mac,
                    max_frame: self.max_frame,
                    ..PfState::default()
                };
            }
            (Request::SetMacAddr(mac), Reply::Ack) => self.mac = Some(mac),
            (Request::SetMulticast(list), Reply::Ack) => self.mc = list,
            (Request::SetVlan { vid, add }, Reply::Ack) => self.note_vlan(vid, add)?,
            (Request::SetLpe { max_frame }, Reply::Ack) => self.max_frame = Some(max_frame),
            (Request::SetMacvlan { index, mac }, Reply::Ack) => self.note_macvlan(index, mac)?,
            (Request::ApiNegotiate(api), Reply::Ack) => {
                self.api = api;
                self.features = api.implied_features();
            }
            (Request::FeaturesNegotiate(_), Reply::Features(f)) => self.features = f,
            (Request::GetQueues, Reply::Queues(q)) => self.queues = Some(q),
            (Request::UpdateXcastMode(asked), Reply::XcastMode(_)) => self.xcast = Some(asked),
            (Request::GetLinkState, Reply::LinkState { enabled }) => self.link_enabled = enabled,
            (Request::GetReta, Reply::Reta(_))
            | (Request::GetRssKey, Reply::RssKey(_))
            | (Request::GetPfLinkState, Reply::PfLinkState { .. }) => {}
            _ => return Err(PfLogError::ReplyKind),
        }
        Ok(())
    }

    fn note_vlan(&mut self, vid: u16, add: bool) -> Result<(), PfLogError> {
        let n = usize::from(self.vlan_count);
        let pos = self.vlans().iter().position(|v| *v == vid);
        match (add, pos) {
            (true, Some(_)) => {}
            (true, None) => {
                let count = self
                    .vlan_count
                    .checked_add(1)
                    .ok_or(PfLogError::VlansFull)?;
                let slot = self.vlans.get_mut(n).ok_or(PfLogError::VlansFull)?;
                *slot = vid;
                self.vlan_count = count;
            }
            (false, Some(p)) => {
                // Shift the entries after `p` down by one and park the removed one at the end
                // (`rotate_left(1)` without its length assertion).
                if let Some((first, rest)) = self
                    .vlans
                    .get_mut(p..n)
                    .and_then(|tail| tail.split_first_mut())
                {
                    let removed = *first;
                    let mut prev = first;
                    for next in rest.iter_mut() {
                        *prev = *next;
                        prev = next;
                    }
                    *prev = removed;
                }
                // Found among the first `vlan_count`, so the count is at least 1.
                self.vlan_count = self.vlan_count.saturating_sub(1);
            }
            (false, None) => {}
        }
        Ok(())
    }

    fn note_macvlan(&mut self, index: u8, mac: MacAddr) -> Result<(), PfLogError> {
        // ixgbe_set_vf_macvlan_msg: 0 clears, 1 starts a new list, >1 appends.
        if index <= 1 {
            self.macvlan_count = 0;
        }
        if index == 0 {
            return Ok(());
        }
        let count = self
            .macvlan_count
            .checked_add(1)
            .ok_or(PfLogError::MacvlansFull)?;
        let slot = self
            .macvlans
            .get_mut(usize::from(self.macvlan_count))
            .ok_or(PfLogError::MacvlansFull)?;
        *slot = mac;
        self.macvlan_count = count;
        Ok(())
    }

    /// The requests that rebuild this state on a PF that has just answered VF_RESET, in
    /// ixgbevf's `ixgbevf_configure` order (anatomy §4c): xcast mode, multicast, MACVLAN list,
    /// VLANs, max frame. API, features and queues are negotiated before, MAC and link after,
    /// by the restore plan.
    pub fn replay(&self) -> impl Iterator<Item = Request> + '_ {
        let xcast = self.xcast.map(Request::UpdateXcastMode);
        let mc = Some(Request::SetMulticast(self.mc));
        let macvlans = self.macvlans();
        // An empty list is still sent as "clear" (index 0), as ixgbevf_write_uc_addr_list.
        let clear = macvlans.is_empty().then_some(Request::SetMacvlan {
            index: 0,
            mac: MacAddr::default(),
        });
        // At most MAX_MACVLANS (16) entries: the indexes 1.. never run out.
        let list = macvlans
            .iter()
            .zip(1..=u8::MAX)
            .map(|(mac, index)| Request::SetMacvlan { index, mac: *mac });
        let vlans = self.vlans().iter().map(|vid| Request::SetVlan {
            vid: *vid,
            add: true,
        });
        let lpe = self
            .max_frame
            .map(|max_frame| Request::SetLpe { max_frame });
        xcast
            .into_iter()
            .chain(mc)
            .chain(clear)
            .chain(list)
            .chain(vlans)
            .chain(lpe)
    }
}

/// Bytes of an encoded [`PfState`].
pub const PF_BYTES: usize = 4 // API wire value, 3 reserved bytes
    + 4 // features
    + 7 + 7 // perm_mac, mac (presence byte + 6)
    + 1 // mc_filter_type
    + 1 + 2 * MAX_MC_HASHES
    + 1 // xcast (0xFF = none)
    + 5 // max_frame
    + 5 // queues
    + 1 // link
    + 1 + 2 * MAX_VLANS
    + 1 + 6 * MAX_MACVLANS;

/// Why an encoded PF state was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfDecodeError {
    /// Not exactly [`PF_BYTES`] bytes.
    Length {
        /// Bytes given.
        got: usize,
    },
    /// A field holds an impossible value.
    Field {
        /// Byte offset of the field.
        at: usize,
    },
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.at.saturating_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.at..end) {
            copy_bytes(dst, bytes);
        }
        self.at = end;
    }
    fn mac(&mut self, mac: Option<MacAddr>) {
        self.put(&[u8::from(mac.is_some())]);
        self.put(&mac.unwrap_or_default().0);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let start = self.at;
        self.at = self.at.saturating_add(n);
        self.bytes.get(start..self.at).unwrap_or(&[])
    }
    fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }
    fn u32(&mut self) -> u32 {
        le32(self.take(4))
    }
    fn flag(&mut self) -> Result<bool, PfDecodeError> {
        let at = self.at;
        match self.u8() {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(PfDecodeError::Field { at }),
        }
    }
    /// An optional MAC; a present one must be a valid unicast address, as every MAC the
    /// PF acknowledged is (ixgbe_set_vf_mac_addr, and the VF_RESET reply check).
    fn mac(&mut self) -> Result<Option<MacAddr>, PfDecodeError> {
        let present = self.flag()?;
        let at = self.at;
        let m = self.mac_bytes();
        if present && !m.is_valid_unicast() {
            return Err(PfDecodeError::Field { at });
        }
        Ok(present.then_some(m))
    }
    fn mac_bytes(&mut self) -> MacAddr {
        let mut m = [0u8; 6];
        // `take` yields all 6 bytes or none; none leaves zeros.
        copy_bytes(&mut m, self.take(6));
        MacAddr(m)
    }
    fn count(&mut self, max: usize) -> Result<u8, PfDecodeError> {
        let at = self.at;
        let n = self.u8();
        if usize::from(n) > max {
            return Err(PfDecodeError::Field { at });
        }
        Ok(n)
    }
}

impl PfState {
    /// Encodes the state, little endian, into exactly [`PF_BYTES`] bytes.
    pub fn encode(&self, out: &mut [u8; PF_BYTES]) {
        let mut w = Writer { out, at: 0 };
        // CAST: wire values are at most 8.
        w.put(&[self.api.wire() as u8, 0, 0, 0]);
        w.put(&self.features.to_le_bytes());
        w.mac(self.perm_mac);
        w.mac(self.mac);
        w.put(&[self.mc_filter_type]);
        // CAST: at most 30.
        w.put(&[self.mc.hashes().len() as u8]);
        for i in 0..MAX_MC_HASHES {
            w.put(&self.mc.hashes().get(i).copied().unwrap_or(0).to_le_bytes());
        }
        w.put(&[self.xcast.map_or(0xFF, |x| x as u8)]);
        w.put(&[u8::from(self.max_frame.is_some())]);
        w.put(&self.max_frame.unwrap_or(0).to_le_bytes());
        let q = self.queues.unwrap_or_default();
        w.put(&[
            u8::from(self.queues.is_some()),
            q.max_tx,
            q.max_rx,
            q.num_tcs,
            q.default_queue,
        ]);
        w.put(&[u8::from(self.link_enabled)]);
        w.put(&[self.vlan_count]);
        for v in self.vlans {
            w.put(&v.to_le_bytes());
        }
        w.put(&[self.macvlan_count]);
        for m in self.macvlans {
            w.put(&m.0);
        }
    }

    /// Decodes a state written by [`PfState::encode`], checking every field.
    pub fn decode(bytes: &[u8]) -> Result<PfState, PfDecodeError> {
        if bytes.len() != PF_BYTES {
            return Err(PfDecodeError::Length { got: bytes.len() });
        }
        let mut r = Reader { bytes, at: 0 };
        let api_bytes = r.take(4);
        let api = match api_bytes {
            [api, 0, 0, 0] => ApiVersion::from_wire(u32::from(*api)),
            _ => None,
        }
        .ok_or(PfDecodeError::Field { at: 0 })?;
        let at = r.at;
        let features = r.u32();
        // Only the features a PF can grant: the record must not switch the mailbox flavour
        // or enable an offload on a whim.
        if features & !(FEATURE_IPSEC | FEATURE_ESX_MBX) != 0 {
            return Err(PfDecodeError::Field { at });
        }
        let mut s = PfState {
            api,
            features,
            perm_mac: r.mac()?,
            mac: r.mac()?,
            ..PfState::default()
        };
        let at = r.at;
        s.mc_filter_type = r.u8();
        if s.mc_filter_type > 3 {
            return Err(PfDecodeError::Field { at });
        }
        let at = r.at;
        let mc_count = r.count(MAX_MC_HASHES)?;
        let mut mc = McList::default();
        for i in 0..MAX_MC_HASHES {
            let h = u16::from_le_bytes([r.u8(), r.u8()]);
            if i < usize::from(mc_count) && !mc.push(h) {
                return Err(PfDecodeError::Field { at });
            }
        }
        s.mc = mc;
        let at = r.at;
        s.xcast = match r.u8() {
            0xFF => None,
            v => Some(XcastMode::from_wire(u32::from(v)).ok_or(PfDecodeError::Field { at })?),
        };
        let has_frame = r.flag()?;
        let at = r.at;
        let frame = r.u32();
        // The PF acknowledges SET_LPE only inside its range (ixgbe_set_vf_lpe).
        if has_frame && !(MIN_FRAME..=MAX_FRAME).contains(&frame) {
            return Err(PfDecodeError::Field { at });
        }
        s.max_frame = has_frame.then_some(frame);
        let at = r.at;
        let has_queues = r.flag()?;
        let q = QueueInfo {
            max_tx: r.u8(),
            max_rx: r.u8(),
            num_tcs: r.u8(),
            default_queue: r.u8(),
        };
        // As `Request::decode_reply` leaves a GET_QUEUES answer: both counts 1..=8, the TC
        // count not above the Rx queues and the default queue below the Tx queues.
        let layout_ok = (1..=8).contains(&q.max_tx)
            && (1..=8).contains(&q.max_rx)
            && q.num_tcs <= q.max_rx
            && q.default_queue < q.max_tx;
        if has_queues && !layout_ok {
            return Err(PfDecodeError::Field { at });
        }
        s.queues = has_queues.then_some(q);
        s.link_enabled = r.flag()?;
        s.vlan_count = r.count(MAX_VLANS)?;
        for (i, v) in s.vlans.iter_mut().enumerate() {
            let at = r.at;
            *v = u16::from_le_bytes([r.u8(), r.u8()]);
            // A VLAN id is 12 bits; SET_VLAN could not carry more (slots past the count
            // hold removed ids and are not replayed).
            if i < usize::from(s.vlan_count) && *v > 0xFFF {
                return Err(PfDecodeError::Field { at });
            }
        }
        s.macvlan_count = r.count(MAX_MACVLANS)?;
        for (i, m) in s.macvlans.iter_mut().enumerate() {
            let at = r.at;
            *m = r.mac_bytes();
            if i < usize::from(s.macvlan_count) && !m.is_valid_unicast() {
                return Err(PfDecodeError::Field { at });
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([2, 1, 2, 3, 4, 5]);

    fn populated() -> PfState {
        let mut s = PfState::default();
        let steps: Vec<(Request, Reply)> = vec![
            (
                Request::Reset,
                Reply::Reset {
                    mac: Some(MAC),
                    mc_filter_type: 1,
                },
            ),
            (Request::ApiNegotiate(ApiVersion::V1_4), Reply::Ack),
            (
                Request::UpdateXcastMode(XcastMode::AllMulti),
                Reply::XcastMode(XcastMode::Multi),
            ),
            (
                Request::SetMulticast(McList::new(&[1, 2, 3]).unwrap()),
                Reply::Ack,
            ),
            (Request::SetVlan { vid: 10, add: true }, Reply::Ack),
            (Request::SetVlan { vid: 20, add: true }, Reply::Ack),
            (Request::SetVlan { vid: 10, add: true }, Reply::Ack),
            (Request::SetVlan { vid: 30, add: true }, Reply::Ack),
            (
                Request::SetVlan {
                    vid: 20,
                    add: false,
                },
                Reply::Ack,
            ),
            (Request::SetMacvlan { index: 1, mac: MAC }, Reply::Ack),
            (
                Request::SetMacvlan {
                    index: 2,
                    mac: MacAddr([2, 9, 9, 9, 9, 9]),
                },
                Reply::Ack,
            ),
            (Request::SetLpe { max_frame: 9018 }, Reply::Ack),
        ];
        for (req, rep) in steps {
            s.note(&req, &rep).unwrap();
        }
        s
    }

    #[test]
    fn note_tracks_what_the_pf_holds() {
        let s = populated();
        assert_eq!(s.vlans(), &[10, 30]);
        assert_eq!(s.macvlans().len(), 2);
        assert_eq!(s.api, ApiVersion::V1_4);
        assert_eq!(s.features, crate_features_ipsec());
        assert_eq!(s.xcast, Some(XcastMode::AllMulti), "asked, not granted");
        // Reset drops what the PF drops.
        let mut r = s;
        r.note(
            &Request::Reset,
            &Reply::Reset {
                mac: None,
                mc_filter_type: 0,
            },
        )
        .unwrap();
        assert!(r.vlans().is_empty() && r.macvlans().is_empty() && r.mc.hashes().is_empty());
        assert_eq!(r.api, ApiVersion::V1_0);
        assert_eq!(r.xcast, s.xcast);
        assert_eq!(
            r.note(&Request::GetQueues, &Reply::Ack),
            Err(PfLogError::ReplyKind)
        );
    }

    fn crate_features_ipsec() -> u32 {
        super::super::mbx::FEATURE_IPSEC
    }

    #[test]
    fn capacity_is_reported() {
        let mut s = PfState::default();
        for vid in 0..MAX_VLANS as u16 {
            s.note(&Request::SetVlan { vid, add: true }, &Reply::Ack)
                .unwrap();
        }
        assert_eq!(
            s.note(
                &Request::SetVlan {
                    vid: 999,
                    add: true
                },
                &Reply::Ack
            ),
            Err(PfLogError::VlansFull)
        );
    }

    #[test]
    fn replay_order_and_content() {
        let s = populated();
        let ids: Vec<_> = s.replay().map(|r| r.id() as u32).collect();
        assert_eq!(ids, [0x0c, 0x03, 0x06, 0x06, 0x04, 0x04, 0x05]);
        let empty = PfState::default();
        let r: Vec<_> = empty.replay().collect();
        assert_eq!(
            r,
            [
                Request::SetMulticast(McList::default()),
                Request::SetMacvlan {
                    index: 0,
                    mac: MacAddr::default()
                }
            ]
        );
    }

    #[test]
    fn encode_round_trip_and_rejects() {
        let s = populated();
        let mut b = [0u8; PF_BYTES];
        s.encode(&mut b);
        assert_eq!(PfState::decode(&b), Ok(s));
        assert!(matches!(
            PfState::decode(&b[1..]),
            Err(PfDecodeError::Length { .. })
        ));
        let mut bad = b;
        bad[0] = 1; // API 2.0
        assert_eq!(PfState::decode(&bad), Err(PfDecodeError::Field { at: 0 }));
        let mut bad = b;
        bad[8] = 2; // perm_mac presence flag
        assert_eq!(PfState::decode(&bad), Err(PfDecodeError::Field { at: 8 }));
    }

    /// Byte offsets of the encoded fields, from the layout in `PF_BYTES`.
    const FEATURES_AT: usize = 4;
    const PERM_MAC_AT: usize = 8;
    const MC_AT: usize = PERM_MAC_AT + 7 + 7 + 1;
    const XCAST_AT: usize = MC_AT + 1 + 2 * MAX_MC_HASHES;
    const FRAME_AT: usize = XCAST_AT + 1;
    const QUEUES_AT: usize = FRAME_AT + 5;
    const VLANS_AT: usize = QUEUES_AT + 5 + 1;
    const MACVLANS_AT: usize = VLANS_AT + 1 + 2 * MAX_VLANS;

    #[test]
    fn decode_refuses_what_no_pf_acknowledged() {
        let mut s = populated();
        s.queues = Some(QueueInfo {
            max_tx: 2,
            max_rx: 2,
            num_tcs: 0,
            default_queue: 0,
        });
        let mut b = [0u8; PF_BYTES];
        s.encode(&mut b);
        assert_eq!(PfState::decode(&b), Ok(s));
        // (mutation, byte offset the error names)
        type Mutation = fn(&mut [u8; PF_BYTES]);
        let cases: [(Mutation, usize); 9] = [
            // Reserved bytes after the API value.
            (|b| b[2] = 1, 0),
            // A feature no PF grants.
            (|b| b[FEATURES_AT] = 0x4, FEATURES_AT),
            // A multicast admin MAC.
            (|b| b[PERM_MAC_AT + 1] = 0x01, PERM_MAC_AT + 1),
            // Max frame above 9728, and below 68.
            (
                |b| b[FRAME_AT + 1..FRAME_AT + 5].copy_from_slice(&9729u32.to_le_bytes()),
                FRAME_AT + 1,
            ),
            (
                |b| b[FRAME_AT + 1..FRAME_AT + 5].copy_from_slice(&67u32.to_le_bytes()),
                FRAME_AT + 1,
            ),
            // More TCs than Rx queues; default queue not below the Tx queues.
            (|b| b[QUEUES_AT + 3] = 3, QUEUES_AT),
            (|b| b[QUEUES_AT + 4] = 2, QUEUES_AT),
            // A VLAN id wider than 12 bits (first of the two recorded).
            (
                |b| b[VLANS_AT + 1..VLANS_AT + 3].copy_from_slice(&0x1000u16.to_le_bytes()),
                VLANS_AT + 1,
            ),
            // A zero secondary MAC in the list.
            (
                |b| b[MACVLANS_AT + 1..MACVLANS_AT + 7].fill(0),
                MACVLANS_AT + 1,
            ),
        ];
        for (i, (mutate, at)) in cases.iter().enumerate() {
            let mut bad = b;
            mutate(&mut bad);
            assert_eq!(
                PfState::decode(&bad),
                Err(PfDecodeError::Field { at: *at }),
                "case {i}"
            );
        }
        // A removed VLAN parked past the count is not checked: it is never replayed.
        let mut parked = b;
        parked[VLANS_AT + 1 + 2 * 3..VLANS_AT + 3 + 2 * 3]
            .copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(PfState::decode(&parked).is_ok());
    }
}
