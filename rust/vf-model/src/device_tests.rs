//! The device driven through BAR0 the way ixgbevf drives it, with a Vec-backed guest memory.

use std::time::{Duration, Instant};

use super::*;
use crate::dma::VecMemory;
use crate::msix::IrqSink;
use crate::net::{self, tests::tcp4};
use crate::pf::msg::*;
use crate::rx::RxOutcome;
use std::sync::{Arc, Mutex};

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const RAM: u64 = 0x10_0000;
const RAM_SIZE: usize = 0x10_0000;
const RX_RING: u64 = RAM;
const TX_RING: u64 = RAM + 0x1000;
const RX_BUF: u64 = RAM + 0x2_0000;
const TX_BUF: u64 = RAM + 0x8_0000;

/// A sink the test can look into after handing it to the device.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<usize>>>);

impl IrqSink for Shared {
    fn fire(&mut self, vector: usize) -> bool {
        self.0.lock().unwrap().push(vector);
        true
    }
}

struct T {
    d: Device,
    now: Instant,
    irqs: Shared,
}

impl T {
    fn new() -> T {
        let now = Instant::now();
        let irqs = Shared::default();
        let cfg = DeviceConfig {
            admin: Admin {
                mac: Some(MAC),
                ..Admin::default()
            },
            ..DeviceConfig::default()
        };
        let d = Device::new(
            cfg,
            Box::new(VecMemory::new(RAM, RAM_SIZE)),
            Box::new(irqs.clone()),
            now,
        );
        T { d, now, irqs }
    }
    fn later(&mut self, us: u64) {
        self.now += Duration::from_micros(us);
    }
    fn r(&mut self, off: u64) -> u32 {
        self.d.read32(off, self.now)
    }
    fn w(&mut self, off: u64, v: u32) {
        self.d.write32(off, v, self.now)
    }
    fn mem_w(&mut self, addr: u64, data: &[u8]) {
        self.d.mem.write(addr, data).unwrap();
    }
    fn mem_r(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        self.d.mem.read(addr, &mut b).unwrap();
        b
    }
    fn fired(&self) -> Vec<usize> {
        self.irqs.0.lock().unwrap().clone()
    }

    /// ixgbevf's legacy mailbox write then `poll_mbx` for the reply.
    fn mbx_call(&mut self, words: &[u32]) -> Vec<u32> {
        // Take VFU and check it.
        self.w(VFMAILBOX, MBX_VFU);
        assert_ne!(self.r(VFMAILBOX) & MBX_VFU, 0, "VFU not granted");
        for (i, w) in words.iter().enumerate() {
            self.w(VFMBMEM + 4 * i as u64, *w);
        }
        self.w(VFMAILBOX, MBX_REQ);
        let st = self.r(VFMAILBOX);
        assert_ne!(st & MBX_PFSTS, 0, "PF did not reply: mailbox {st:#x}");
        self.w(VFMAILBOX, MBX_VFU);
        let reply: Vec<u32> = (0..16).map(|i| self.r(VFMBMEM + 4 * i)).collect();
        self.w(VFMAILBOX, MBX_ACK);
        reply
    }

    /// Reset and register with the PF the way ixgbevf's probe does.
    fn probe(&mut self) {
        self.w(VFCTRL, CTRL_RST);
        self.later(100);
        while self.r(VFMAILBOX) & (MBX_RSTI | MBX_RSTD) != 0 {}
        let r = self.mbx_call(&[VF_RESET]);
        assert_eq!(r[0], VF_RESET | ACK);
        let r = self.mbx_call(&[API_NEGOTIATE, 4, 0]);
        assert_eq!(r[0], API_NEGOTIATE | ACK | CTS);
        let r = self.mbx_call(&[UPDATE_XCAST_MODE, 1]);
        assert_eq!(r[0] & ACK, ACK);
    }

    /// Queue 0 Rx and Tx rings of 8 descriptors, 2 KiB buffers, vectors: Rx 0, Tx 0, mbx 1.
    fn up(&mut self) {
        self.probe();
        self.w(VFTDBAL, TX_RING as u32);
        self.w(VFTDLEN, 8 * 16);
        self.w(VFTDH, 0);
        self.w(VFTDT, 0);
        self.w(VFTXDCTL, DCTL_ENABLE | (8 << 16) | (1 << 8) | 32);
        self.w(VFRDBAL, RX_RING as u32);
        self.w(VFRDLEN, 8 * 16);
        self.w(VFRDH, 0);
        self.w(VFRDT, 0);
        self.w(
            VFSRRCTL,
            SRRCTL_DROP_EN | (4 << 8) | 2 | SRRCTL_DESCTYPE_ADV_ONEBUF,
        );
        self.w(VFRXDCTL, DCTL_ENABLE | RXDCTL_VME);
        self.later(1000);
        assert_ne!(self.r(VFRXDCTL) & DCTL_ENABLE, 0);
        assert_ne!(self.r(VFTXDCTL) & DCTL_ENABLE, 0);
        for i in 0..7u64 {
            self.post_rx(i as u32, RX_BUF + i * 2048);
        }
        self.w(VFRDT, 7);
        self.w(VTIVAR0, 0x8080);
        self.w(VTIVAR_MISC, 0x81);
        self.w(VTEIAM, 0b11);
        self.w(VTEIAC, 0b11);
        self.w(VTEIMS, 0b11);
    }

