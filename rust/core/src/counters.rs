//! Counter continuity: 64-bit values that stay continuous and wrap-correct over the VF's
//! free-running 32- and 36-bit statistics counters, across VF resets and VF swaps.
//!
//! The hardware counters are not clear-on-read and wrap (anatomy §2). ixgbevf extends them
//! with `UPDATE_VF_COUNTER_32bit/_36bit` (main.c:3161-3182). A destination VF's counters
//! start anywhere, so reusing the source's last raw value would inject a spurious 2^32 or
//! 2^36; the remedy is to keep the logical value and only re-baseline the raw value
//! ([`Counter::rebase`]), which is anatomy §2's `base = H - L` recipe written without the
//! base field.

use super::emul::{copy_bytes, le32, Emul, EmulError, RegisterIo};
use super::regs::Reg;

/// The statistics counters of the VF (anatomy §1e).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterId {
    /// Good packets received.
    Gprc,
    /// Good packets transmitted.
    Gptc,
    /// Good octets received (36 bits).
    Gorc,
    /// Good octets transmitted (36 bits).
    Gotc,
    /// Multicast packets received; the only one users see (`stats->multicast`).
    Mprc,
}

/// Where a counter lives and how wide it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterDesc {
    /// Which counter.
    pub id: CounterId,
    /// Register with bits 31:0.
    pub lsb: Reg,
    /// Register with the bits above 31, for 36-bit counters.
    pub msb: Option<Reg>,
    /// Width in bits: 32 or 36.
    pub width: u32,
}

/// The counters, in [`CounterId`] order.
pub const COUNTERS: [CounterDesc; 5] = [
    CounterDesc {
        id: CounterId::Gprc,
        lsb: Reg::VFGPRC,
        msb: None,
        width: 32,
    },
    CounterDesc {
        id: CounterId::Gptc,
        lsb: Reg::VFGPTC,
        msb: None,
        width: 32,
    },
    CounterDesc {
        id: CounterId::Gorc,
        lsb: Reg::VFGORC_LSB,
        msb: Some(Reg::VFGORC_MSB),
        width: 36,
    },
    CounterDesc {
        id: CounterId::Gotc,
        lsb: Reg::VFGOTC_LSB,
        msb: Some(Reg::VFGOTC_MSB),
        width: 36,
    },
    CounterDesc {
        id: CounterId::Mprc,
        lsb: Reg::VFMPRC,
        msb: None,
        width: 32,
    },
];

impl CounterDesc {
    /// Mask of the implemented bits.
    pub const fn mask(&self) -> u64 {
        match 1u64.checked_shl(self.width) {
            // bit >= 1: the subtraction cannot wrap.
            Some(bit) => bit.wrapping_sub(1),
            None => u64::MAX,
        }
    }

    /// Reads the raw hardware value.
    ///
    /// A 36-bit counter is split over two registers with no documented latch ([DS], anatomy
    /// §1e), so a carry between the two reads could tear the value by 2^32. Reading MSB, LSB,
    /// MSB and accepting the pair only when both MSB reads agree is right whether or not the
    /// hardware latches MSB on the LSB read: without a latch, equal MSBs bracket the LSB read;
    /// with one, the second MSB read returns the value latched with that LSB.
    pub fn sample<I: RegisterIo>(&self, emul: &mut Emul<I>) -> Result<u64, EmulError> {
        let Some(msb_reg) = self.msb else {
            return Ok(u64::from(emul.read(self.lsb, 0)?) & self.mask());
        };
        let mut msb = emul.read(msb_reg, 0)?;
        let mut lsb = emul.read(self.lsb, 0)?;
        // TIMEOUT: a carry out of 32 bits needs 2^32 octets, seconds at 10 Gb/s, so two MSB
        // reads microseconds apart differ at most once; three rounds bound a flapping read.
        for _ in 0..3 {
            let again = emul.read(msb_reg, 0)?;
            if again == msb {
                break;
            }
            msb = again;
            lsb = emul.read(self.lsb, 0)?;
        }
        Ok(((u64::from(msb) << 32) | u64::from(lsb)) & self.mask())
    }
}

