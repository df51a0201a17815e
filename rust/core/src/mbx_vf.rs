//! The VF side of the PF mailbox protocol as state machines that never sleep.
//!
//! This is ixgbevf's legacy mailbox flavour (`ixgbevf_mbx_ops_legacy`, mbx.c:499-507), the
//! one that runs against every Linux PF (anatomy §3d): take VFU, drop stale PFSTS/PFACK,
//! copy the request into VFMBMEM, pulse REQ (which releases VFU), poll PFSTS, take VFU,
//! copy the reply out, pulse ACK. Each machine is driven by [`Transaction::poll`]: the driver
//! passes the microseconds it actually waited since the previous call, the machine does the
//! register work of one step and answers "wait this long" or "done". Timeouts are therefore
//! inputs, and a test can play any interleaving of PF behaviour and elapsed time.
//!
//! Beyond upstream, a reply is checked against the request (id and MSGINFO, see
//! [`Request::decode_reply`]), and the known hazard of a PF ping overwriting a pending
//! request (anatomy §3b, "Races") is recovered by re-sending idempotent requests.
//!
//! Callers must serialise transactions (ixgbevf's `mbx_lock`).

use super::emul::{Emul, RegisterIo};
use super::mbx::{MbxError, MbxPhase, PfMessage, Reply, Request, MBX_WORDS, MSG_FAILURE};
use super::regs::{vfmailbox, Reg};

/// Wait bounds, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Poll period for lock and reply waits.
    pub poll_us: u32,
    /// Give up taking VFU after this long.
    pub lock_us: u32,
    /// Give up waiting for PFSTS after this long.
    pub reply_us: u32,
    /// How many times a request lost to a ping or to silence is sent again.
    pub resends: u8,
    /// How many unrelated messages (pings, stale or duplicated replies) are skipped.
    pub strays: u8,
}

impl Budget {
    /// ixgbevf's bounds: 2000 polls of 500 µs for each wait (`IXGBE_VF_MBX_INIT_TIMEOUT`,
    /// `IXGBE_VF_MBX_INIT_DELAY`, mbx.h:120-121).
    // TIMEOUT: the PF answers from its mailbox interrupt task; upstream allows 1 s per wait.
    pub const IXGBEVF: Budget = Budget {
        poll_us: 500,
        lock_us: 1_000_000,
        reply_us: 1_000_000,
        resends: 2,
        strays: 4,
    };

    /// The mailbox frozen on purpose (ixgbevf's `mbx.timeout = 0`, main.c:2237-2241).
    pub const FROZEN: Budget = Budget {
        poll_us: 0,
        lock_us: 0,
        reply_us: 0,
        resends: 0,
        strays: 0,
    };
}

/// What the driver does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll<T> {
    /// Wait about this long, then call `poll` again with the time really waited.
    Wait {
        /// Suggested delay.
        us: u32,
    },
    /// Finished.
    Done(Result<T, MbxError>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Lock,
    AwaitReply,
    LockForRead,
    Finished,
}

/// One request/reply exchange.
#[derive(Clone, Debug)]
pub struct Transaction {
    request: Request,
    budget: Budget,
    state: State,
    /// Time spent in the current wait.
    waited_us: u32,
    /// The PF has taken our request out of the buffer (PFACK seen).
    pf_read_request: bool,
    resends: u8,
    strays: u8,
    ping: Option<PfMessage>,
    /// The next wait: starts short after each step and doubles up to `budget.poll_us`.
    wait_us: u32,
}

/// The first wait after a step: the Linux PF answers from its mailbox interrupt, often
/// within microseconds, and a reply seen at once saves a whole `poll_us` per exchange (a
/// restore makes ten of them). A PF that takes longer is then polled at ixgbevf's pace.
const FIRST_WAIT_US: u32 = 10;

impl Transaction {
    /// Messages skipped while waiting for the reply because they answered something else or
    /// were not replies at all (a stale, duplicated or garbage message from the PF).
    pub fn strays(&self) -> u8 {
        self.strays
    }

    /// Starts an exchange; nothing is written until the first [`Transaction::poll`].
    pub fn new(request: Request, budget: Budget) -> Self {
        Transaction {
            request,
            budget,
            state: State::Lock,
            waited_us: 0,
            pf_read_request: false,
            resends: 0,
            strays: 0,
            ping: None,
            wait_us: FIRST_WAIT_US,
        }
    }