    /// An mDNS frame is filtered until SET_MULTICAST puts its hash in the list.
    fn multicast_needs_the_hash_list(&mut self) {
        let mc = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
        assert_eq!(
            self.d.receive(&frame_to(mc, b"x"), self.now),
            RxOutcome::Dropped
        );
        let h = u32::from(crate::pf::mta_hash(&mc));
        assert_eq!(
            self.mbx_call(&[SET_MULTICAST | (1 << INFO_SHIFT), h])[0] & ACK,
            ACK
        );
        assert_eq!(
            self.d.receive(&frame_to(mc, b"x"), self.now),
            RxOutcome::Delivered
        );
    }

    fn post_rx(&mut self, i: u32, buf: u64) {
        let mut d = [0u8; 16];
        d[0..8].copy_from_slice(&buf.to_le_bytes());
        self.mem_w(RX_RING + u64::from(i) * 16, &d);
    }

    fn tx_desc(&mut self, i: u32, q0: u64, cmd: u32, olinfo: u32) {
        let mut d = [0u8; 16];
        d[0..8].copy_from_slice(&q0.to_le_bytes());
        d[8..12].copy_from_slice(&cmd.to_le_bytes());
        d[12..16].copy_from_slice(&olinfo.to_le_bytes());
        self.mem_w(TX_RING + u64::from(i) * 16, &d);
    }
}

fn frame_to(dst: [u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut f = tcp4(payload);
    f[0..6].copy_from_slice(&dst);
    f
}

#[test]
fn vfctrl_rst_self_clears_with_rsti_then_rstd() {
    let mut t = T::new();
    t.w(VFRDT, 5);
    t.w(VFSRRCTL, 0x0200_0402);
    t.w(VFRDBAL, 0x1000);
    t.w(VTEIMS, 0b111);
    t.w(VTEIAM, 0b101);
    assert_eq!(t.r(VFMAILBOX), MBX_RSTD, "power-on: PF reset done");
    t.w(VFCTRL, CTRL_RST);
    assert_eq!(t.r(VFCTRL), 0, "RST self-clears");
    assert_eq!(t.r(VFMAILBOX), MBX_RSTI, "reset in progress");
    t.later(1000);
    assert_eq!(t.r(VFMAILBOX), MBX_RSTD);
    assert_eq!(t.r(VFMAILBOX), 0, "RSTD is read-clear");
    assert_eq!(
        (t.r(VTEIMS), t.r(VTEIAM)),
        (0, 0),
        "interrupt registers reset"
    );
    assert_eq!(t.r(VFRDBAL), 0, "ring base reset");
    assert_eq!(
        (t.r(VFRDT), t.r(VFSRRCTL)),
        (5, 0x0200_0402),
        "not reset by VFLR"
    );
    // Before VF_RESET the PF refuses everything else.
    let r = t.mbx_call(&[API_NEGOTIATE, 4, 0]);
    assert_eq!(r[0], API_NEGOTIATE | NACK);
}

#[test]
fn a_pf_reset_holds_the_vf_for_its_whole_duration_and_ends_with_a_control_message() {
    let mut t = T::new();
    t.up();
    let now = t.now;
    t.d.pf_reset(now, Duration::from_millis(50));
    assert!(!t.d.pf_state().vfre && !t.d.pf_state().vfte);
    // The VF resets itself at once: that does not end the PF's reset.
    t.later(1000);
    t.w(VFCTRL, CTRL_RST);
    t.later(20_000);
    assert_eq!(
        t.r(VFMAILBOX) & MBX_RSTI,
        MBX_RSTI,
        "RSTI dropped before the PF was back"
    );
    // A frame for the VF is not delivered while the PF is in reset.
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&MAC);
    f[12] = 0x08;
    assert_ne!(t.d.receive(&f, t.now), RxOutcome::Delivered);
    t.later(40_000);
    // Back: RSTD, and the PF's control message without clear-to-send.
    let mbx = t.r(VFMAILBOX);
    assert_eq!(mbx & MBX_RSTI, 0);
    assert_eq!(
        mbx & MBX_PFSTS,
        MBX_PFSTS,
        "no control message after the PF reset"
    );
    assert_eq!(t.r(VFMBMEM), PF_CONTROL);
    // VF_RESET brings the data path back.
    t.w(VFMAILBOX, MBX_ACK);
    let r = t.mbx_call(&[VF_RESET]);
    assert_eq!(r[0], VF_RESET | ACK);
    assert!(t.d.pf_state().vfre && t.d.pf_state().vfte);
}

