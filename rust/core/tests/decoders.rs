//! Property tests over the decoders: any words, any bytes, never a panic; whatever is
//! accepted is consistent with what was asked.

use compsc_core::mac::MacType;
use compsc_core::mbx::{
    ApiVersion, MacAddr, McList, PfMessage, Request, XcastMode, MBX_WORDS, MSG_ID_MASK, MSG_SUCCESS,
};
use compsc_core::record::SavedState;
use proptest::prelude::*;

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Reset),
        any::<[u8; 6]>().prop_map(|m| Request::SetMacAddr(MacAddr(m))),
        proptest::collection::vec(0u16..0x1000, 0..=30)
            .prop_map(|h| Request::SetMulticast(McList::new(&h).unwrap())),
        (0u16..0x1000, any::<bool>()).prop_map(|(vid, add)| Request::SetVlan { vid, add }),
        any::<u32>().prop_map(|max_frame| Request::SetLpe { max_frame }),
        (any::<u8>(), any::<[u8; 6]>()).prop_map(|(index, m)| Request::SetMacvlan {
            index,
            mac: MacAddr(m)
        }),
        proptest::sample::select(ApiVersion::NEGOTIATION_ORDER.to_vec())
            .prop_map(Request::ApiNegotiate),
        Just(Request::GetQueues),
        Just(Request::GetReta),
        Just(Request::GetRssKey),
        (0u32..4).prop_map(|m| Request::UpdateXcastMode(XcastMode::from_wire(m).unwrap())),
        Just(Request::GetLinkState),
        Just(Request::GetPfLinkState),
        any::<u32>().prop_map(Request::FeaturesNegotiate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn requests_round_trip(req in request()) {
        let mut buf = [0u32; MBX_WORDS];
        let len = req.encode(&mut buf).unwrap();
        prop_assert_eq!(Request::decode(&buf[..len]), Ok(req));
    }

    #[test]
    fn replies_never_panic_and_match_their_request(req in request(), words in proptest::collection::vec(any::<u32>(), 0..20)) {
        if let Ok(_reply) = req.decode_reply(&words) {
            let w0 = words[0];
            prop_assert_eq!(w0 & MSG_ID_MASK, req.id() as u32);
            prop_assert!(words.len() >= req.reply_words() && words.len() <= MBX_WORDS);
            prop_assert!(w0 & MSG_SUCCESS != 0 || req == Request::Reset);
        }
        let _ = Request::decode(&words);
        let _ = PfMessage::decode(words.first().copied().unwrap_or(0));
    }

    #[test]
    fn records_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let mut s = SavedState::new(MacType::X550);
        prop_assert!(s.decode_into(&bytes).is_err());
    }
}