    /// The next wait of the current step (10 µs, doubling up to the budget's poll).
    fn backoff(&mut self) -> Poll<Reply> {
        let us = self.wait_us.min(self.budget.poll_us);
        self.wait_us = self.wait_us.saturating_mul(2);
        Poll::Wait { us }
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The last PF ping seen during the exchange; without CTS the driver must reset the VF
    /// session (anatomy §3c, "PF-initiated VF re-init handshake").
    pub fn ping_seen(&self) -> Option<PfMessage> {
        self.ping
    }

    fn wait(&mut self, limit_us: u32, phase: MbxPhase) -> Poll<Reply> {
        if self.waited_us >= limit_us {
            self.state = State::Finished;
            return Poll::Done(Err(if limit_us == 0 {
                MbxError::Frozen
            } else {
                MbxError::Timeout {
                    phase,
                    waited_us: self.waited_us,
                }
            }));
        }
        self.backoff()
    }

    fn finish(&mut self, result: Result<Reply, MbxError>) -> Poll<Reply> {
        self.state = State::Finished;
        Poll::Done(result)
    }

    /// Advances the exchange. `elapsed_us` is the time since the previous call (0 on the
    /// first).
    pub fn poll<I: RegisterIo>(&mut self, emul: &mut Emul<I>, elapsed_us: u32) -> Poll<Reply> {
        self.waited_us = self.waited_us.saturating_add(elapsed_us);
        match self.state {
            State::Finished => Poll::Done(Err(MbxError::Busy)),
            State::Lock => match take_vfu(emul) {
                Err(e) => self.finish(Err(e)),
                Ok(false) => self.wait(self.budget.lock_us, MbxPhase::Lock),
                Ok(true) => {
                    let sent = self.send(emul);
                    if let Err(e) = sent {
                        return self.finish(Err(e));
                    }
                    self.state = State::AwaitReply;
                    self.waited_us = 0;
                    self.pf_read_request = false;
                    self.wait_us = FIRST_WAIT_US;
                    self.backoff()
                }
            },
            State::AwaitReply => {
                let mailbox = match emul.read(Reg::VFMAILBOX, 0) {
                    Ok(v) => v,
                    Err(e) => return self.finish(Err(e.into())),
                };
                if mailbox & vfmailbox::PFACK != 0 {
                    emul.log_mut().consume(Reg::VFMAILBOX, vfmailbox::PFACK);
                    self.pf_read_request = true;
                }
                if mailbox & vfmailbox::PFSTS == 0 {
                    if self.waited_us >= self.budget.reply_us {
                        return self.resend_or(
                            MbxError::Timeout {
                                phase: MbxPhase::Reply,
                                waited_us: self.waited_us,
                            },
                            emul,
                        );
                    }
                    return self.wait(self.budget.reply_us, MbxPhase::Reply);
                }
                self.state = State::LockForRead;
                self.waited_us = 0;
                self.wait_us = FIRST_WAIT_US;
                self.poll(emul, 0)
            }
            State::LockForRead => match take_vfu(emul) {
                Err(e) => self.finish(Err(e)),
                Ok(false) => self.wait(self.budget.lock_us, MbxPhase::Lock),
                Ok(true) => {
                    let mut words = [0u32; MBX_WORDS];
                    let n = self.request.reply_words().min(MBX_WORDS);
                    let read = read_words(emul, words.get_mut(..n).unwrap_or_default());
                    // Pulse ACK (releases VFU) and consume PFSTS: the message is taken.
                    let acked = emul.write(Reg::VFMAILBOX, 0, vfmailbox::ACK);
                    emul.log_mut().consume(Reg::VFMAILBOX, vfmailbox::PFSTS);
                    if let Err(e) = read.and(acked) {
                        return self.finish(Err(e.into()));
                    }
                    self.judge(emul, words.get(..n).unwrap_or_default())
                }
            },
        }
    }

    /// Decides what a message read while waiting for our reply means.
    fn judge<I: RegisterIo>(&mut self, emul: &mut Emul<I>, words: &[u32]) -> Poll<Reply> {
        let word0 = words.first().copied().unwrap_or(0);
        if let Ok(ping) = PfMessage::decode(word0 & !MSG_FAILURE) {
            let nacked_ping = word0 & MSG_FAILURE != 0;
            if !nacked_ping {
                self.ping = Some(ping);
            }
            // A ping written before the PF read our request overwrote it (the PF's write
            // also clears our VFREQ); so does a ping NACKed as "Unhandled Msg" by a PF that
            // read its own ping in place of our request. Either way our request is gone.
            if nacked_ping || !self.pf_read_request {
                return self.resend_or(
                    MbxError::PingStorm {
                        msg: self.request.id(),
                    },
                    emul,
                );
            }
            // The PF had our request: its reply is still to come (legacy poll_mbx would
            // have taken the ping as the reply, anatomy §3b race 2).
            return self.stray_or(MbxError::PingStorm {
                msg: self.request.id(),
            });
        }
        match self.request.decode_reply(words) {
            Ok(reply) => self.finish(Ok(reply)),
            // Duplicated, stale or garbage messages are skipped, a bounded number of times.
            Err(
                e @ (MbxError::ReplyMismatch { .. }
                | MbxError::InfoMismatch { .. }
                | MbxError::NotAReply { .. }),
            ) => self.stray_or(e),
            Err(e) => self.finish(Err(e)),
        }
    }

    fn stray_or(&mut self, err: MbxError) -> Poll<Reply> {
        if self.strays >= self.budget.strays {
            return self.finish(Err(err));
        }
        // Below the budget, checked above.
        self.strays = self.strays.saturating_add(1);
        self.state = State::AwaitReply;
        self.backoff()
    }

    fn resend_or<I: RegisterIo>(&mut self, err: MbxError, emul: &mut Emul<I>) -> Poll<Reply> {
        if self.resends >= self.budget.resends || !self.request.is_idempotent() {
            return self.finish(Err(err));
        }
        // Below the budget, checked above.
        self.resends = self.resends.saturating_add(1);
        self.state = State::Lock;
        self.waited_us = 0;
        self.wait_us = FIRST_WAIT_US;
        self.poll(emul, 0)
    }

    /// Steps 2-4 of the legacy write (mbx.c:306-334), VFU held.
    fn send<I: RegisterIo>(&mut self, emul: &mut Emul<I>) -> Result<(), MbxError> {
        let mut buf = [0u32; MBX_WORDS];
        let len = self.request.encode(&mut buf)?;
        // Drop stale PFSTS/PFACK: they belong to an earlier exchange.
        emul.read(Reg::VFMAILBOX, 0)?;
        emul.log_mut()
            .consume(Reg::VFMAILBOX, vfmailbox::PFSTS | vfmailbox::PFACK);
        for (i, w) in buf.iter().take(len).enumerate() {
            // CAST: i < 16.
            emul.write(Reg::VFMBMEM, i as u32, *w)?;
        }
        // REQ alone: interrupts the PF and releases VFU.
        emul.write(Reg::VFMAILBOX, 0, vfmailbox::REQ)?;
        Ok(())
    }
}

impl From<super::emul::EmulError> for MbxError {
    fn from(e: super::emul::EmulError) -> Self {
        match e {
            super::emul::EmulError::AllOnes { .. } => MbxError::DeviceGone,
            _ => MbxError::RegisterRefused,
        }
    }
}

/// Takes VFU: write it and read back (ixgbevf_obtain_mbx_lock_vf). Only VFU is written:
/// the other bits are read-only, read-clear or pulses that a write-back could fire.
fn take_vfu<I: RegisterIo>(emul: &mut Emul<I>) -> Result<bool, MbxError> {
    emul.write(Reg::VFMAILBOX, 0, vfmailbox::VFU)?;
    Ok(emul.read(Reg::VFMAILBOX, 0)? & vfmailbox::VFU != 0)
}

fn read_words<I: RegisterIo>(
    emul: &mut Emul<I>,
    out: &mut [u32],
) -> Result<(), super::emul::EmulError> {
    for (i, w) in out.iter_mut().enumerate() {
        // CAST: at most 16 words.
        *w = emul.read(Reg::VFMBMEM, i as u32)?;
    }
    Ok(())
}

/// Reads a message the PF sent unasked (a ping, or a bare NACK), if PFSTS says one is there.
///
/// Mirrors the read half of ixgbevf's `check_mac_link` (vf.c:843-902): take VFU, read
/// word 0, pulse ACK. Returns `Ok(None)` when there is no message or VFU is busy (try again
/// on the next watchdog pass, as upstream does).
pub fn receive<I: RegisterIo>(emul: &mut Emul<I>) -> Result<Option<PfMessage>, MbxError> {
    let mailbox = emul.read(Reg::VFMAILBOX, 0)?;
    if mailbox & vfmailbox::PFSTS == 0 || !take_vfu(emul)? {
        return Ok(None);
    }
    let word0 = emul.read(Reg::VFMBMEM, 0)?;
    emul.write(Reg::VFMAILBOX, 0, vfmailbox::ACK)?;
    emul.log_mut().consume(Reg::VFMAILBOX, vfmailbox::PFSTS);
    PfMessage::decode(word0).map(Some)
}

/// What the service task concludes from one look at the VF (`ixgbevf_check_mac_link_vf`
/// and `ixgbevf_watchdog_subtask`), from values it read: VFLINKS, the VFMAILBOX bits pending
/// (read-clear bits included, from the log), and the PF's message if one was waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Registers read all ones: the VF is gone (surprise removal, or a host that took it).
    Gone,
    /// The PF reset, or withdrew clear-to-send: the VF must be reset and the session rebuilt.
    ResetNeeded,
    /// The VF works; the link is up or down.
    Link(bool),
}