#[test]
fn tx_runs_only_on_the_queues_the_pf_granted() {
    let mut t = T::new();
    t.up();
    let granted = t.d.admin().queues as u64;
    // A ring on the first queue beyond the grant: enabled, a descriptor posted, never sent.
    let q = granted;
    let off = |reg: u64| reg + 0x40 * q;
    t.w(off(VFTDBAL), TX_RING as u32);
    t.w(off(VFTDLEN), 8 * 16);
    t.w(off(VFTDH), 0);
    t.w(off(VFTDT), 0);
    t.w(off(VFTXDCTL), DCTL_ENABLE | (8 << 16) | (1 << 8) | 32);
    t.later(1000);
    t.w(off(VFTDT), 1);
    t.d.process_tx(t.now);
    assert_eq!(t.d.stats().tx_frames, 0);
    assert!(t.d.stats().bad_accesses > 0);
}

#[test]
fn held_rsti_is_visible_until_released() {
    let mut t = T::new();
    t.d.faults_mut().hold_rsti = Some(Duration::from_millis(50));
    t.w(VFCTRL, CTRL_RST);
    t.later(10_000);
    assert_eq!(t.r(VFMAILBOX) & MBX_RSTI, MBX_RSTI);
    t.later(40_000);
    assert_eq!(t.r(VFMAILBOX), MBX_RSTD);
}

#[test]
fn mailbox_probe_sequence_and_irq() {
    let mut t = T::new();
    t.probe();
    assert_eq!(t.d.pf_state().api, crate::pf::Api::V13);
    let r = t.mbx_call(&[GET_QUEUES, 0, 0, 0, 0]);
    assert_eq!(&r[..5], &[GET_QUEUES | ACK | CTS, 2, 2, 0, 0]);
    // With the mailbox cause routed and enabled, each PF reply raises vector 1.
    t.w(VTIVAR_MISC, 0x81);
    t.w(VTEIMS, 0b10);
    t.mbx_call(&[GET_LINK_STATE, 0]);
    assert_eq!(t.fired(), vec![1]);
    // VFMBMEM writes without VFU are dropped.
    t.w(VFMBMEM, 0xDEAD);
    assert_ne!(t.r(VFMBMEM), 0xDEAD);
    // A request posted while still holding VFU cannot be read by the PF: no reply.
    t.w(VFMAILBOX, MBX_VFU);
    t.w(VFMBMEM, GET_LINK_STATE);
    t.w(VFMAILBOX, MBX_REQ | MBX_VFU);
    assert_eq!(t.r(VFMAILBOX) & (MBX_PFSTS | MBX_PFACK), 0);
}

#[test]
fn ack_without_cts_draws_a_nack_and_ping_carries_cts() {
    let mut t = T::new();
    t.probe();
    assert!(t.d.pf_ping(t.now));
    assert_eq!(t.r(VFMAILBOX) & MBX_PFSTS, MBX_PFSTS);
    assert_eq!(t.r(VFMBMEM), PF_CONTROL | CTS);
    let now = t.now;
    t.d.admin_change(now, |a| a.trusted = true);
    assert_eq!(t.r(VFMBMEM), PF_CONTROL, "CTS withdrawn");
    // The legacy link check reads word 0 and ACKs; the PF answers with a bare NACK.
    t.w(VFMAILBOX, MBX_VFU);
    t.w(VFMAILBOX, MBX_ACK);
    assert_eq!(t.r(VFMBMEM), NACK);
}

#[test]
fn lost_messages_and_ping_races() {
    let mut t = T::new();
    t.probe();
    t.d.faults_mut().lose_msgs = 1;
    t.w(VFMAILBOX, MBX_VFU);
    t.w(VFMBMEM, GET_LINK_STATE);
    t.w(VFMAILBOX, MBX_REQ);
    assert_eq!(t.r(VFMAILBOX) & MBX_PFSTS, 0, "no reply to a lost message");
    t.d.faults_mut().ping_race = 1;
    let r = t.mbx_call(&[GET_LINK_STATE, 0]);
    assert_eq!(
        r[0],
        PF_CONTROL | CTS | NACK,
        "the ping replaced the request"
    );
}

#[test]
fn queue_enable_is_async_and_heads_are_device_owned() {
    let mut t = T::new();
    t.w(VFTDLEN, 128);
    t.w(VFTDH, 3);
    assert_eq!(t.r(VFTDH), 3);
    t.w(VFTXDCTL, DCTL_ENABLE);
    assert_eq!(t.r(VFTXDCTL) & DCTL_ENABLE, 0, "not yet");
    t.w(VFTDH, 0);
    t.later(1000);
    assert_eq!(t.r(VFTXDCTL) & DCTL_ENABLE, DCTL_ENABLE);
    t.w(VFTDH, 0);
    assert_eq!(t.r(VFTDH), 3, "head writes ignored while enabled");
    t.w(VFTXDCTL, TXDCTL_SWFLSH);
    assert_eq!(
        t.r(VFTXDCTL),
        DCTL_ENABLE,
        "SWFLSH self-clears; disable pending"
    );
    t.later(100);
    assert_eq!(t.r(VFTXDCTL), 0);
    t.w(VFTDH, 0);
    assert_eq!(t.r(VFTDH), 0);
}

