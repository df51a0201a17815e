//! A fake 82599-family VF and its PF mailbox peer for host tests.
//!
//! Semantics are written from the datasheet facts in ixgbevf-anatomy.md, by offset, without
//! reading compsc-core's register table: a misunderstanding in the table must not pass
//! because the fake shares it.
#![allow(dead_code)]

use compsc_core::emul::RegisterIo;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

pub const VFCTRL: u32 = 0x0000;
pub const VTEICR: u32 = 0x0100;
pub const VTEICS: u32 = 0x0104;
pub const VTEIMS: u32 = 0x0108;
pub const VTEIMC: u32 = 0x010C;
pub const VTEIAC: u32 = 0x0110;
pub const VTEIAM: u32 = 0x0114;
pub const VFMAILBOX: u32 = 0x02FC;
pub const VFMBMEM: u32 = 0x0200;
pub const GPRC: u32 = 0x101C;
pub const GORC_LSB: u32 = 0x1020;
pub const GORC_MSB: u32 = 0x1024;
pub const MPRC: u32 = 0x1034;
pub const GPTC: u32 = 0x201C;
pub const GOTC_LSB: u32 = 0x2020;
pub const GOTC_MSB: u32 = 0x2024;

const REQ: u32 = 0x01;
const ACK: u32 = 0x02;
const VFU: u32 = 0x04;
const PFU: u32 = 0x08;
const PFSTS: u32 = 0x10;
const PFACK: u32 = 0x20;
const RSTD: u32 = 0x80;

/// Registers that survive VF reset (82599 Specification Update, anatomy §1i).
pub fn survives_reset(off: u32) -> bool {
    match off {
        0x300 => true,
        0x1000..=0x11FF => matches!(off & 0x3F, 0x0C | 0x10 | 0x14 | 0x18 | 0x28),
        0x2000..=0x21FF => matches!(off & 0x3F, 0x0C | 0x10 | 0x18 | 0x28 | 0x38 | 0x3C),
        _ => false,
    }
}

/// What the Linux PF keeps for the VF (anatomy §3e), as plain data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PfSide {
    pub clear_to_send: bool,
    pub api: u32,
    pub mac: [u8; 6],
    pub mc: Vec<u16>,
    pub vlans: BTreeSet<u16>,
    pub macvlans: Vec<[u8; 6]>,
    pub xcast: u32,
    pub max_frame: u32,
    pub queues: u32,
    pub admin_mac: Option<[u8; 6]>,
    pub requests: u32,
}

#[derive(Default)]
pub struct State {
    pub regs: HashMap<u32, u32>,
    pub icr: u32,
    pub imask: u32,
    pub mbx: u32,
    pub mem: [u32; 16],
    /// Counters: 32-bit GPRC/GPTC/MPRC, 36-bit GORC/GOTC.
    pub gprc: u32,
    pub gptc: u32,
    pub mprc: u32,
    pub gorc: u64,
    pub gotc: u64,
    pub pf: PfSide,
    /// Extra PF messages to deliver after the VF ACKs the current one.
    pub outbox: Vec<Vec<u32>>,
}

pub struct FakeVf {
    pub s: RefCell<State>,
}

fn mac_from(w1: u32, w2: u32) -> [u8; 6] {
    let a = w1.to_le_bytes();
    let b = w2.to_le_bytes();
    [a[0], a[1], a[2], a[3], b[0], b[1]]
}

impl FakeVf {
    /// A fresh VF: counters and reset-surviving registers hold whatever `seed` says.
    pub fn new(seed: u64, queues: u32) -> Self {
        let mut s = State::default();
        let mut x = seed | 1;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for q in 0..8u32 {
            for base in [0x1000, 0x2000] {
                for r in [0x0C, 0x14, 0x28, 0x38, 0x3C] {
                    let off = base + q * 0x40 + r;
                    if survives_reset(off) {
                        // A previous tenant's values (ENABLE cleared: the PF quiesces).
                        s.regs.insert(off, (rnd() as u32) & !(1 << 25));
                    }
                }
            }
        }
        s.gprc = rnd() as u32;
        s.gptc = rnd() as u32;
        s.mprc = rnd() as u32;
        s.gorc = rnd() & 0xF_FFFF_FFFF;
        s.gotc = rnd() & 0xF_FFFF_FFFF;
        s.pf.queues = queues;
        s.pf.admin_mac = Some([2, 0xAA, 0, 0, 0, (seed & 0xFF) as u8]);
        FakeVf { s: RefCell::new(s) }
    }