/// One counter's continuity state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    value: u64,
    last_raw: u64,
}

impl Counter {
    /// The continuous 64-bit value.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// The raw value last seen.
    pub fn last_raw(&self) -> u64 {
        self.last_raw
    }

    /// Folds a new raw value in: adds the distance since the last one modulo 2^width.
    ///
    /// Correct as long as the counter wraps at most once between updates (ixgbevf updates
    /// every 2 s; 2^32 packets or 2^36 octets take far longer at 10 Gb/s).
    pub fn update(&mut self, desc: &CounterDesc, raw: u64) -> u64 {
        let raw = raw & desc.mask();
        let delta = raw.wrapping_sub(self.last_raw) & desc.mask();
        self.value = self.value.wrapping_add(delta);
        self.last_raw = raw;
        self.value
    }

    /// Re-baselines on a counter that started elsewhere (a destination VF, or this VF after
    /// a reset that may have cleared it): the value stays, the next delta counts from `raw`.
    pub fn rebase(&mut self, desc: &CounterDesc, raw: u64) {
        self.last_raw = raw & desc.mask();
    }
}

/// Bytes of encoded [`Counters`].
pub const COUNTERS_BYTES: usize = COUNTERS.len() * 16;

/// Why encoded counters were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountersDecodeError {
    /// Not exactly [`COUNTERS_BYTES`] bytes.
    Length {
        /// Bytes given.
        got: usize,
    },
    /// A raw value has bits above the counter's width.
    RawTooWide {
        /// Which counter.
        id: CounterId,
    },
}

/// All counters of the VF.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    counters: [Counter; COUNTERS.len()],
}

impl Counters {
    /// One counter.
    pub fn get(&self, id: CounterId) -> Counter {
        self.counters
            .iter()
            .zip(COUNTERS.iter())
            .find(|(_, d)| d.id == id)
            .map(|(c, _)| *c)
            .unwrap_or_default()
    }

    /// Samples every counter and folds it in (ixgbevf_update_stats).
    pub fn update<I: RegisterIo>(&mut self, emul: &mut Emul<I>) -> Result<(), EmulError> {
        for (c, d) in self.counters.iter_mut().zip(COUNTERS.iter()) {
            let raw = d.sample(emul)?;
            c.update(d, raw);
        }
        Ok(())
    }

    /// Samples every counter and re-baselines on it, keeping the values.
    pub fn rebase<I: RegisterIo>(&mut self, emul: &mut Emul<I>) -> Result<(), EmulError> {
        for (c, d) in self.counters.iter_mut().zip(COUNTERS.iter()) {
            let raw = d.sample(emul)?;
            c.rebase(d, raw);
        }
        Ok(())
    }

    /// Encodes value and last raw value of each counter, little endian.
    pub fn encode(&self, out: &mut [u8; COUNTERS_BYTES]) {
        for (chunk, c) in out.chunks_exact_mut(16).zip(self.counters.iter()) {
            if let Some((v, r)) = chunk.split_at_mut_checked(8) {
                copy_bytes(v, &c.value.to_le_bytes());
                copy_bytes(r, &c.last_raw.to_le_bytes());
            }
        }
    }

    /// Decodes counters written by [`Counters::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Counters, CountersDecodeError> {
        if bytes.len() != COUNTERS_BYTES {
            return Err(CountersDecodeError::Length { got: bytes.len() });
        }
        let mut out = Counters::default();
        for ((chunk, c), d) in bytes
            .chunks_exact(16)
            .zip(out.counters.iter_mut())
            .zip(COUNTERS.iter())
        {
            let (v, r) = chunk.split_at_checked(8).unwrap_or((chunk, &[]));
            c.value = le64(v);
            c.last_raw = le64(r);
            if c.last_raw & !d.mask() != 0 {
                return Err(CountersDecodeError::RawTooWide { id: d.id });
            }
        }
        Ok(out)
    }
}