#[test]
fn counters_wrap_and_are_not_cleared_on_read() {
    let mut t = T::new();
    t.up();
    t.d.vf.counters.gprc = u32::MAX;
    t.d.vf.counters.gorc = crate::vf::OCTET_MASK - 10;
    let f = frame_to(MAC, &[0u8; 100]);
    assert_eq!(t.d.receive(&f, t.now), RxOutcome::Delivered);
    assert_eq!(t.r(VFGPRC), 0, "32-bit wrap");
    assert_eq!(t.r(VFGPRC), 0);
    let octets = (f.len() + 4) as u64;
    let gorc = u64::from(t.r(VFGORC_LSB)) | (u64::from(t.r(VFGORC_MSB)) << 32);
    assert_eq!(gorc, octets - 11, "36-bit wrap");
    assert_eq!(t.r(VFGORC_MSB), 0);
    assert_eq!(
        t.r(VFGORC_LSB) as u64,
        octets - 11,
        "not cleared by the read"
    );
    t.w(VFGPRC, 1234);
    assert_eq!(t.r(VFGPRC), 0, "read-only");
    // A VF reset leaves the counters alone.
    t.w(VFCTRL, CTRL_RST);
    assert_eq!(t.r(VFGORC_LSB) as u64, octets - 11);
}

#[test]
fn eicr_read_clear_w1c_and_auto_mask_through_bar0() {
    let mut t = T::new();
    t.up();
    t.w(VTEICS, 0b01);
    assert_eq!(t.fired(), vec![0]);
    assert_eq!(t.r(VTEIMS), 0b10, "auto-masked");
    assert_eq!(t.r(VTEICS), 0, "auto-cleared");
    t.w(VTEIAC, 0);
    t.w(VTEIMS, 0b01);
    t.w(VTEICS, 0b01);
    assert_eq!(
        t.r(VTEICS),
        0b01,
        "kept without auto-clear; VTEICS read does not clear"
    );
    t.w(VTEICR, 0b01);
    assert_eq!(t.r(VTEICR), 0, "write-1-to-clear");
    t.w(VTEIAC, 0b10);
    t.w(VTEICS, 0b10);
    assert_eq!(t.r(VTEICR), 0b00, "vector 1 auto-cleared when it fired");
    t.w(VTEIAC, 0);
    t.w(VTEIMS, 0b10);
    t.w(VTEICS, 0b10);
    assert_eq!(t.r(VTEICR), 0b10);
    assert_eq!(t.r(VTEICR), 0, "read-clear");
}

#[test]
fn rx_write_back_checksum_vlan_and_interrupt() {
    let mut t = T::new();
    t.up();
    let f = frame_to(MAC, b"hello, ring");
    assert_eq!(t.d.receive(&f, t.now), RxOutcome::Delivered);
    let wb = t.mem_r(RX_RING, 16);
    let status = u32::from_le_bytes(wb[8..12].try_into().unwrap());
    let len = u16::from_le_bytes([wb[12], wb[13]]);
    assert_eq!(usize::from(len), f.len());
    assert_eq!(status & 0b11, 0b11, "DD and EOP");
    assert_ne!(status & (1 << 5), 0, "L4CS");
    assert_ne!(status & (1 << 6), 0, "IPCS");
    assert_eq!(status & 0xC000_0000, 0, "no TCPE/IPE");
    assert_eq!(
        u16::from_le_bytes([wb[0], wb[1]]) & 0xFFF0,
        0x0110,
        "IPv4 + TCP"
    );
    assert_eq!(t.mem_r(RX_BUF, f.len()), f);
    assert_eq!(t.r(VFRDH), 1);
    assert_eq!(t.fired(), vec![0], "Rx vector");
    assert_eq!(t.d.irqs_fired(), 1);
    // A corrupted TCP checksum is reported, not hidden.
    let mut bad = frame_to(MAC, b"hello, ring");
    bad[60] ^= 0xFF;
    t.d.receive(&bad, t.now);
    let st = u32::from_le_bytes(t.mem_r(RX_RING + 16 + 8, 4).try_into().unwrap());
    assert_ne!(st & (1 << 30), 0, "TCPE");
    // A tagged frame for a VLAN the VF joined is stripped into the descriptor.
    assert_eq!(t.mbx_call(&[SET_VLAN | (1 << INFO_SHIFT), 5])[0] & ACK, ACK);
    let tagged = net::insert_vlan(&f, 5);
    assert_eq!(t.d.receive(&tagged, t.now), RxOutcome::Delivered);
    let wb = t.mem_r(RX_RING + 32, 16);
    let status = u32::from_le_bytes(wb[8..12].try_into().unwrap());
    assert_ne!(status & (1 << 3), 0, "VP");
    assert_eq!(u16::from_le_bytes([wb[14], wb[15]]), 5);
    assert_eq!(usize::from(u16::from_le_bytes([wb[12], wb[13]])), f.len());
    // A VLAN the VF did not join is filtered.
    assert_eq!(
        t.d.receive(&net::insert_vlan(&f, 6), t.now),
        RxOutcome::Dropped
    );
}

