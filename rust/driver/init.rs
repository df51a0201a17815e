// SPDX-License-Identifier: GPL-2.0

//! Bringing a VF up to a known state: reset it, open the PF session, agree an API version.
//!
//! The order is ixgbevf's (`ixgbevf_reset_hw_vf`, vf.c:64-123, then `ixgbevf_negotiate_api`,
//! main.c:2322-2346). The decisions (what to write, when a wait is over, whether a reply is
//! the one expected) are the core's state machines; this file only sleeps between their steps
//! and reports the outcome.

use crate::compsc_core::emul::{Emul, EmulError, RegisterIo};
use crate::compsc_core::mbx::{
    ApiNegotiation, ApiVersion, MacAddr, MbxError, MbxPhase, Reply, Request,
};
use crate::compsc_core::mbx_vf::{Budget, Poll, ResetWait, Transaction};
use crate::compsc_core::pf::PfState;
use crate::compsc_core::regs::{vfctrl, Reg};
use kernel::device::Bound;
use kernel::io::Io;
use kernel::pci;
use kernel::prelude::*;
use kernel::time::{delay, ClockSource, Delta, Monotonic};

/// Why bringing the VF up failed.
#[derive(Debug)]
pub(crate) enum InitError {
    /// A register access the core refused.
    Register(EmulError),
    /// The reset did not complete: RSTI stayed high or RSTD never came.
    Reset(MbxError),
    /// The PF did not answer VF_RESET as expected.
    Session(MbxError),
    /// The Hyper-V variant's MAC could not be read from config space.
    ConfigSpace(Error),
    /// The exchange proposing `api` failed without the PF refusing it (no answer, a
    /// garbled one): the session is not settled on an older API.
    Negotiation {
        /// The version proposed.
        api: ApiVersion,
        /// How the exchange failed.
        err: MbxError,
    },
    /// No API version was accepted; `last` is the PF's answer to 1.0.
    NoApi {
        /// The refusal of the oldest version.
        last: MbxError,
    },
}

impl kernel::fmt::Display for InitError {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        match self {
            InitError::Register(e) => write!(f, "register access refused: {e:?}"),
            InitError::Reset(e) => write!(f, "VF reset did not complete: {e:?}"),
            InitError::Session(e) => write!(f, "PF did not answer VF_RESET: {e:?}"),
            InitError::ConfigSpace(e) => write!(f, "cannot read the MAC from config space: {e:?}"),
            InitError::Negotiation { api, err } => write!(
                f,
                "proposing mailbox API {api:?} failed without a refusal: {err:?}"
            ),
            InitError::NoApi { last } => {
                write!(
                    f,
                    "PF accepted no mailbox API version (answer to 1.0: {last:?})"
                )
            }
        }
    }
}

impl From<InitError> for Error {
    fn from(e: InitError) -> Error {
        match e {
            InitError::Register(_) => EIO,
            InitError::Reset(MbxError::Timeout { .. }) => ETIMEDOUT,
            InitError::Negotiation {
                err: MbxError::Timeout { .. },
                ..
            } => ETIMEDOUT,
            InitError::Reset(_) | InitError::Session(_) | InitError::Negotiation { .. } => EIO,
            InitError::ConfigSpace(e) => e,
            InitError::NoApi { .. } => crate::compat::eopnotsupp(),
        }
    }
}

/// What the PF told us at session start.
pub(crate) struct Session {
    /// The address the PF assigned, if any (without one, ixgbevf picks a random address
    /// when it registers the netdev).
    pub(crate) mac: Option<MacAddr>,
    /// The negotiated mailbox API.
    pub(crate) api: ApiVersion,
    /// What the PF holds for us so far, recorded for replay (`PfState::note`).
    pub(crate) pf: PfState,
}

/// Upper bound on the steps of one machine, whatever it asks: a machine that keeps asking to
/// wait 0 µs must not spin the CPU for ever.
// TIMEOUT: the longest machine here waits at most 2 × 1 s in 500 µs polls (Budget::IXGBEVF),
// about 4000 steps; 20 000 leaves room for resends and strays.
const MAX_STEPS: u32 = 20_000;

/// Monotonic time in nanoseconds.
fn now_ns() -> i64 {
    Monotonic::ktime_get()
}

/// Drives one core machine: sleep what it asks, then report how long that took.
///
/// The wait reported is the longer of the one asked for and the one measured: a machine's
/// timeout never fires early (a sleep is at least what was asked), and a slow sleep (timer
/// slack, an emulated machine) does not stretch a one-second bound into many seconds.
fn drive<T, I: RegisterIo>(
    emul: &mut Emul<I>,
    mut step: impl FnMut(&mut Emul<I>, u32) -> Poll<T>,
) -> Result<T, MbxError> {
    let mut elapsed_us = 0;
    for _ in 0..MAX_STEPS {
        match step(emul, elapsed_us) {
            Poll::Done(r) => return r,
            Poll::Wait { us } => {
                let us = us.max(1);
                let start = now_ns();
                // Short waits spin like ixgbevf's udelay; longer ones sleep.
                if us < 20 {
                    delay::udelay(Delta::from_micros(i64::from(us)));
                } else {
                    delay::fsleep(Delta::from_micros(i64::from(us)));
                }
                // The clock is monotonic and starts at 0, so the difference is never negative;
                // wrapping keeps an impossible value from becoming a BUG().
                let measured_us = now_ns().wrapping_sub(start) / 1000;
                elapsed_us = u32::try_from(measured_us).unwrap_or(u32::MAX).max(us);
            }
        }
    }
    Err(MbxError::Timeout {
        phase: MbxPhase::Reply,
        waited_us: u32::MAX,
    })
}

