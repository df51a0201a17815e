//! Every message ixgbevf sends, answered as the Linux PF answers it.

use super::msg::*;
use super::*;

const MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

fn admin() -> Admin {
    Admin {
        mac: Some(MAC),
        ..Admin::default()
    }
}

fn m(words: &[u32]) -> [u32; MBX_WORDS] {
    let mut b = [0u32; MBX_WORDS];
    b[..words.len()].copy_from_slice(words);
    b
}

fn mac_words(mac: [u8; 6]) -> (u32, u32) {
    (
        u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
        u32::from_le_bytes([mac[4], mac[5], 0, 0]),
    )
}

fn reset_vf(pf: &mut PfVf, a: &Admin) -> Vec<u32> {
    pf.handle(&m(&[VF_RESET]), a).unwrap()
}

fn negotiated(api: Api) -> (PfVf, Admin) {
    let a = admin();
    let mut pf = PfVf::new(&a);
    reset_vf(&mut pf, &a);
    let r = pf.handle(&m(&[API_NEGOTIATE, api as u32, 0]), &a).unwrap();
    assert_eq!(r[0], API_NEGOTIATE | ACK | CTS);
    (pf, a)
}

#[test]
fn vf_reset_returns_the_admin_mac_and_sets_cts() {
    let a = admin();
    let mut pf = PfVf::new(&a);
    assert!(!pf.clear_to_send);
    let r = reset_vf(&mut pf, &a);
    assert_eq!(r.len(), 4, "VF_RESET reply is 4 words");
    assert_eq!(r[0], VF_RESET | ACK, "no CTS on the reset reply");
    assert_eq!((r[1], r[2]), mac_words(MAC));
    assert_eq!(r[3], MC_FILTER_TYPE);
    assert!(pf.clear_to_send && pf.mac_filter);
    assert!(pf.vlans.contains(&0), "VLAN 0 re-added by the reset");

    // Without an administrator MAC the PF NACKs and the VF picks its own.
    let a = Admin::default();
    let mut pf = PfVf::new(&a);
    assert_eq!(reset_vf(&mut pf, &a)[0], VF_RESET | NACK);
    assert!(pf.clear_to_send);
}

#[test]
fn not_clear_to_send_gets_a_one_word_nack() {
    let a = admin();
    let mut pf = PfVf::new(&a);
    let r = pf
        .handle(&m(&[API_NEGOTIATE, Api::V13 as u32]), &a)
        .unwrap();
    assert_eq!(r, vec![API_NEGOTIATE | NACK]);
    assert_eq!(pf.api, Api::V10, "not executed");
    assert_eq!(
        pf.on_vf_ack(),
        Some(NACK),
        "an ACK without CTS draws a bare NACK"
    );
    reset_vf(&mut pf, &a);
    assert_eq!(pf.on_vf_ack(), None);
}

#[test]
fn already_answered_buffers_are_ignored() {
    let (mut pf, a) = negotiated(Api::V13);
    assert_eq!(pf.handle(&m(&[SET_LPE | ACK, 1518]), &a), None);
    assert_eq!(pf.handle(&m(&[GET_QUEUES | NACK | CTS]), &a), None);
}

#[test]
fn api_negotiation_follows_the_linux_pf() {
    let a = admin();
    let mut pf = PfVf::new(&a);
    reset_vf(&mut pf, &a);
    for (api, ok) in [
        (Api::V17, true),
        (Api::V16, true),
        (Api::V15, false),
        (Api::V14, true),
        (Api::V13, true),
        (Api::V12, true),
        (Api::V11, true),
        (Api::V20, false),
        (Api::V10, true),
    ] {
        let r = pf.handle(&m(&[API_NEGOTIATE, api as u32, 0]), &a).unwrap();
        assert_eq!(r[0] & (ACK | NACK), if ok { ACK } else { NACK }, "{api:?}");
        assert_eq!(r[0] & CTS, CTS);
    }
    let r = pf.handle(&m(&[API_NEGOTIATE, 42]), &a).unwrap();
    assert_eq!(r[0] & NACK, NACK);
}

