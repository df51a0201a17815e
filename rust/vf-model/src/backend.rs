//! The wire: where frames the VF transmits go and where frames it receives come from.
//! The tap implementation connects the VF to the host's network stack (typically a tap in a
//! network namespace the test creates), so ping and TCP run end to end.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// A packet backend. Frames are complete Ethernet frames without FCS.
pub trait PacketBackend: Send {
    /// Sends one frame. A full queue drops the frame, as a congested wire would.
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;
    /// Receives one frame into `buf` without blocking; None when nothing is waiting.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// A descriptor that becomes readable when a frame is waiting, if the backend has one.
    fn poll_fd(&self) -> Option<RawFd>;
}

/// A wire with nothing on it: sent frames vanish, nothing arrives.
pub struct NullBackend;

impl PacketBackend for NullBackend {
    fn send(&mut self, _frame: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn recv(&mut self, _buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(None)
    }
    fn poll_fd(&self) -> Option<RawFd> {
        None
    }
}

/// A tap device in the current network namespace.
pub struct Tap {
    file: File,
}

const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const TUNSETIFF: libc::c_ulong = 0x4004_54CA;

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl Tap {
    /// Creates (or attaches to) the tap device `name`. It disappears with the last
    /// descriptor unless it was made persistent by someone else.
    pub fn open(name: &str) -> io::Result<Tap> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?}"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("open /dev/net/tun: {e}")))?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: IFF_TAP | IFF_NO_PI,
            _pad: [0; 22],
        };
        for (d, s) in req.name.iter_mut().zip(name.bytes()) {
            // CAST: interface names are ASCII bytes.
            *d = s as libc::c_char;
        }
        // SAFETY: TUNSETIFF reads and writes a `struct ifreq`, which `IfReq` lays out
        // (name, then the flags union member, padded to the kernel's size).
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")));
        }
        Ok(Tap { file })
    }
}

impl PacketBackend for Tap {
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        match self.file.write(frame) {
            Ok(_) => Ok(()),
            // The interface is down or its queue is full: the frame is lost on the wire.
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::EIO) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.file.read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.file.as_raw_fd())
    }
}

/// Moves the calling thread (call it before spawning others) into network namespace
/// `name`, as made by `ip netns add`.
pub fn enter_netns(name: &str) -> io::Result<()> {
    let path = format!("/run/netns/{name}");
    let f = File::open(&path).map_err(|e| io::Error::new(e.kind(), format!("open {path}: {e}")))?;
    // SAFETY: setns on a namespace descriptor we just opened; it only changes this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("setns {path}: {e}")));
    }
    Ok(())
}
