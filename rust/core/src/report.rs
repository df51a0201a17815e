//! The self-emulation state as a person reads it, and as `ethtool -d` dumps it.
//!
//! The driver's debugfs files print [`write_log`], [`write_pf`] and [`write_counters`]; its
//! `get_regs` fills [`dump`]. Both walk [`regs::TABLE`], so a row added there shows up here
//! without a line of code: the table stays the one place that names a register.

use super::counters::{Counters, COUNTERS};
use super::emul::{Emul, EmulLog, RegisterIo};
use super::mbx::MacAddr;
use super::pf::PfState;
use super::regs::{self, Access};
use core::fmt::{self, Write};

/// Version of the [`dump`] layout, reported as `ethtool -d`'s version word.
pub const DUMP_VERSION: u32 = 1;

/// Words of a [`dump`]: one per instance of every row, in table order.
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    reason = "evaluated at compile time"
)]
pub const DUMP_WORDS: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < regs::TABLE.len() {
        n += regs::TABLE[i].count as usize;
        i += 1;
    }
    n
};

/// Where the value of one dumped instance comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Read from the device (a read without side effect that returns what it holds).
    Device,
    /// The self-emulation log: the device cannot give it back (write-only, set/clear, or a
    /// read would clear it).
    Log,
    /// Not implemented by this MAC: 0.
    Absent,
}

/// Where [`dump`] takes `desc`'s value from on `emul`'s MAC.
pub fn source<I: RegisterIo>(emul: &Emul<I>, desc: &regs::RegDesc) -> Source {
    if !emul.mac().implements(desc.presence) {
        Source::Absent
    } else if desc.access.hides_written_value() {
        Source::Log
    } else {
        Source::Device
    }
}

/// Fills `out` with the register dump: every instance of every row in table order
/// ([`DUMP_WORDS`] words; a shorter `out` gets a prefix). Rows whose read has a side
/// effect are never read: their value is the log's (pending causes for read-clear rows).
/// Returns the words written.
pub fn dump<I: RegisterIo>(emul: &mut Emul<I>, out: &mut [u32]) -> usize {
    let mut slots = out.iter_mut();
    let mut n = 0usize;
    for desc in regs::TABLE.iter() {
        let src = source(emul, desc);
        for i in 0..desc.count {
            let Some(slot) = slots.next() else {
                return n;
            };
            *slot = match src {
                Source::Absent => 0,
                Source::Log => match desc.access {
                    Access::ReadClear { .. } => emul.log().pending(desc.reg),
                    _ => emul.log().value(desc.reg, i).unwrap_or(0),
                },
                Source::Device => emul.read(desc.reg, i).unwrap_or(0),
            };
            n = n.saturating_add(1);
        }
    }
    n
}

/// The log, one line per register instance it keeps:
/// `VTEITR[0]        0x800000c8  logged    written`. Instances not written since the last VF
/// reset print `-`; read-clear rows print the causes read and not yet consumed.
pub fn write_log(log: &EmulLog, out: &mut impl Write) -> fmt::Result {
    writeln!(out, "# register[index]  value  class  state")?;
    for desc in regs::TABLE.iter() {
        let class = class_name(desc.class);
        for i in 0..desc.logged_count() {
            let name = Indexed(desc.name, desc.count, i);
            if let Access::ReadClear { .. } = desc.access {
                let p = log.pending(desc.reg);
                writeln!(out, "{name:<16} {p:#010x}  {class:<8}  pending causes")?;
                continue;
            }
            match log.value(desc.reg, i) {
                Some(v) => writeln!(out, "{name:<16} {v:#010x}  {class:<8}  written")?,
                None => writeln!(out, "{name:<16} {:<10}  {class:<8}  not written", "-")?,
            }
        }
    }
    Ok(())
}