#[test]
fn rx_filters_and_multi_descriptor_frames() {
    let mut t = T::new();
    t.up();
    assert_eq!(
        t.d.receive(&frame_to([2, 9, 9, 9, 9, 9], b"x"), t.now),
        RxOutcome::Dropped
    );
    assert_eq!(
        t.d.receive(&frame_to([0xFF; 6], b"x"), t.now),
        RxOutcome::Delivered
    );
    t.multicast_needs_the_hash_list();
    assert_eq!(t.r(VFMPRC), 1);
    // 1 KiB buffers: a 1500-byte frame takes two descriptors, EOP on the second.
    t.w(VFSRRCTL, SRRCTL_DROP_EN | SRRCTL_DESCTYPE_ADV_ONEBUF | 1);
    let big = frame_to(MAC, &[7u8; 1446]);
    let head = t.r(VFRDH);
    assert_eq!(t.d.receive(&big, t.now), RxOutcome::Delivered);
    let d0 = t.mem_r(RX_RING + u64::from(head) * 16, 16);
    let d1 = t.mem_r(RX_RING + u64::from(head + 1) * 16, 16);
    assert_eq!(
        u32::from_le_bytes(d0[8..12].try_into().unwrap()) & 0b11,
        0b01,
        "DD, no EOP"
    );
    assert_eq!(
        u32::from_le_bytes(d1[8..12].try_into().unwrap()) & 0b11,
        0b11
    );
    assert_eq!(u16::from_le_bytes([d0[12], d0[13]]), 1024);
    assert_eq!(
        usize::from(u16::from_le_bytes([d1[12], d1[13]])),
        big.len() - 1024
    );
    // Fill the ring up to RDT = 7: then DROP_EN drops, and without it the frame waits.
    assert_eq!(t.r(VFRDH), 4);
    let f = frame_to(MAC, b"x");
    for _ in 0..3 {
        assert_eq!(t.d.receive(&f, t.now), RxOutcome::Delivered);
    }
    assert_eq!(t.d.receive(&f, t.now), RxOutcome::Dropped);
    assert_eq!(t.d.stats().rx_no_desc, 1);
    t.w(VFSRRCTL, SRRCTL_DESCTYPE_ADV_ONEBUF | 1);
    assert_eq!(t.d.receive(&f, t.now), RxOutcome::Retry);
}

#[test]
fn broadcast_and_multicast_reach_a_vf_that_never_set_a_mode() {
    // An API 1.1 VF cannot send UPDATE_XCAST_MODE: the PF's VMOLR.BAM still lets
    // broadcast (ARP) in, and SET_MULTICAST alone enables its hash list.
    let mut t = T::new();
    t.w(VFCTRL, CTRL_RST);
    t.later(100);
    while t.r(VFMAILBOX) & (MBX_RSTI | MBX_RSTD) != 0 {}
    assert_eq!(t.mbx_call(&[VF_RESET])[0], VF_RESET | ACK);
    let r = t.mbx_call(&[API_NEGOTIATE, crate::pf::Api::V11 as u32, 0]);
    assert_eq!(r[0], API_NEGOTIATE | ACK | CTS);
    t.w(VFRDBAL, RX_RING as u32);
    t.w(VFRDLEN, 8 * 16);
    t.w(VFSRRCTL, SRRCTL_DROP_EN | 2 | SRRCTL_DESCTYPE_ADV_ONEBUF);
    t.w(VFRXDCTL, DCTL_ENABLE);
    t.later(1000);
    for i in 0..7u64 {
        t.post_rx(i as u32, RX_BUF + i * 2048);
    }
    t.w(VFRDT, 7);
    assert_eq!(
        t.d.receive(&frame_to([0xFF; 6], b"arp"), t.now),
        RxOutcome::Delivered
    );
    t.multicast_needs_the_hash_list();
}