    pub fn traffic(&self, rx: u32, rx_bytes: u32, tx: u32, tx_bytes: u32, mc: u32) {
        let mut s = self.s.borrow_mut();
        s.gprc = s.gprc.wrapping_add(rx);
        s.gptc = s.gptc.wrapping_add(tx);
        s.mprc = s.mprc.wrapping_add(mc);
        s.gorc = (s.gorc + u64::from(rx_bytes)) & 0xF_FFFF_FFFF;
        s.gotc = (s.gotc + u64::from(tx_bytes)) & 0xF_FFFF_FFFF;
    }

    pub fn raise(&self, bits: u32) {
        self.s.borrow_mut().icr |= bits & 7;
    }

    /// MSI-X for `bits` fires: VTEIAM auto-masks, VTEIAC auto-clears.
    pub fn fire(&self, bits: u32) {
        let mut s = self.s.borrow_mut();
        let eiam = *s.regs.get(&VTEIAM).unwrap_or(&0);
        let eiac = *s.regs.get(&VTEIAC).unwrap_or(&0);
        s.imask &= !(bits & eiam);
        s.icr &= !(bits & eiac);
    }

    /// The PF pings (link change).
    pub fn ping(&self, cts: bool) {
        let mut s = self.s.borrow_mut();
        s.mem = [0; 16];
        s.mem[0] = 0x100 | if cts { 0x2000_0000 } else { 0 };
        s.mbx |= PFSTS;
    }

    pub fn reg(&self, off: u32) -> u32 {
        let s = self.s.borrow();
        match off {
            VTEIMS => s.imask,
            VTEICR => s.icr,
            _ => *s.regs.get(&off).unwrap_or(&0),
        }
    }

    fn reset(s: &mut State) {
        s.regs.retain(|off, _| survives_reset(*off));
        s.icr = 0;
        s.imask = 0;
        s.mbx |= RSTD;
    }

    fn deliver(s: &mut State, words: &[u32]) {
        s.mem = [0; 16];
        s.mem[..words.len()].copy_from_slice(words);
        s.mbx |= PFSTS;
    }