/// What the PF holds at the driver's request (what a destination VF gets replayed).
pub fn write_pf(pf: &PfState, out: &mut impl Write) -> fmt::Result {
    writeln!(out, "api            {:?}", pf.api)?;
    writeln!(out, "features       {:#x}", pf.features)?;
    write!(out, "perm_mac       ")?;
    write_mac(pf.perm_mac, out)?;
    write!(out, "\nmac            ")?;
    write_mac(pf.mac, out)?;
    writeln!(out, "\nmc_filter_type {}", pf.mc_filter_type)?;
    write!(out, "mc_hashes     ")?;
    for h in pf.mc.hashes() {
        write!(out, " {h:#05x}")?;
    }
    writeln!(out)?;
    match pf.xcast {
        Some(x) => writeln!(out, "xcast          {x:?}")?,
        None => writeln!(out, "xcast          -")?,
    }
    match pf.max_frame {
        Some(f) => writeln!(out, "max_frame      {f}")?,
        None => writeln!(out, "max_frame      -")?,
    }
    match pf.queues {
        Some(q) => writeln!(
            out,
            "queues         tx {} rx {} tcs {} default {}",
            q.max_tx, q.max_rx, q.num_tcs, q.default_queue
        )?,
        None => writeln!(out, "queues         -")?,
    }
    writeln!(out, "link_enabled   {}", pf.link_enabled)?;
    write!(out, "vlans         ")?;
    for v in pf.vlans() {
        write!(out, " {v}")?;
    }
    write!(out, "\nmacvlans      ")?;
    for m in pf.macvlans() {
        write!(out, " ")?;
        write_mac(Some(*m), out)?;
    }
    writeln!(out)
}

/// The hardware counters: the continuous value and the raw value it is based on.
pub fn write_counters(c: &Counters, out: &mut impl Write) -> fmt::Result {
    writeln!(out, "# counter  value  last_raw (width)")?;
    for d in COUNTERS.iter() {
        let v = c.get(d.id);
        writeln!(
            out,
            "{:<6} {:>14} {:>14} ({} bits)",
            counter_name(d.lsb),
            v.value(),
            v.last_raw(),
            d.width
        )?;
    }
    Ok(())
}

/// The counter's name without the `VF` prefix and the `_LSB` suffix: `GORC`.
fn counter_name(lsb: regs::Reg) -> &'static str {
    let n = lsb.desc().name;
    let n = n.strip_prefix("VF").unwrap_or(n);
    n.strip_suffix("_LSB").unwrap_or(n)
}

fn class_name(c: regs::Class) -> &'static str {
    match c {
        regs::Class::Static => "static",
        regs::Class::ReadBack => "readback",
        regs::Class::Logged => "logged",
        regs::Class::Replayed => "replayed",
        regs::Class::Counter => "counter",
    }
}

fn write_mac(m: Option<MacAddr>, out: &mut impl Write) -> fmt::Result {
    match m {
        Some(MacAddr([a, b, c, d, e, f])) => {
            write!(out, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
        }
        None => write!(out, "-"),
    }
}

/// `NAME` for a single register, `NAME[i]` for an array.
struct Indexed(&'static str, u32, u32);

impl fmt::Display for Indexed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Padding applies to the whole name: format it first into a small buffer.
        let mut buf = Buf::default();
        if self.1 > 1 {
            write!(buf, "{}[{}]", self.0, self.2)?;
        } else {
            write!(buf, "{}", self.0)?;
        }
        f.pad(buf.as_str())
    }
}

/// A fixed buffer for a register name with its index.
#[derive(Default)]
struct Buf {
    b: [u8; 32],
    n: usize,
}