#[test]
fn tx_context_checksum_vlan_and_write_back() {
    let mut t = T::new();
    t.up();
    let mut f = tcp4(b"payload!");
    f[6..12].copy_from_slice(&MAC);
    // Zero the checksums and seed TCP with the pseudo-header sum, as for CHECKSUM_PARTIAL.
    f[24..26].fill(0);
    let p = net::parse(&f);
    let seed = net::fold(net::pseudo_sum(&f, &p, 6, f.len() - 34));
    f[50..52].copy_from_slice(&seed.to_be_bytes());
    t.mem_w(TX_BUF, &f);
    // Context: VLAN 9, MACLEN 14, IPLEN 20, IPv4, TCP; slot 0.
    let ctx_lo = (9u64 << 16) | (14 << 9) | 20;
    t.tx_desc(0, ctx_lo, (1 << 29) | (0x2 << 20) | 0x400 | 0x800, 0);
    let cmd =
        (1 << 29) | (0x3 << 20) | (1 << 24) | (1 << 25) | (1 << 27) | (1 << 30) | f.len() as u32;
    let olinfo = (1 << 7) | (1 << 8) | (1 << 9) | ((f.len() as u32) << 14);
    t.tx_desc(1, TX_BUF, cmd, olinfo);
    // VLAN anti-spoof: the tag must be one the VF joined.
    assert_eq!(t.mbx_call(&[SET_VLAN | (1 << INFO_SHIFT), 9])[0] & ACK, ACK);
    t.w(VFTDT, 2);
    assert_eq!(t.d.process_tx(t.now), 2);
    assert_eq!(t.r(VFTDH), 2);
    let wb = t.mem_r(TX_RING + 16 + 12, 4);
    assert_eq!(wb[0] & 1, 1, "DD on the RS descriptor");
    let out: Vec<Vec<u8>> = t.d.take_tx().collect();
    assert_eq!(out.len(), 1);
    let sent = &out[0];
    let sp = net::parse(sent);
    assert_eq!(sp.vlan, Some(9), "tag inserted");
    assert!(net::ipv4_header_ok(sent, 18));
    assert_eq!(net::l4_checksum_ok(sent, &sp), Some(true));
    assert_eq!(t.r(VFGPTC), 1);
    assert!(t.fired().contains(&0), "Tx cause on vector 0");
}

#[test]
fn tx_packet_naming_a_context_slot_past_the_second_is_dropped() {
    let mut t = T::new();
    t.up();
    let mut f = tcp4(b"payload!");
    f[6..12].copy_from_slice(&MAC);
    t.mem_w(TX_BUF, &f);
    // Slot 1 is loaded; the packet asks for slot 3, which IDX & 1 would alias to it.
    t.tx_desc(0, (14u64 << 9) | 20, (1 << 29) | (0x2 << 20), 1 << 4);
    let cmd = (1 << 29) | (0x3 << 20) | (1 << 24) | (1 << 27) | f.len() as u32;
    t.tx_desc(1, TX_BUF, cmd, (1 << 7) | (3 << 4));
    t.w(VFTDT, 2);
    assert_eq!(t.d.process_tx(t.now), 2);
    assert_eq!(t.d.take_tx().count(), 0);
    assert_eq!(t.d.stats().bad_descriptors, 1);
}

#[test]
fn tx_tso_segments() {
    let mut t = T::new();
    t.up();
    let payload: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
    let mut f = tcp4(&payload);
    f[6..12].copy_from_slice(&MAC);
    t.mem_w(TX_BUF, &f);
    let ctx_lo = (14u64 << 9) | 20;
    t.tx_desc(
        0,
        ctx_lo,
        (1 << 29) | (0x2 << 20) | 0x400 | 0x800,
        (1448 << 16) | (20 << 8) | (1 << 4),
    );
    // Two data descriptors: header+part, then the rest.
    let first = 1000u32;
    let rest = f.len() as u32 - first;
    let base = (1 << 29) | (0x3 << 20) | (1 << 31);
    let olinfo = (1 << 7) | (1 << 4) | (1 << 8) | (1 << 9) | (4000 << 14);
    t.tx_desc(1, TX_BUF, base | first, olinfo);
    t.tx_desc(
        2,
        TX_BUF + u64::from(first),
        base | (1 << 24) | (1 << 27) | rest,
        0,
    );
    t.w(VFTDT, 3);
    t.d.process_tx(t.now);
    let out: Vec<Vec<u8>> = t.d.take_tx().collect();
    assert_eq!(out.len(), 3);
    let mut joined = Vec::new();
    for s in &out {
        let p = net::parse(s);
        assert_eq!(net::l4_checksum_ok(s, &p), Some(true));
        assert!(s.len() <= 1514);
        joined.extend_from_slice(&s[54..]);
    }
    assert_eq!(joined, payload);
    assert_eq!(t.r(VFGPTC), 3);
}

#[test]
fn tx_anti_spoof_and_link_down() {
    let mut t = T::new();
    t.up();
    let f = tcp4(b"spoofed"); // source 02:00:00:00:00:01? no: tcp4 uses 02:00:00:00:00:01
    let mut spoof = f.clone();
    spoof[6..12].copy_from_slice(&[2, 6, 6, 6, 6, 6]);
    t.mem_w(TX_BUF, &spoof);
    let cmd = (1 << 29) | (0x3 << 20) | (1 << 24) | (1 << 27) | spoof.len() as u32;
    t.tx_desc(0, TX_BUF, cmd, 0);
    t.w(VFTDT, 1);
    t.d.process_tx(t.now);
    assert_eq!(t.d.take_tx().count(), 0);
    assert_eq!(t.d.stats().tx_blocked, 1);
    let now = t.now;
    t.d.set_link(false, now);
    assert_eq!(t.r(VFLINKS), 0);
    assert_eq!(t.r(VFMBMEM), PF_CONTROL | CTS, "PF pings on link change");
    assert_eq!(t.d.receive(&frame_to(MAC, b"x"), t.now), RxOutcome::Dropped);
    t.d.set_link(true, now);
    assert_eq!(t.r(VFLINKS), LINKS_UP | LINKS_SPEED_10G);
}

