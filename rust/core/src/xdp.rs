// SPDX-License-Identifier: GPL-2.0

//! XDP on the Rx path: which programs and MTUs the driver can run them with, and what a
//! program's verdict asks of it.
//!
//! The driver runs XDP on single-buffer frames only: every Rx buffer starts after XDP's
//! headroom, so attaching a program needs no ring rebuild, but a frame must fit one buffer.

/// Bytes a frame carries beyond the MTU in an Rx buffer: the Ethernet header and one
/// 802.1Q tag (a tag the device did not strip stays in the frame).
pub const FRAME_HEADERS: u32 = 14 + 4;

/// Whether frames of an interface at `mtu` fit one Rx buffer of `buf_len` bytes.
pub const fn fits(mtu: u32, buf_len: u32) -> bool {
    match mtu.checked_add(FRAME_HEADERS) {
        Some(frame) => frame <= buf_len,
        None => false,
    }
}

/// The largest MTU at which XDP runs with Rx buffers of `buf_len` bytes.
pub const fn max_mtu(buf_len: u32) -> u32 {
    buf_len.saturating_sub(FRAME_HEADERS)
}

/// Why a program cannot be attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The program wants multi-buffer frames (`xdp.frags`); the driver has none to give.
    Frags,
    /// The MTU lets frames span several buffers.
    Mtu,
}

/// Whether a program may be attached to an interface at `mtu` with `buf_len`-byte buffers;
/// `frags` is the program's multi-buffer flag. Detaching (`attach` false) is always fine.
pub const fn check(attach: bool, frags: bool, mtu: u32, buf_len: u32) -> Result<(), Refusal> {
    if !attach {
        Ok(())
    } else if frags {
        Err(Refusal::Frags)
    } else if !fits(mtu, buf_len) {
        Err(Refusal::Mtu)
    } else {
        Ok(())
    }
}

/// A program's verdict (`enum xdp_action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The program failed: drop, with the exception tracepoint.
    Aborted,
    /// Drop.
    Drop,
    /// Hand the frame to the stack.
    Pass,
    /// Send the frame back out of the queue pair it came in on.
    Tx,
    /// The frame was redirected (the redirect is done where the program ran).
    Redirect,
    /// A value no XDP program may return: drop, with a warning.
    Invalid,
}

impl Verdict {
    /// Reads a verdict; anything beyond `XDP_REDIRECT` is [`Verdict::Invalid`].
    pub const fn decode(raw: u32) -> Verdict {
        match raw {
            0 => Verdict::Aborted,
            1 => Verdict::Drop,
            2 => Verdict::Pass,
            3 => Verdict::Tx,
            4 => Verdict::Redirect,
            _ => Verdict::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_1500_fits_a_2k_buffer_and_jumbo_does_not() {
        assert!(fits(1500, 2048));
        assert!(fits(max_mtu(2048), 2048));
        assert!(!fits(max_mtu(2048) + 1, 2048));
        assert!(!fits(9000, 2048));
        assert!(!fits(u32::MAX, 2048));
        assert_eq!(max_mtu(2048), 2030);
        assert_eq!(max_mtu(10), 0);
    }

    #[test]
    fn check_refuses_frags_then_mtu_and_never_a_detach() {
        assert_eq!(check(true, false, 1500, 2048), Ok(()));
        assert_eq!(check(true, true, 1500, 2048), Err(Refusal::Frags));
        assert_eq!(check(true, true, 9000, 2048), Err(Refusal::Frags));
        assert_eq!(check(true, false, 9000, 2048), Err(Refusal::Mtu));
        assert_eq!(check(false, true, 9000, 2048), Ok(()));
    }

    #[test]
    fn verdicts_decode_as_the_uapi_numbers_them() {
        let all = [
            Verdict::Aborted,
            Verdict::Drop,
            Verdict::Pass,
            Verdict::Tx,
            Verdict::Redirect,
        ];
        for (raw, v) in (0u32..).zip(all) {
            assert_eq!(Verdict::decode(raw), v);
        }
        assert_eq!(Verdict::decode(5), Verdict::Invalid);
        assert_eq!(Verdict::decode(u32::MAX), Verdict::Invalid);
    }
}