impl Buf {
    fn as_str(&self) -> &str {
        self.b
            .get(..self.n)
            .and_then(|s| core::str::from_utf8(s).ok())
            .unwrap_or("")
    }
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.n.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.b.get_mut(self.n..end).ok_or(fmt::Error)?;
        for (d, c) in dst.iter_mut().zip(s.bytes()) {
            *d = c;
        }
        self.n = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::mac::{MAC_82599, MAC_X550};
    use super::super::regs::Reg;
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        regs: RefCell<HashMap<u32, u32>>,
        reads: RefCell<Vec<u32>>,
    }

    impl RegisterIo for Fake {
        fn read32(&self, offset: u32) -> u32 {
            self.reads.borrow_mut().push(offset);
            *self.regs.borrow().get(&offset).unwrap_or(&0)
        }
        fn write32(&self, offset: u32, value: u32) {
            self.regs.borrow_mut().insert(offset, value);
        }
    }

    fn index_of(reg: Reg, i: u32) -> usize {
        let before: u32 = regs::TABLE
            .iter()
            .take_while(|d| d.reg != reg)
            .map(|d| d.count)
            .sum();
        (before + i) as usize
    }

    #[test]
    fn dump_reads_the_device_and_takes_hidden_values_from_the_log() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_82599);
        e.write(Reg::VFRDLEN, 1, 0x2000).unwrap();
        e.write(Reg::VTEIMS, 0, 0x3).unwrap();
        e.write(Reg::VTEIMC, 0, 0x1).unwrap();
        // VTEIMS reads back the device's mask (auto-mask cleared it): the dump shows that.
        fake.regs.borrow_mut().insert(0x0108, 0);
        fake.regs.borrow_mut().insert(0x0100, 0x5);
        let mut out = vec![0xdead_beef; DUMP_WORDS];
        assert_eq!(dump(&mut e, &mut out), DUMP_WORDS);
        assert_eq!(out[index_of(Reg::VFRDLEN, 1)], 0x2000);
        assert_eq!(out[index_of(Reg::VTEIMS, 0)], 0);
        // VTEIMC is write-1-to-clear: nothing to read back.
        assert_eq!(out[index_of(Reg::VTEIMC, 0)], 0);
        assert!(!fake.reads.borrow().contains(&0x010C));
        // VTEICR is read-clear: never read by the dump, so its causes stay on the device.
        assert!(!fake.reads.borrow().contains(&0x0100));
        assert!(!fake.reads.borrow().contains(&0x02FC));
        assert_eq!(out[index_of(Reg::VTEICR, 0)], 0);
        // RSS rows do not exist on the 82599: zeros, never read.
        assert_eq!(out[index_of(Reg::VFRETA, 3)], 0);
        assert!(!fake.reads.borrow().contains(&0x3200));
    }

    #[test]
    fn dump_reads_rss_rows_where_the_vf_owns_them() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_X550);
        e.write(Reg::VFRETA, 3, 0x0101_0101).unwrap();
        let mut out = vec![0; DUMP_WORDS];
        dump(&mut e, &mut out);
        assert_eq!(out[index_of(Reg::VFRETA, 3)], 0x0101_0101);
    }

    #[test]
    fn a_short_buffer_gets_a_prefix() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_82599);
        let mut out = [0u32; 3];
        assert_eq!(dump(&mut e, &mut out), 3);
    }

    #[test]
    fn the_log_text_names_each_kept_instance() {
        let fake = Fake::default();
        let mut e = Emul::new(&fake, &MAC_82599);
        e.write(Reg::VTEITR, 0, 0x8000_00c8).unwrap();
        let mut s = String::new();
        write_log(e.log(), &mut s).unwrap();
        assert!(
            s.contains("VTEITR[0]        0x800000c8  logged    written"),
            "{s}"
        );
        assert!(
            s.contains("VTEITR[1]        -           logged    not written"),
            "{s}"
        );
        assert!(
            s.contains("VFMAILBOX        0x00000000  logged    pending causes"),
            "{s}"
        );
        let rows = s.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(rows, regs::LOG_WORDS);
    }

    #[test]
    fn pf_and_counter_text() {
        let mut pf = PfState::default();
        pf.mac = Some(MacAddr([2, 0, 0, 0xe2, 0xe0, 1]));
        pf.max_frame = Some(9018);
        let mut s = String::new();
        write_pf(&pf, &mut s).unwrap();
        assert!(s.contains("mac            02:00:00:e2:e0:01"), "{s}");
        assert!(s.contains("max_frame      9018"), "{s}");
        assert!(s.contains("perm_mac       -"), "{s}");
        let mut s = String::new();
        write_counters(&Counters::default(), &mut s).unwrap();
        assert!(s.contains("GORC"), "{s}");
        assert!(s.contains("(36 bits)"), "{s}");
        assert_eq!(s.lines().count(), 1 + COUNTERS.len());
    }
}