#[test]
fn garbage_descriptors_and_out_of_range_dma_are_dropped() {
    let mut t = T::new();
    t.up();
    // Buffer outside guest RAM, absurd lengths, an unknown descriptor type, context slot 5.
    t.tx_desc(
        0,
        0xDEAD_0000_0000,
        (1 << 29) | (0x3 << 20) | (1 << 24) | (1 << 27) | 64,
        0,
    );
    t.tx_desc(
        1,
        u64::MAX - 8,
        (1 << 29) | (0x3 << 20) | (1 << 24) | (1 << 27) | 0xFFFF,
        0,
    );
    t.tx_desc(
        2,
        TX_BUF,
        (1 << 29) | (0xF << 20) | (1 << 24) | (1 << 27) | 64,
        0,
    );
    t.tx_desc(3, 0, (1 << 29) | (0x2 << 20), 5 << 4);
    t.w(VFTDT, 4);
    assert_eq!(t.d.process_tx(t.now), 4, "descriptors still complete");
    assert_eq!(t.d.take_tx().count(), 0);
    assert!(t.d.stats().dma_errors >= 2);
    assert!(t.d.stats().bad_descriptors >= 2);
    assert_eq!(
        t.mem_r(TX_RING + 16 + 12, 1)[0] & 1,
        1,
        "DD written even for a dropped packet"
    );
    // More than 256 KiB gathered in one packet is refused.
    for i in 4..8 {
        t.tx_desc(i, TX_BUF, (1 << 29) | (0x3 << 20) | 0xFFFF, 0);
    }
    t.tx_desc(0, TX_BUF, (1 << 29) | (0x3 << 20) | (1 << 24) | 0xFFFF, 0);
    t.w(VFTDT, 1);
    t.d.process_tx(t.now);
    assert_eq!(t.d.take_tx().count(), 0);
    assert!(t.d.stats().bad_descriptors >= 3);
    // A Tx ring outside RAM stalls without touching anything.
    t.w(VFTXDCTL, 0);
    t.later(100);
    t.w(VFTDBAL, 0xFFFF_0000);
    t.w(VFTDBAH, 0xFFFF_FFFF);
    t.w(VFTDH, 0);
    t.w(VFTXDCTL, DCTL_ENABLE);
    t.later(1000);
    t.w(VFTDT, 3);
    assert_eq!(t.d.process_tx(t.now), 0);
    // An Rx buffer outside RAM drops the frame.
    t.post_rx(0, 0x7000_0000_0000);
    t.w(VFRDH, 0);
    let f = frame_to(MAC, b"x");
    assert_eq!(t.d.receive(&f, t.now), RxOutcome::Dropped);
    // Tails past the ring end are refused, not followed.
    t.w(VFRDT, 5000);
    assert_eq!(t.d.receive(&f, t.now), RxOutcome::Dropped);
}

#[test]
fn random_register_and_memory_garbage_never_panics() {
    let mut t = T::new();
    t.up();
    let mut x = 0x1234_5678_9ABC_DEF1u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3000 {
        let r = next();
        // CAST: random offsets inside and outside BAR0, random values.
        let off = (r % 0x4400) & !3;
        match r % 7 {
            0 | 1 => t.w(off, next() as u32),
            2 => {
                let _ = t.r(off);
            }
            3 => {
                let addr = RAM + next() % (RAM_SIZE as u64 - 16);
                let junk = next().to_le_bytes();
                t.mem_w(addr, &junk);
            }
            4 => {
                let len = (next() % 2000) as usize;
                let f: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let _ = t.d.receive(&f, t.now);
            }
            5 => {
                let mut b = [0u8; 3];
                t.d.bar0_read(next() % 0x5000, &mut b, t.now);
                t.d.bar0_write(next() % 0x5000, &b[..(round % 3)], t.now);
            }
            _ => {
                t.later(next() % 500);
                t.d.process_tx(t.now);
                let _ = t.d.take_tx().count();
            }
        }
    }
}

#[test]
fn odd_sized_and_misaligned_accesses() {
    let mut t = T::new();
    let mut b8 = [0u8; 8];
    t.w(VFRDBAL, 0x1234_5680);
    t.w(VFRDBAH, 0x9);
    t.d.bar0_read(VFRDBAL, &mut b8, t.now);
    assert_eq!(
        u64::from_le_bytes(b8),
        0x9_1234_5680,
        "8-byte read of two dwords"
    );
    let mut b1 = [0u8; 1];
    t.d.bar0_read(VFLINKS + 3, &mut b1, t.now);
    assert_eq!(b1[0], 0x70);
    let mut b2 = [0u8; 2];
    t.d.bar0_read(VFLINKS + 1, &mut b2, t.now);
    assert_eq!(b2, [0xFF, 0xFF], "misaligned: all ones");
    t.d.bar0_read(BAR0_SIZE - 2, &mut b8[..4], t.now);
    assert_eq!(t.d.stats().bad_accesses, 2);
    t.d.bar0_write(VFRDT + 1, &[0x12], t.now);
    assert_eq!(t.r(VFRDT), 0x1200, "byte write merges");
    t.d.bar0_write(VTEIMS, &[1], t.now);
    assert_eq!(
        t.r(VTEIMS),
        0,
        "sub-dword write to a side-effect register dropped"
    );
}