#[test]
fn set_mac_addr() {
    let (mut pf, a) = negotiated(Api::V13);
    let (w1, w2) = mac_words(MAC);
    assert_eq!(
        pf.handle(&m(&[SET_MAC_ADDR, w1, w2]), &a).unwrap()[0],
        SET_MAC_ADDR | ACK | CTS
    );
    // An untrusted VF may not move away from the administrator's MAC.
    let (o1, o2) = mac_words([2, 0, 0, 0, 0, 9]);
    assert_eq!(
        pf.handle(&m(&[SET_MAC_ADDR, o1, o2]), &a).unwrap()[0] & NACK,
        NACK
    );
    let trusted = Admin {
        trusted: true,
        ..a.clone()
    };
    assert_eq!(
        pf.handle(&m(&[SET_MAC_ADDR, o1, o2]), &trusted).unwrap()[0] & ACK,
        ACK
    );
    assert_eq!(pf.mac, [2, 0, 0, 0, 0, 9]);
    // Untrusted again: the PF compares with the MAC it holds, not the admin's original,
    // and a VF reset hands out the MAC it holds.
    assert_eq!(
        pf.handle(&m(&[SET_MAC_ADDR, o1, o2]), &a).unwrap()[0] & ACK,
        ACK
    );
    assert_eq!(
        pf.handle(&m(&[SET_MAC_ADDR, w1, w2]), &a).unwrap()[0] & NACK,
        NACK
    );
    assert_eq!(
        (reset_vf(&mut pf, &a)[1], reset_vf(&mut pf, &a)[2]),
        (o1, o2)
    );
    // Multicast and zero addresses are refused.
    let (b1, b2) = mac_words([1, 0, 0x5e, 0, 0, 1]);
    assert_eq!(
        pf.handle(&m(&[SET_MAC_ADDR, b1, b2]), &trusted).unwrap()[0] & NACK,
        NACK
    );
    assert_eq!(
        pf.handle(&m(&[SET_MAC_ADDR, 0, 0]), &trusted).unwrap()[0] & NACK,
        NACK
    );
}

#[test]
fn set_multicast_keeps_at_most_30_hashes() {
    let (mut pf, a) = negotiated(Api::V13);
    let r = pf
        .handle(
            &m(&[SET_MULTICAST | (3 << INFO_SHIFT), 0x0222_0111, 0x0333]),
            &a,
        )
        .unwrap();
    assert_eq!(r[0], SET_MULTICAST | (3 << INFO_SHIFT) | ACK | CTS);
    assert_eq!(pf.mc_hashes, vec![0x111, 0x222, 0x333]);
    let r = pf
        .handle(&m(&[SET_MULTICAST | (200 << INFO_SHIFT)]), &a)
        .unwrap();
    assert_eq!(r[0] & ACK, ACK);
    assert_eq!(pf.mc_hashes.len(), MAX_MC_HASHES);
    assert_eq!(mta_hash(&[0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]), 0xfb0);
}

#[test]
fn multicast_hash_filter_follows_vmolr_rompe() {
    // API 1.1 has no UPDATE_XCAST_MODE: SET_MULTICAST alone turns the hash filter on.
    let (mut pf, a) = negotiated(Api::V11);
    assert!(!pf.rompe);
    let r = pf.handle(&m(&[SET_MULTICAST | (1 << INFO_SHIFT), 0x111]), &a);
    assert_eq!(r.unwrap()[0] & ACK, ACK);
    assert!(pf.rompe);
    // Changing to NONE turns it off, to MULTI back on; a VF reset leaves it alone.
    let (mut pf, a) = negotiated(Api::V13);
    pf.handle(&m(&[UPDATE_XCAST_MODE, Xcast::Multi as u32]), &a);
    assert!(pf.rompe);
    pf.handle(&m(&[UPDATE_XCAST_MODE, Xcast::None as u32]), &a);
    assert!(!pf.rompe);
    pf.handle(&m(&[UPDATE_XCAST_MODE, Xcast::Multi as u32]), &a);
    pf.reset_event(&a);
    assert!(pf.rompe);
}

#[test]
fn set_vlan_add_remove_and_port_vlan() {
    let (mut pf, a) = negotiated(Api::V13);
    assert_eq!(
        pf.handle(&m(&[SET_VLAN | (1 << INFO_SHIFT), 100]), &a)
            .unwrap()[0]
            & ACK,
        ACK
    );
    assert!(pf.vlans.contains(&100));
    assert_eq!(pf.handle(&m(&[SET_VLAN, 100]), &a).unwrap()[0] & ACK, ACK);
    assert!(!pf.vlans.contains(&100));
    // Removing VLAN 0 is acknowledged and ignored.
    assert_eq!(pf.handle(&m(&[SET_VLAN, 0]), &a).unwrap()[0] & ACK, ACK);
    assert!(pf.vlans.contains(&0));
    let port = Admin {
        pf_vlan: 7,
        ..a.clone()
    };
    assert_eq!(
        pf.handle(&m(&[SET_VLAN | (1 << INFO_SHIFT), 5]), &port)
            .unwrap()[0]
            & NACK,
        NACK
    );
}