    /// The PF's message task (ixgbe_rcv_msg_from_vf), simplified to what the VF uses.
    fn pf_receive(s: &mut State) {
        let m = s.mem;
        s.pf.requests += 1;
        s.mbx |= PFACK;
        let id = m[0] & 0xFFFF;
        let info = (m[0] >> 16) & 0xFF;
        let ack = |s: &mut State, data: &[u32]| {
            let mut w = vec![m[0] | 0x8000_0000 | 0x2000_0000];
            w.extend_from_slice(data);
            w.resize(16, 0);
            Self::deliver(s, &w);
        };
        let nack = |s: &mut State| Self::deliver(s, &[m[0] | 0x4000_0000 | 0x2000_0000]);
        if id == 1 {
            // VF_RESET: vf_reset_event, then reply with the admin MAC.
            let xcast = s.pf.xcast;
            let admin = s.pf.admin_mac;
            let queues = s.pf.queues;
            let mac = s.pf.mac;
            s.pf = PfSide {
                clear_to_send: true,
                xcast,
                admin_mac: admin,
                queues,
                mac,
                max_frame: s.pf.max_frame,
                requests: s.pf.requests,
                ..PfSide::default()
            };
            match admin {
                Some(a) => {
                    let w1 = u32::from_le_bytes([a[0], a[1], a[2], a[3]]);
                    let w2 = u32::from_le_bytes([a[4], a[5], 0, 0]);
                    Self::deliver(s, &[1 | 0x8000_0000, w1, w2, 0]);
                }
                None => Self::deliver(s, &[1 | 0x4000_0000, 0, 0, 0]),
            }
            return;
        }
        if !s.pf.clear_to_send {
            Self::deliver(s, &[m[0] | 0x4000_0000]);
            return;
        }
        match id {
            2 => {
                s.pf.mac = mac_from(m[1], m[2]);
                ack(s, &[])
            }
            3 => {
                s.pf.mc = (0..info as usize)
                    .map(|i| (m[1 + i / 2] >> (16 * (i % 2))) as u16)
                    .collect();
                ack(s, &[])
            }
            4 => {
                if info == 1 {
                    s.pf.vlans.insert(m[1] as u16);
                } else {
                    s.pf.vlans.remove(&(m[1] as u16));
                }
                ack(s, &[])
            }
            5 if (68..=9728).contains(&m[1]) => {
                s.pf.max_frame = m[1];
                ack(s, &[])
            }
            6 => {
                if info <= 1 {
                    s.pf.macvlans.clear();
                }
                if info >= 1 {
                    s.pf.macvlans.push(mac_from(m[1], m[2]));
                }
                ack(s, &[])
            }
            8 if [0, 2, 3, 4, 5, 7, 8].contains(&m[1]) => {
                s.pf.api = m[1];
                ack(s, &[])
            }
            9 if s.pf.api >= 2 => {
                let q = s.pf.queues;
                ack(s, &[q, q, 0, 0])
            }
            0x0c if s.pf.api >= 3 && m[1] <= 3 => {
                s.pf.xcast = m[1];
                ack(s, &[m[1]])
            }
            0x10 if s.pf.api >= 3 => ack(s, &[1]),
            0x12 if s.pf.api >= 8 => ack(s, &[m[1] & 1]),
            _ => nack(s),
        }
    }
}

impl RegisterIo for FakeVf {
    fn read32(&self, off: u32) -> u32 {
        let mut s = self.s.borrow_mut();
        match off {
            VTEICR => std::mem::take(&mut s.icr),
            VTEICS => s.icr,
            VTEIMS => s.imask,
            VFMAILBOX => {
                let v = s.mbx;
                s.mbx &= !(PFSTS | PFACK | RSTD);
                v
            }
            0x200..=0x23C => s.mem[((off - 0x200) / 4) as usize],
            GPRC => s.gprc,
            GPTC => s.gptc,
            MPRC => s.mprc,
            GORC_LSB => s.gorc as u32,
            GORC_MSB => (s.gorc >> 32) as u32,
            GOTC_LSB => s.gotc as u32,
            GOTC_MSB => (s.gotc >> 32) as u32,
            _ => *s.regs.get(&off).unwrap_or(&0),
        }
    }

    fn write32(&self, off: u32, value: u32) {
        let mut s = self.s.borrow_mut();
        match off {
            VFCTRL => {
                if value & (1 << 26) != 0 {
                    Self::reset(&mut s);
                }
            }
            VTEICR => s.icr &= !value,
            VTEICS => s.icr |= value & 7,
            VTEIMS => s.imask |= value & 7,
            VTEIMC => s.imask &= !value,
            VFMAILBOX => {
                if value & VFU != 0 {
                    if s.mbx & PFU == 0 {
                        s.mbx |= VFU;
                    }
                } else {
                    s.mbx &= !VFU;
                }
                if value & REQ != 0 {
                    Self::pf_receive(&mut s);
                }
                if value & ACK != 0 && !s.outbox.is_empty() {
                    let next = s.outbox.remove(0);
                    Self::deliver(&mut s, &next);
                }
            }
            0x200..=0x23C => {
                if s.mbx & VFU != 0 {
                    s.mem[((off - 0x200) / 4) as usize] = value;
                }
            }
            o if (0x2028..=0x21E8).contains(&o) && o & 0x3F == 0x28 => {
                s.regs.insert(o, value & !(1 << 26));
            }
            o => {
                s.regs.insert(o, value);
            }
        }
    }
}