#[test]
fn swap_presents_a_fresh_device_and_keeps_memory() {
    let mut t = T::new();
    t.up();
    t.d.receive(&frame_to(MAC, b"x"), t.now);
    let before = t.d.counters();
    let now = t.now;
    t.d.swap(now, None);
    let after = t.d.counters();
    assert_ne!(before, after);
    assert!(after.gprc > 0xFFFF_0000, "counters start near their wrap");
    let pf = t.d.pf_state();
    assert!(!pf.clear_to_send && !pf.mac_filter && pf.vlans.is_empty());
    assert_eq!(pf.api, crate::pf::Api::V10);
    assert_eq!(t.r(VFMAILBOX), MBX_RSTD, "reset-pending");
    assert_eq!(t.r(VTEIMS), 0);
    assert_eq!(t.r(VFRXDCTL) & DCTL_ENABLE, 0);
    assert_ne!(
        t.r(VFSRRCTL) | t.r(VFTDWBAL) | t.r(VFRDT),
        0,
        "stale VFLR-persistent registers"
    );
    // The old driver's next request is refused; after a reset it works again, memory intact.
    assert_eq!(t.mbx_call(&[GET_QUEUES, 0, 0, 0, 0])[0], GET_QUEUES | NACK);
    t.up();
    assert_eq!(
        t.d.receive(&frame_to(MAC, b"again"), t.now),
        RxOutcome::Delivered
    );
    let second = t.d.counters();
    t.d.swap(now, None);
    assert_ne!(t.d.counters(), second, "every swap differs");
}

#[test]
fn injected_rx_faults_fire_once_per_frame_and_are_counted_by_kind() {
    let mut t = T::new();
    t.up();
    let f = frame_to(MAC, b"hello, ring");
    {
        let fl = t.d.faults_mut();
        fl.rx_bad_len = 1;
        fl.rx_no_eop = 1;
        fl.rx_bad_status = 1;
    }
    assert_eq!(t.d.receive(&f, t.now), RxOutcome::Delivered);
    let wb = t.mem_r(RX_RING, 16);
    let status = u32::from_le_bytes(wb[8..12].try_into().unwrap());
    let len = u16::from_le_bytes([wb[12], wb[13]]);
    assert!(
        usize::from(len) > 2048,
        "length beyond the 2 KiB buffer: {len}"
    );
    assert_eq!(status & 0b11, 0b01, "DD without EOP");
    assert_eq!(u16::from_le_bytes([wb[0], wb[1]]), 0, "no packet type");
    assert_ne!(
        status & (1 << 30),
        0,
        "TCPE with L4CS set on a frame with no L4 type"
    );
    // The next frame is clean again.
    assert_eq!(t.d.receive(&f, t.now), RxOutcome::Delivered);
    let wb = t.mem_r(RX_RING + 16, 16);
    assert_eq!(usize::from(u16::from_le_bytes([wb[12], wb[13]])), f.len());
    let fired = t.d.faults_by_kind();
    for kind in ["rx_bad_len", "rx_no_eop", "rx_bad_status"] {
        assert_eq!(fired.get(kind), Some(&1), "{kind}");
    }
    assert_eq!(t.d.stats().faults_fired, 3);
    // A wild buffer address is refused by the DMA layer: no write-back, counted.
    t.d.faults_mut().dma_wild = 1;
    assert_eq!(t.d.receive(&f, t.now), RxOutcome::Dropped);
    assert_eq!(t.d.stats().dma_errors, 1);
    assert_eq!(t.r(VFRDH), 2, "the head did not move");
}

#[test]
fn a_gone_vf_reads_all_ones_drops_writes_and_comes_back() {
    let mut t = T::new();
    t.up();
    let bar = |t: &mut T, off: u64| {
        let mut b = [0u8; 4];
        let now = t.now;
        t.d.bar0_read(off, &mut b, now);
        u32::from_le_bytes(b)
    };
    let before = bar(&mut t, VFRDH);
    let tail = bar(&mut t, VFRDT);
    t.d.faults_mut().gone_until = Some(t.now + std::time::Duration::from_millis(10));
    assert_eq!(bar(&mut t, VFLINKS), u32::MAX);
    assert_eq!(bar(&mut t, VFRDH), u32::MAX);
    let now = t.now;
    t.d.bar0_write(VFRDT, &(tail ^ 1).to_le_bytes(), now);
    assert_eq!(t.d.receive(&frame_to(MAC, b"x"), t.now), RxOutcome::Dropped);
    t.later(20_000);
    assert_eq!(
        bar(&mut t, VFRDH),
        before,
        "registers kept across the absence"
    );
    assert_eq!(bar(&mut t, VFRDT), tail, "the write while gone was lost");
    assert!(t.d.faults_by_kind().get("gone").is_some_and(|n| *n >= 3));
}