#[test]
fn set_lpe_and_the_82599_jumbo_rule() {
    let (mut pf, a) = negotiated(Api::V13);
    assert_eq!(pf.handle(&m(&[SET_LPE, 1518]), &a).unwrap()[0] & ACK, ACK);
    // ixgbe_set_vf_lpe: API 1.1+ only lifts the limit while the PF itself runs jumbo
    // frames; with a standard PF a jumbo request is refused and shuts the pool's Rx.
    assert_eq!(
        pf.handle(&m(&[SET_LPE, 9018]), &a).unwrap()[0] & NACK,
        NACK,
        "API 1.1+, PF not jumbo"
    );
    assert!(!pf.vfre);
    assert_eq!(pf.max_frame, 1518);
    assert_eq!(pf.handle(&m(&[SET_LPE, 1518]), &a).unwrap()[0] & ACK, ACK);
    assert!(pf.vfre, "a valid request re-enables Rx");
    let jumbo = Admin {
        pf_mtu: 9000,
        ..admin()
    };
    let mut jpf = PfVf::new(&jumbo);
    reset_vf(&mut jpf, &jumbo);
    let r = jpf.handle(&m(&[API_NEGOTIATE, Api::V13 as u32]), &jumbo);
    assert_eq!(r.unwrap()[0] & ACK, ACK);
    assert_eq!(
        jpf.handle(&m(&[SET_LPE, 9018]), &jumbo).unwrap()[0] & ACK,
        ACK,
        "API 1.1+ and a jumbo PF"
    );
    assert!(jpf.vfre);
    assert_eq!(jpf.max_frame, 9018);
    // MAXFRS is never lowered by a VF.
    assert_eq!(
        jpf.handle(&m(&[SET_LPE, 1518]), &jumbo).unwrap()[0] & ACK,
        ACK
    );
    assert_eq!(jpf.max_frame, 9018);
    assert_eq!(pf.handle(&m(&[SET_LPE, 20]), &a).unwrap()[0] & NACK, NACK);
    assert_eq!(
        pf.handle(&m(&[SET_LPE, 10000]), &a).unwrap()[0] & NACK,
        NACK
    );
    // A legacy VF asking for jumbo frames loses Rx altogether.
    let (mut legacy, a) = negotiated(Api::V10);
    assert_eq!(
        legacy.handle(&m(&[SET_LPE, 9018]), &a).unwrap()[0] & NACK,
        NACK
    );
    assert!(!legacy.vfre);
    assert_eq!(
        legacy.handle(&m(&[SET_LPE, 1518]), &a).unwrap()[0] & ACK,
        ACK
    );
    assert!(legacy.vfre);
    // A jumbo PF shuts a VF's Rx whatever it asks on the 82599 with API 1.0.
    let jumbo = Admin {
        pf_mtu: 9000,
        ..admin()
    };
    let mut pf = PfVf::new(&jumbo);
    reset_vf(&mut pf, &jumbo);
    assert!(!pf.vfre);
}

#[test]
fn set_macvlan_policy() {
    let (mut pf, a) = negotiated(Api::V13);
    let (w1, w2) = mac_words([2, 0, 0, 0, 0, 0x42]);
    // Clearing is always allowed; adding is refused for an untrusted VF with an admin MAC.
    assert_eq!(pf.handle(&m(&[SET_MACVLAN]), &a).unwrap()[0] & ACK, ACK);
    assert_eq!(
        pf.handle(&m(&[SET_MACVLAN | (1 << INFO_SHIFT), w1, w2]), &a)
            .unwrap()[0]
            & NACK,
        NACK
    );
    let t = Admin {
        trusted: true,
        ..a.clone()
    };
    assert!(pf.spoofchk);
    assert_eq!(
        pf.handle(&m(&[SET_MACVLAN | (1 << INFO_SHIFT), w1, w2]), &t)
            .unwrap()[0]
            & ACK,
        ACK
    );
    assert_eq!(
        pf.handle(&m(&[SET_MACVLAN | (2 << INFO_SHIFT), w1, w2 + 1]), &t)
            .unwrap()[0]
            & ACK,
        ACK
    );
    assert_eq!(pf.macvlans.len(), 2);
    assert!(!pf.spoofchk, "adding a filter turns anti-spoof off");
    assert_eq!(
        pf.handle(&m(&[SET_MACVLAN | (1 << INFO_SHIFT), w1, w2]), &t)
            .unwrap()[0]
            & ACK,
        ACK
    );
    assert_eq!(pf.macvlans.len(), 1, "index 1 starts a new list");
    assert_eq!(pf.handle(&m(&[SET_MACVLAN]), &t).unwrap()[0] & ACK, ACK);
    assert!(pf.macvlans.is_empty());
}