fn le64(bytes: &[u8]) -> u64 {
    let (lo, hi) = bytes.split_at_checked(4).unwrap_or((bytes, &[]));
    u64::from(le32(lo)) | (u64::from(le32(hi)) << 32)
}

#[cfg(test)]
mod tests {
    use super::super::mac::MAC_82599;
    use super::*;
    use std::cell::Cell;

    const GPRC: CounterDesc = COUNTERS[0];
    const GORC: CounterDesc = COUNTERS[2];

    #[test]
    fn wraps_at_32_and_36_bits() {
        // (desc, start raw, raws seen, expected value after each)
        let cases: [(CounterDesc, u64, &[u64], &[u64]); 3] = [
            (
                GPRC,
                0xFFFF_FFF0,
                &[0xFFFF_FFFF, 0x5, 0x5, 0x10],
                &[15, 21, 21, 32],
            ),
            (
                GORC,
                0xF_FFFF_FFF0,
                &[0x0_0000_0010, 0x1_0000_0000],
                &[0x20, 0x1_0000_0010],
            ),
            // Bits above the width are ignored, not added.
            (GPRC, 0, &[0x1_0000_0003], &[3]),
        ];
        for (d, start, raws, want) in cases {
            let mut c = Counter::default();
            c.rebase(&d, start);
            let got: Vec<u64> = raws.iter().map(|r| c.update(&d, *r)).collect();
            assert_eq!(got, want, "{:?}", d.id);
        }
    }

    #[test]
    fn swap_keeps_the_value() {
        let mut c = Counter::default();
        c.rebase(&GORC, 100);
        c.update(&GORC, 1100);
        // Destination starts near its wrap point.
        c.rebase(&GORC, 0xF_FFFF_FF00);
        assert_eq!(c.value(), 1000);
        assert_eq!(c.update(&GORC, 0x0_0000_0100), 1000 + 0x200);
    }

    /// A split counter whose LSB carries into the MSB between two reads.
    struct Tearing {
        lsb: Cell<u32>,
        msb: Cell<u32>,
        step: u32,
    }
    impl RegisterIo for Tearing {
        fn read32(&self, offset: u32) -> u32 {
            match offset {
                0x1020 => {
                    let v = self.lsb.get();
                    let (n, carry) = v.overflowing_add(self.step);
                    self.lsb.set(n);
                    if carry {
                        self.msb.set((self.msb.get() + 1) & 0xF);
                    }
                    v
                }
                0x1024 => self.msb.get(),
                _ => 0,
            }
        }
        fn write32(&self, _: u32, _: u32) {}
    }

    #[test]
    fn split_read_is_not_torn_by_a_carry() {
        for start in [0xFFFF_FFF0u32, 0xFFFF_FFFF, 0x10] {
            let dev = Tearing {
                lsb: Cell::new(start),
                msb: Cell::new(3),
                step: 0x20,
            };
            let mut e = Emul::new(&dev, &MAC_82599);
            let v = GORC.sample(&mut e).unwrap();
            let lo = v & 0xFFFF_FFFF;
            // The pair must be consistent: a value the counter really held.
            let expect_msb = if lo < 0x20 && start > 0xFFFF_FF00 {
                4
            } else {
                3
            };
            assert_eq!(v >> 32, expect_msb, "start {start:#x} got {v:#x}");
        }
    }

    #[test]
    fn encode_round_trip_and_rejects() {
        let mut cs = Counters::default();
        cs.counters[2].update(&GORC, 0xA_0000_0001);
        let mut b = [0u8; COUNTERS_BYTES];
        cs.encode(&mut b);
        assert_eq!(Counters::decode(&b), Ok(cs));
        assert_eq!(
            Counters::decode(&b[..5]),
            Err(CountersDecodeError::Length { got: 5 })
        );
        b[8 + 4] = 0xFF; // GPRC last_raw bit 32+
        assert_eq!(
            Counters::decode(&b),
            Err(CountersDecodeError::RawTooWide {
                id: CounterId::Gprc
            })
        );
    }
}