/// The verdict for `links` (VFLINKS), `mailbox` (VFMAILBOX as read, with pending read-clear
/// bits) and `message` (what [`receive`] returned). A device value is never trusted further
/// than its bits: all ones means gone, whatever else it says.
pub fn health(links: u32, mailbox: u32, message: Option<PfMessage>) -> Health {
    if links == u32::MAX || mailbox == u32::MAX {
        return Health::Gone;
    }
    if mailbox & (vfmailbox::RSTI | vfmailbox::RSTD) != 0 {
        return Health::ResetNeeded;
    }
    if let Some(PfMessage::Control {
        clear_to_send: false,
    }) = message
    {
        return Health::ResetNeeded;
    }
    Health::Link(links & super::regs::vflinks::LINK_UP != 0)
}

/// How long the service task waits before it tries a VF reset again after `failed` attempts
/// in a row failed (the PF still in its own reset, or not answering): at once for the first
/// retry, then 50 ms doubling to 2 s, so a PF that stays in reset for a minute costs a few
/// dozen attempts, not a busy loop.
pub fn reset_retry_ms(failed: u32) -> u32 {
    match failed {
        0 => 0,
        n => 50u32
            .checked_shl(n.saturating_sub(1).min(6))
            .unwrap_or(u32::MAX)
            .min(2000),
    }
}