#[test]
fn get_queues_by_api() {
    let (mut pf, a) = negotiated(Api::V10);
    assert_eq!(
        pf.handle(&m(&[GET_QUEUES, 0, 0, 0, 0]), &a).unwrap()[0] & NACK,
        NACK
    );
    let (mut pf, a) = negotiated(Api::V17);
    let r = pf.handle(&m(&[GET_QUEUES, 0, 0, 0, 0]), &a).unwrap();
    assert_eq!(r[0], GET_QUEUES | ACK | CTS);
    assert_eq!(&r[1..5], &[2, 2, 0, 0]);
}

#[test]
fn rss_queries_need_permission() {
    let (mut pf, a) = negotiated(Api::V13);
    assert_eq!(pf.handle(&m(&[GET_RETA]), &a).unwrap()[0] & NACK, NACK);
    assert_eq!(pf.handle(&m(&[GET_RSS_KEY]), &a).unwrap()[0] & NACK, NACK);
    let q = Admin {
        rss_query: true,
        ..a.clone()
    };
    let r = pf.handle(&m(&[GET_RETA]), &q).unwrap();
    assert_eq!(r[0] & ACK, ACK);
    assert_eq!(r[1], 0x4444_4444, "entries alternate 0,1 over two queues");
    let k = pf.handle(&m(&[GET_RSS_KEY]), &q).unwrap();
    assert_eq!(k[1], u32::from_le_bytes([0x6d, 0x5a, 0x56, 0xda]));
    let (mut old, q2) = negotiated(Api::V11);
    assert_eq!(
        old.handle(
            &m(&[GET_RETA]),
            &Admin {
                rss_query: true,
                ..q2
            }
        )
        .unwrap()[0]
            & NACK,
        NACK
    );
}

#[test]
fn xcast_mode_clamps_untrusted_vfs() {
    let (mut pf, a) = negotiated(Api::V13);
    let r = pf
        .handle(&m(&[UPDATE_XCAST_MODE, Xcast::AllMulti as u32]), &a)
        .unwrap();
    assert_eq!(r[0] & ACK, ACK);
    assert_eq!(r[1], Xcast::Multi as u32, "untrusted: clamped to MULTI");
    let t = Admin {
        trusted: true,
        ..a.clone()
    };
    let r = pf
        .handle(&m(&[UPDATE_XCAST_MODE, Xcast::AllMulti as u32]), &t)
        .unwrap();
    assert_eq!(r[1], Xcast::AllMulti as u32);
    let r = pf
        .handle(&m(&[UPDATE_XCAST_MODE, Xcast::Promisc as u32]), &t)
        .unwrap();
    assert_eq!(r[0] & NACK, NACK, "the 82599 has no VF promiscuous mode");
    let (mut v12, a) = negotiated(Api::V12);
    assert_eq!(
        v12.handle(&m(&[UPDATE_XCAST_MODE, 3]), &a).unwrap()[0] & NACK,
        NACK
    );
    let (mut v11, a) = negotiated(Api::V11);
    assert_eq!(
        v11.handle(&m(&[UPDATE_XCAST_MODE, 1]), &a).unwrap()[0] & NACK,
        NACK
    );
    // xcast survives a VF reset.
    let mut pf2 = pf.clone();
    pf2.reset_event(&a);
    assert_eq!(pf2.xcast, Xcast::AllMulti);
}