/// One request/reply exchange with ixgbevf's bounds.
pub(crate) fn exchange<I: RegisterIo>(
    emul: &mut Emul<I>,
    request: Request,
) -> Result<Reply, MbxError> {
    exchange_noting(emul, request, &mut 0)
}

/// [`exchange`], adding to `malformed` the PF messages that were not well formed: those the
/// transaction skipped while waiting, and the one it failed on.
pub(crate) fn exchange_noting<I: RegisterIo>(
    emul: &mut Emul<I>,
    request: Request,
    malformed: &mut u64,
) -> Result<Reply, MbxError> {
    let mut t = Transaction::new(request, Budget::IXGBEVF);
    let r = drive(emul, |e, us| t.poll(e, us));
    let failed = r.as_ref().err().is_some_and(MbxError::is_malformed);
    *malformed = malformed
        .wrapping_add(u64::from(t.strays()))
        .wrapping_add(u64::from(failed));
    r
}

/// Resets the VF and opens the PF session: VFCTRL.RST, wait for the reset handshake, VF_RESET
/// for the MAC, then the newest API version the PF accepts.
pub(crate) fn reset_and_open<I: RegisterIo>(emul: &mut Emul<I>) -> Result<Session, InitError> {
    // ixgbevf_stop_hw_vf: mask every interrupt before the reset.
    emul.write(Reg::VTEIMC, 0, u32::MAX)
        .map_err(InitError::Register)?;
    emul.write(Reg::VFCTRL, 0, vfctrl::RST)
        .map_err(InitError::Register)?;
    let mut wait = ResetWait::new(ResetWait::IXGBEVF_LIMIT_US);
    drive(emul, |e, us| wait.poll(e, us)).map_err(InitError::Reset)?;

    let mut pf = PfState::default();
    let reply = exchange(emul, Request::Reset).map_err(InitError::Session)?;
    let mac = match reply {
        Reply::Reset { mac, .. } => mac.filter(MacAddr::is_valid_unicast),
        _ => return Err(InitError::Session(MbxError::Empty)),
    };
    // The PF's answer is what a destination must be told again; a reply of the right kind
    // always records.
    let _ = pf.note(&Request::Reset, &reply);

    let mut last = MbxError::Empty;
    let mut negotiation = ApiNegotiation::new(ApiVersion::V1_7);
    while let Some(api) = negotiation.current() {
        match exchange(emul, Request::ApiNegotiate(api)) {
            Ok(Reply::Ack) => {
                let _ = pf.note(&Request::ApiNegotiate(api), &Reply::Ack);
                // The queue grant (ixgbevf_get_queues); without one the VF uses one pair.
                if api.has_get_queues() {
                    if let Ok(r) = exchange(emul, Request::GetQueues) {
                        let _ = pf.note(&Request::GetQueues, &r);
                    }
                }
                return Ok(Session { mac, api, pf });
            }
            // An answer that is not one: the exchange failed.
            Ok(_) => {
                return Err(InitError::Negotiation {
                    api,
                    err: MbxError::Empty,
                })
            }
            Err(e) => {
                if !negotiation.failed(&e) {
                    return Err(InitError::Negotiation { api, err: e });
                }
                last = e;
            }
        }
    }
    Err(InitError::NoApi { last })
}

/// Where the Hyper-V variants find their MAC in config space (`IXGBE_HV_RESET_OFFSET`).
const HV_MAC_OFFSET: usize = 0x201;

/// The Hyper-V variants' bring-up (`ixgbevf_hv_reset_hw_vf`, vf.c:132-147): there is no PF
/// mailbox; the host publishes the permanent MAC in extended config space at 0x201, and the
/// API is 1.0 by definition (`ixgbevf_hv_negotiate_api_version_vf`).
pub(crate) fn hyperv_session(pdev: &pci::Device<Bound>) -> Result<Session, InitError> {
    let config = pdev
        .config_space_extended()
        .map_err(InitError::ConfigSpace)?;
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        let at = HV_MAC_OFFSET
            .checked_add(i)
            .ok_or(InitError::ConfigSpace(EINVAL))?;
        *byte = config.try_read8(at).map_err(InitError::ConfigSpace)?;
    }
    Ok(Session {
        mac: Some(MacAddr(mac)).filter(MacAddr::is_valid_unicast),
        api: ApiVersion::V1_0,
        pf: PfState::default(),
    })
}