/// Whether the `failed`-th failed attempt in a row is written to the kernel log: the first,
/// then every 16th, so a long PF reset leaves a few lines saying it goes on.
pub fn log_reset_failure(failed: u32) -> bool {
    failed == 1 || failed % 16 == 0
}

/// Waits out a PF or VF reset: done once RSTI is low and RSTD has been consumed
/// (ixgbevf_reset_hw_vf, vf.c:85-91).
#[derive(Clone, Copy, Debug)]
pub struct ResetWait {
    waited_us: u32,
    limit_us: u32,
}

impl ResetWait {
    /// Poll period: 5 µs (`udelay(5)`).
    pub const POLL_US: u32 = 5;
    /// ixgbevf's bound: 200 × 5 µs (`IXGBE_VF_INIT_TIMEOUT`, defines.h:53).
    // TIMEOUT: upstream treats a longer RSTI as "PF still in reset", a failed reset.
    pub const IXGBEVF_LIMIT_US: u32 = 200 * Self::POLL_US;

    /// Starts waiting, giving up after `limit_us`.
    pub fn new(limit_us: u32) -> Self {
        ResetWait {
            waited_us: 0,
            limit_us,
        }
    }

    /// Advances the wait by one mailbox read.
    pub fn poll<I: RegisterIo>(&mut self, emul: &mut Emul<I>, elapsed_us: u32) -> Poll<()> {
        self.waited_us = self.waited_us.saturating_add(elapsed_us);
        let mailbox = match emul.read(Reg::VFMAILBOX, 0) {
            Ok(v) => v,
            Err(e) => return Poll::Done(Err(e.into())),
        };
        if mailbox & (vfmailbox::RSTI | vfmailbox::RSTD) == 0 {
            return Poll::Done(Ok(()));
        }
        emul.log_mut().consume(Reg::VFMAILBOX, vfmailbox::RSTD);
        if self.waited_us >= self.limit_us {
            return Poll::Done(Err(MbxError::Timeout {
                phase: MbxPhase::ResetDone,
                waited_us: self.waited_us,
            }));
        }
        Poll::Wait { us: Self::POLL_US }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reset_retries_back_off_and_log_sparingly() {
        let delays: Vec<u32> = (0..10).map(reset_retry_ms).collect();
        assert_eq!(delays, [0, 50, 100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(reset_retry_ms(u32::MAX), 2000);
        let logged: Vec<u32> = (1..=40).filter(|n| log_reset_failure(*n)).collect();
        assert_eq!(logged, [1, 16, 32]);
    }

    use super::super::mac::MAC_82599;
    use super::super::mbx::{MacAddr, MsgId, QueueInfo, MSG_CTS, MSG_SUCCESS};
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// What the fake PF does with the next request.
    #[derive(Clone, Debug)]
    enum Pf {
        /// Reads it and replies with these words (word 0 echoed + ACK|CTS unless given).
        Reply(Vec<u32>),
        /// Reads it, then a ping lands before the reply, then the reply.
        PingThenReply(Vec<u32>),
        /// A ping overwrites the request before the PF reads it; nothing else.
        PingOverwrites,
        /// Reads it and never answers.
        Silent,
        /// Answers twice (a duplicate lingers for the next exchange).
        Duplicate(Vec<u32>),
        /// Writes garbage first, then the reply.
        GarbageThenReply(Vec<u32>, u32),
        /// Holds PFU forever.
        HoldLock,
    }

    /// A fake VF mailbox with datasheet semantics: VFU/PFU arbitration, PFSTS/PFACK/RSTD
    /// read-clear, REQ/ACK pulses, and a scripted PF.
    struct FakeMbx {
        mem: RefCell<[u32; 16]>,
        bits: RefCell<u32>,
        script: RefCell<VecDeque<Pf>>,
        /// Messages the PF will deliver one at a time after each VF ACK.
        outbox: RefCell<VecDeque<Vec<u32>>>,
        requests: RefCell<Vec<Vec<u32>>>,
    }

    impl FakeMbx {
        fn new(script: Vec<Pf>) -> Self {
            FakeMbx {
                mem: RefCell::new([0; 16]),
                bits: RefCell::new(0),
                script: RefCell::new(script.into()),
                outbox: RefCell::new(VecDeque::new()),
                requests: RefCell::new(Vec::new()),
            }
        }
        fn deliver(&self, words: &[u32]) {
            let mut mem = self.mem.borrow_mut();
            mem.iter_mut().for_each(|w| *w = 0);
            mem[..words.len()].copy_from_slice(words);
            *self.bits.borrow_mut() |= vfmailbox::PFSTS;
        }
        fn echo(req: &[u32], data: &[u32]) -> Vec<u32> {
            let mut v = vec![req[0] | MSG_SUCCESS | MSG_CTS];
            v.extend_from_slice(data);
            v
        }
        fn on_req(&self) {
            let req: Vec<u32> = self.mem.borrow().to_vec();
            self.requests.borrow_mut().push(req.clone());
            let step = self.script.borrow_mut().pop_front().unwrap_or(Pf::Silent);
            let ping = vec![MsgId::PfControl as u32 | MSG_CTS];
            match step {
                Pf::Reply(d) => {
                    *self.bits.borrow_mut() |= vfmailbox::PFACK;
                    self.deliver(&Self::echo(&req, &d));
                }
                Pf::PingThenReply(d) => {
                    *self.bits.borrow_mut() |= vfmailbox::PFACK;
                    self.deliver(&ping);
                    self.outbox.borrow_mut().push_back(Self::echo(&req, &d));
                }
                Pf::PingOverwrites => self.deliver(&ping),
                Pf::Silent => *self.bits.borrow_mut() |= vfmailbox::PFACK,
                Pf::Duplicate(d) => {
                    *self.bits.borrow_mut() |= vfmailbox::PFACK;
                    self.deliver(&Self::echo(&req, &d));
                    self.outbox.borrow_mut().push_back(Self::echo(&req, &d));
                }
                Pf::GarbageThenReply(d, g) => {
                    *self.bits.borrow_mut() |= vfmailbox::PFACK;
                    self.deliver(&[g, 0xDEAD]);
                    self.outbox.borrow_mut().push_back(Self::echo(&req, &d));
                }
                Pf::HoldLock => *self.bits.borrow_mut() |= vfmailbox::PFU,
            }
        }
    }

    impl RegisterIo for FakeMbx {
        fn read32(&self, offset: u32) -> u32 {
            match offset {
                0x2FC => {
                    let mut b = self.bits.borrow_mut();
                    let v = *b;
                    *b &= !0xB0;
                    v
                }
                0x200..=0x23C => self.mem.borrow()[((offset - 0x200) / 4) as usize],
                _ => 0,
            }
        }
        fn write32(&self, offset: u32, value: u32) {
            match offset {
                0x2FC => {
                    let pfu = *self.bits.borrow() & vfmailbox::PFU != 0;
                    {
                        let mut b = self.bits.borrow_mut();
                        if value & vfmailbox::VFU != 0 && !pfu {
                            *b |= vfmailbox::VFU;
                        } else if value & vfmailbox::VFU == 0 {
                            *b &= !vfmailbox::VFU;
                        }
                    }
                    if value & vfmailbox::REQ != 0 {
                        self.on_req();
                    }
                    if value & vfmailbox::ACK != 0 {
                        if let Some(next) = self.outbox.borrow_mut().pop_front() {
                            self.deliver(&next);
                        }
                    }
                }
                0x200..=0x23C if *self.bits.borrow() & vfmailbox::VFU != 0 => {
                    self.mem.borrow_mut()[((offset - 0x200) / 4) as usize] = value;
                }
                _ => {}
            }
        }
    }

    fn run(fake: &FakeMbx, req: Request) -> (Result<Reply, MbxError>, Transaction, u32) {
        let mut e = Emul::new(fake, &MAC_82599);
        let mut t = Transaction::new(req, Budget::IXGBEVF);
        let mut elapsed = 0;
        let mut total = 0u32;
        for _ in 0..10_000 {
            match t.poll(&mut e, elapsed) {
                Poll::Wait { us } => {
                    elapsed = us;
                    total += us;
                }
                Poll::Done(r) => return (r, t, total),
            }
        }
        panic!("transaction never finished");
    }

    const QUEUES: [u32; 4] = [2, 2, 0, 0];
    const QI: QueueInfo = QueueInfo {
        max_tx: 2,
        max_rx: 2,
        num_tcs: 0,
        default_queue: 0,
    };

    #[test]
    fn plain_exchange() {
        let fake = FakeMbx::new(vec![Pf::Reply(QUEUES.to_vec())]);
        let (r, t, _) = run(&fake, Request::GetQueues);
        assert_eq!(r, Ok(Reply::Queues(QI)));
        assert_eq!(t.ping_seen(), None);
        assert_eq!(fake.requests.borrow().len(), 1);
        assert_eq!(*fake.bits.borrow() & vfmailbox::VFU, 0, "VFU released");
    }

    #[test]
    fn a_pf_that_answers_at_once_is_seen_at_once() {
        let fake = FakeMbx::new(vec![Pf::Reply(QUEUES.to_vec())]);
        let (r, _, waited) = run(&fake, Request::GetQueues);
        assert_eq!(r, Ok(Reply::Queues(QI)));
        assert!(
            waited <= 20,
            "waited {waited} µs for a reply that was there"
        );
    }

    #[test]
    fn protocol_faults() {
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        // (script, request, expected result, requests the PF saw)
        type Case = (Vec<Pf>, Request, Result<Reply, MbxError>, usize);
        let cases: Vec<Case> = vec![
            // Ping after the PF read the request: skip it, the reply follows.
            (
                vec![Pf::PingThenReply(QUEUES.to_vec())],
                Request::GetQueues,
                Ok(Reply::Queues(QI)),
                1,
            ),
            // Ping overwrote the request: send it again.
            (
                vec![Pf::PingOverwrites, Pf::Reply(QUEUES.to_vec())],
                Request::GetQueues,
                Ok(Reply::Queues(QI)),
                2,
            ),
            // Lost reply: re-send after the reply timeout.
            (
                vec![Pf::Silent, Pf::Reply(vec![])],
                Request::SetMacAddr(mac),
                Ok(Reply::Ack),
                2,
            ),
            // Lost every time: timeout after the resend budget.
            (
                vec![Pf::Silent, Pf::Silent, Pf::Silent],
                Request::GetQueues,
                Err(MbxError::Timeout {
                    phase: MbxPhase::Reply,
                    waited_us: 1_000_000,
                }),
                3,
            ),
            // A non-idempotent request lost to a ping is not re-sent.
            (
                vec![Pf::PingOverwrites],
                Request::SetMacvlan { index: 2, mac },
                Err(MbxError::PingStorm {
                    msg: MsgId::SetMacvlan,
                }),
                1,
            ),
            // Garbage and replies to other requests are skipped.
            (
                vec![Pf::GarbageThenReply(
                    QUEUES.to_vec(),
                    0x0005 | MSG_SUCCESS | MSG_CTS,
                )],
                Request::GetQueues,
                Ok(Reply::Queues(QI)),
                1,
            ),
            (
                vec![Pf::GarbageThenReply(QUEUES.to_vec(), 0x1234_5678)],
                Request::GetQueues,
                Ok(Reply::Queues(QI)),
                1,
            ),
            // The PF holds the buffer forever.
            (
                vec![Pf::HoldLock],
                Request::GetQueues,
                Err(MbxError::Timeout {
                    phase: MbxPhase::Lock,
                    waited_us: 1_000_000,
                }),
                1,
            ),
        ];
        for (script, req, want, sent) in cases {
            let fake = FakeMbx::new(script.clone());
            if matches!(script[0], Pf::HoldLock) {
                *fake.bits.borrow_mut() |= vfmailbox::PFU;
            }
            let (r, _, _) = run(&fake, req);
            // A timeout fires at the first poll at or past its bound; the backoff's waits
            // (10 µs doubling to 500 µs) need not add up to it exactly.
            match (r, want) {
                (
                    Err(MbxError::Timeout {
                        phase: p,
                        waited_us: got,
                    }),
                    Err(MbxError::Timeout {
                        phase: wp,
                        waited_us: bound,
                    }),
                ) => {
                    assert_eq!(p, wp, "{script:?}");
                    assert!(
                        (bound..bound + 500).contains(&got),
                        "{script:?}: waited {got} µs for a {bound} µs bound"
                    );
                }
                (r, want) => assert_eq!(r, want, "{script:?}"),
            }
            let seen = fake.requests.borrow().len();
            if !matches!(script[0], Pf::HoldLock) {
                assert_eq!(seen, sent, "{script:?}");
            }
        }
    }

    #[test]
    fn nack_and_not_clear_to_send() {
        let vlan = Request::SetVlan { vid: 9, add: true };
        // NACK: the fake echoes with ACK; build the NACK reply by hand.
        let fake = FakeMbx::new(vec![Pf::Silent]);
        let mut e = Emul::new(&fake, &MAC_82599);
        let mut t = Transaction::new(vlan, Budget::IXGBEVF);
        assert!(matches!(t.poll(&mut e, 0), Poll::Wait { .. }));
        fake.deliver(&[0x0001_0004 | MSG_FAILURE | MSG_CTS, 9]);
        assert_eq!(
            t.poll(&mut e, 500),
            Poll::Done(Err(MbxError::Nack {
                msg: MsgId::SetVlan
            }))
        );
        let mut t = Transaction::new(vlan, Budget::IXGBEVF);
        fake.script.borrow_mut().push_back(Pf::Silent);
        assert!(matches!(t.poll(&mut e, 0), Poll::Wait { .. }));
        fake.deliver(&[0x0001_0004 | MSG_FAILURE, 9]);
        assert_eq!(
            t.poll(&mut e, 500),
            Poll::Done(Err(MbxError::NotClearToSend {
                msg: MsgId::SetVlan
            }))
        );
        assert_eq!(
            t.poll(&mut e, 0),
            Poll::Done(Err(MbxError::Busy)),
            "finished stays finished"
        );
    }

    #[test]
    fn duplicated_reply_does_not_answer_the_next_request() {
        let fake = FakeMbx::new(vec![Pf::Duplicate(vec![]), Pf::Reply(QUEUES.to_vec())]);
        let (r, _, _) = run(&fake, Request::SetLpe { max_frame: 1518 });
        assert_eq!(r, Ok(Reply::Ack));
        // The duplicate SET_LPE ack arrives first; GET_QUEUES must skip it.
        let (r, _, _) = run(&fake, Request::GetQueues);
        assert_eq!(r, Ok(Reply::Queues(QI)));
    }

    #[test]
    fn ping_without_cts_is_reported() {
        let fake = FakeMbx::new(vec![Pf::Silent]);
        let mut e = Emul::new(&fake, &MAC_82599);
        let mut t = Transaction::new(Request::GetLinkState, Budget::IXGBEVF);
        assert!(matches!(t.poll(&mut e, 0), Poll::Wait { .. }));
        // PF read the request (PFACK set by Silent), then pings without CTS, then replies.
        fake.deliver(&[MsgId::PfControl as u32]);
        fake.outbox
            .borrow_mut()
            .push_back(vec![0x10 | MSG_SUCCESS | MSG_CTS, 1]);
        let mut r = t.poll(&mut e, 500);
        while let Poll::Wait { us } = r {
            r = t.poll(&mut e, us);
        }
        assert_eq!(r, Poll::Done(Ok(Reply::LinkState { enabled: true })));
        assert_eq!(
            t.ping_seen(),
            Some(PfMessage::Control {
                clear_to_send: false
            })
        );
    }

    #[test]
    fn frozen_mailbox_fails_at_once() {
        let fake = FakeMbx::new(vec![]);
        *fake.bits.borrow_mut() |= vfmailbox::PFU;
        let mut e = Emul::new(&fake, &MAC_82599);
        let mut t = Transaction::new(Request::GetQueues, Budget::FROZEN);
        assert_eq!(t.poll(&mut e, 0), Poll::Done(Err(MbxError::Frozen)));
    }

    #[test]
    fn receive_unsolicited() {
        let fake = FakeMbx::new(vec![]);
        let mut e = Emul::new(&fake, &MAC_82599);
        assert_eq!(receive(&mut e), Ok(None));
        fake.deliver(&[MsgId::PfControl as u32 | MSG_CTS]);
        assert_eq!(
            receive(&mut e),
            Ok(Some(PfMessage::Control {
                clear_to_send: true
            }))
        );
        assert_eq!(receive(&mut e), Ok(None), "PFSTS consumed");
        fake.deliver(&[0x77]);
        assert!(receive(&mut e).is_err());
    }

    #[test]
    fn reset_wait() {
        let fake = FakeMbx::new(vec![]);
        *fake.bits.borrow_mut() = vfmailbox::RSTI | vfmailbox::RSTD;
        let mut e = Emul::new(&fake, &MAC_82599);
        let mut w = ResetWait::new(ResetWait::IXGBEVF_LIMIT_US);
        assert_eq!(w.poll(&mut e, 0), Poll::Wait { us: 5 });
        *fake.bits.borrow_mut() &= !vfmailbox::RSTI;
        assert_eq!(
            w.poll(&mut e, 5),
            Poll::Done(Ok(())),
            "RSTD consumed, RSTI low"
        );
        *fake.bits.borrow_mut() = vfmailbox::RSTI;
        let mut w = ResetWait::new(10);
        assert_eq!(w.poll(&mut e, 0), Poll::Wait { us: 5 });
        assert_eq!(w.poll(&mut e, 5), Poll::Wait { us: 5 });
        assert!(matches!(
            w.poll(&mut e, 5),
            Poll::Done(Err(MbxError::Timeout {
                phase: MbxPhase::ResetDone,
                ..
            }))
        ));
    }

    #[test]
    fn health_reads_gone_reset_and_link() {
        use super::super::regs::vflinks::LINK_UP;
        assert_eq!(health(u32::MAX, 0, None), Health::Gone);
        assert_eq!(health(LINK_UP, u32::MAX, None), Health::Gone);
        assert_eq!(health(LINK_UP, vfmailbox::RSTD, None), Health::ResetNeeded);
        assert_eq!(health(LINK_UP, vfmailbox::RSTI, None), Health::ResetNeeded);
        let no_cts = Some(PfMessage::Control {
            clear_to_send: false,
        });
        assert_eq!(health(LINK_UP, 0, no_cts), Health::ResetNeeded);
        let cts = Some(PfMessage::Control {
            clear_to_send: true,
        });
        assert_eq!(health(LINK_UP, 0, cts), Health::Link(true));
        assert_eq!(health(0, vfmailbox::PFSTS, None), Health::Link(false));
    }
}