#[test]
fn ipsec_needs_trust_and_the_pf_flag() {
    let (mut pf, a) = negotiated(Api::V14);
    let add = m(&[IPSEC_ADD, 0x1234_5678, 1]);
    assert_eq!(pf.handle(&add, &a).unwrap()[0] & NACK, NACK);
    let ok = Admin {
        trusted: true,
        ipsec: true,
        ..a.clone()
    };
    let r = pf.handle(&add, &ok).unwrap();
    assert_eq!(r[0] & ACK, ACK);
    assert_eq!(pf.sas.len(), 1);
    assert_eq!(
        pf.handle(&m(&[IPSEC_ADD, 1, 0]), &ok).unwrap()[0] & NACK,
        NACK,
        "Tx SAs refused"
    );
    // The PF tests the inbound bit, not the whole byte.
    let both = pf.handle(&m(&[IPSEC_ADD, 2, 3]), &ok).unwrap();
    assert_eq!(both[0] & ACK, ACK, "dir with the inbound bit set");
    assert_eq!(
        pf.handle(&m(&[IPSEC_DEL, both[1]]), &ok).unwrap()[0] & ACK,
        ACK
    );
    assert_eq!(
        pf.handle(&m(&[IPSEC_DEL, r[1]]), &ok).unwrap()[0] & ACK,
        ACK
    );
    assert!(pf.sas.is_empty());
    assert_eq!(
        pf.handle(&m(&[IPSEC_DEL, 99]), &ok).unwrap()[0] & ACK,
        ACK,
        "unused handle: success"
    );
}

#[test]
fn link_state_and_features() {
    let (mut pf, a) = negotiated(Api::V13);
    let r = pf.handle(&m(&[GET_LINK_STATE, 0]), &a).unwrap();
    assert_eq!((r[0] & ACK, r[1]), (ACK, 1));
    let off = Admin {
        link_enable: false,
        ..a.clone()
    };
    assert_eq!(pf.handle(&m(&[GET_LINK_STATE, 0]), &off).unwrap()[1], 0);
    assert_eq!(
        pf.handle(&m(&[FEATURES_NEGOTIATE, 3]), &a).unwrap()[0] & NACK,
        NACK,
        "1.7 only"
    );
    assert_eq!(
        pf.handle(&m(&[GET_PF_LINK_STATE]), &a).unwrap()[0] & NACK,
        NACK,
        "E610 PF only"
    );
    let (mut pf, a) = negotiated(Api::V17);
    let r = pf.handle(&m(&[FEATURES_NEGOTIATE, 3]), &a).unwrap();
    assert_eq!((r[0] & ACK, r[1]), (ACK, 1), "IPsec only");
    assert_eq!(
        pf.handle(&m(&[0x77]), &a).unwrap()[0],
        0x77 | NACK | CTS,
        "unhandled message"
    );
}

#[test]
fn reset_event_forgets_guest_state_but_keeps_mac_and_xcast() {
    let (mut pf, a) = negotiated(Api::V13);
    pf.handle(&m(&[SET_VLAN | (1 << INFO_SHIFT), 100]), &a);
    pf.handle(&m(&[SET_MULTICAST | (1 << INFO_SHIFT), 1]), &a);
    pf.handle(&m(&[UPDATE_XCAST_MODE, 1]), &a);
    pf.reset_event(&a);
    assert_eq!(pf.api, Api::V10);
    assert!(pf.mc_hashes.is_empty() && !pf.mac_filter);
    assert_eq!(pf.vlans.iter().copied().collect::<Vec<_>>(), vec![0]);
    assert_eq!(pf.mac, MAC);
    assert_eq!(pf.xcast, Xcast::Multi);
    assert!(
        pf.clear_to_send,
        "clear_to_send is not changed by the reset event"
    );
    assert_eq!(pf.ping(), PF_CONTROL | CTS);
}

#[test]
fn every_refusal_leaves_the_linux_pf_line() {
    let a = admin();
    let mut pf = PfVf::new(&a);
    reset_vf(&mut pf, &a);
    for (words, line) in [
        (vec![SET_LPE, 20_000], "VF max_frame 20000 out of range"),
        (
            vec![SET_MAC_ADDR, 0x0000_0002, 0x0000_0900],
            "VF 0 attempted to override administratively set MAC address",
        ),
        (vec![0x77], "Unhandled Msg 00000077"),
    ] {
        let r = pf.handle(&m(&words), &a).unwrap();
        assert_eq!(r[0] & NACK, NACK, "{words:x?}");
        assert_eq!(pf.refusal.take().as_deref(), Some(line));
    }
    // An acknowledged request leaves nothing.
    pf.handle(&m(&[SET_LPE, 1518]), &a);
    assert_eq!(pf.refusal, None);
}
