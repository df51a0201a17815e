//! The vfio-user face of the device: regions (config space, BAR0, BAR3), MSI-X eventfds,
//! DMA mappings, device reset; plus the device's own threads: the DMA/packet worker and
//! the control socket.
//!
//! Locking: one mutex around the device and one around config space. The vfio-user loop
//! takes the device lock per BAR access; the worker takes it per batch of Tx descriptors
//! and per received frame; the control thread per request. No socket or tap I/O happens
//! while holding it: the worker sends and reads the wire, and the control thread reads
//! and answers requests, with the lock released.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

use log::{debug, error, info, warn};
use vfio_bindings::bindings::vfio::{
    vfio_region_info, VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_INFO_NORESIZE, VFIO_IRQ_SET_DATA_EVENTFD,
    VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR3_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX,
    VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_NUM_IRQS, VFIO_PCI_NUM_REGIONS, VFIO_REGION_INFO_FLAG_READ,
    VFIO_REGION_INFO_FLAG_WRITE,
};
use vfio_user::{DmaMapFlags, DmaUnmapFlags, IrqInfo, Server, ServerBackend, ServerRegion};

use crate::backend::PacketBackend;
use crate::config::{ConfigEvent, ConfigSpace, CONFIG_SIZE, PBA_OFFSET};
use crate::device::{Device, ResetCause};
use crate::regs::{BAR0_SIZE, BAR3_SIZE, NUM_VECTORS, VFRDT, VFTDT};
use crate::rx::RxOutcome;

/// QEMU's "unmap all" flag (VFIO_DMA_UNMAP_FLAG_ALL = bit 1), which the crate names
/// differently: test the raw bit.
const DMA_UNMAP_ALL: u32 = 1 << 1;

/// State shared by the threads.
pub struct Shared {
    dev: Mutex<Device>,
    cfg: Mutex<ConfigSpace>,
    /// BAR3 backing for the MSI-X table, which QEMU normally emulates itself.
    msix_table: Mutex<Vec<u8>>,
    kick: OwnedFd,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the device down with it: keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Wraps a device and its config space.
    pub fn new(dev: Device, cfg: ConfigSpace) -> std::io::Result<Arc<Shared>> {
        // SAFETY: eventfd(2) with valid flags; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Arc::new(Shared {
            dev: Mutex::new(dev),
            cfg: Mutex::new(cfg),
            msix_table: Mutex::new(vec![0; NUM_VECTORS * 16]),
            // SAFETY: `fd` is a fresh descriptor that nothing else owns.
            kick: unsafe { OwnedFd::from_raw_fd(fd) },
            stop: AtomicBool::new(false),
        }))
    }

    /// Runs `f` on the device under its lock.
    pub fn with_device<R>(&self, f: impl FnOnce(&mut Device) -> R) -> R {
        f(&mut lock(&self.dev))
    }

    /// Wakes the worker.
    pub fn kick(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: an 8-byte write to our own eventfd; failure (counter full) still wakes.
        unsafe { libc::write(self.kick.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    fn drain_kick(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: an 8-byte read from our own non-blocking eventfd into a local buffer.
        unsafe { libc::read(self.kick.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
    }

    /// Asks the threads to finish.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.kick();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// The vfio-user backend.
pub struct VfioBackend(pub Arc<Shared>);

fn region(index: u32, size: u64) -> ServerRegion {
    let mut info = vfio_region_info {
        argsz: std::mem::size_of::<vfio_region_info>() as u32,
        index,
        ..Default::default()
    };
    if size > 0 {
        info.size = size;
        info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    }
    ServerRegion {
        region_info: info,
        sparse_areas: Vec::new(),
        mmap_fd: None,
    }
}

/// The regions the VF exposes: BAR0 and BAR3 trapped (no mmap, so every access reaches the
/// model) and config space.
pub fn regions() -> Vec<ServerRegion> {
    (0..VFIO_PCI_NUM_REGIONS)
        .map(|i| match i {
            VFIO_PCI_BAR0_REGION_INDEX => region(i, BAR0_SIZE),
            VFIO_PCI_BAR3_REGION_INDEX => region(i, BAR3_SIZE),
            VFIO_PCI_CONFIG_REGION_INDEX => region(i, CONFIG_SIZE as u64),
            _ => region(i, 0),
        })
        .collect()
}

/// Interrupts: MSI-X only, 3 vectors; no INTx, no MSI.
pub fn irqs() -> Vec<IrqInfo> {
    (0..VFIO_PCI_NUM_IRQS)
        .map(|index| {
            if index == VFIO_PCI_MSIX_IRQ_INDEX {
                IrqInfo {
                    index,
                    count: NUM_VECTORS as u32,
                    flags: VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE,
                }
            } else {
                IrqInfo {
                    index,
                    count: 0,
                    flags: 0,
                }
            }
        })
        .collect()
}

impl ServerBackend for VfioBackend {
    fn region_read(&mut self, region: u32, offset: u64, data: &mut [u8]) -> std::io::Result<()> {
        let now = Instant::now();
        match region {
            VFIO_PCI_CONFIG_REGION_INDEX => lock(&self.0.cfg).read(offset, data),
            VFIO_PCI_BAR0_REGION_INDEX => lock(&self.0.dev).bar0_read(offset, data, now),
            VFIO_PCI_BAR3_REGION_INDEX => {
                let pba = u64::from(lock(&self.0.dev).pba()).to_le_bytes();
                let table = lock(&self.0.msix_table);
                for (i, d) in data.iter_mut().enumerate() {
                    let o = offset.saturating_add(i as u64);
                    *d = if (PBA_OFFSET..PBA_OFFSET + 8).contains(&o) {
                        pba[(o - PBA_OFFSET) as usize]
                    } else {
                        usize::try_from(o)
                            .ok()
                            .and_then(|o| table.get(o))
                            .copied()
                            .unwrap_or(0)
                    };
                }
            }
            _ => {
                warn!("read of region {region} at {offset:#x}, which the device does not have");
                data.fill(0xFF);
            }
        }
        Ok(())
    }

    fn region_write(&mut self, region: u32, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let now = Instant::now();
        match region {
            VFIO_PCI_CONFIG_REGION_INDEX => {
                let ev = lock(&self.0.cfg).write(offset, data);
                if ev == ConfigEvent::Flr {
                    lock(&self.0.cfg).flr();
                    lock(&self.0.dev).vf_reset(now, ResetCause::Flr);
                }
            }
            VFIO_PCI_BAR0_REGION_INDEX => {
                lock(&self.0.dev).bar0_write(offset, data, now);
                let reg = offset & !3;
                let tail = (0x1000..0x1200).contains(&reg) && reg % 0x40 == VFRDT - 0x1000
                    || (0x2000..0x2200).contains(&reg) && reg % 0x40 == VFTDT - 0x2000;
                if tail {
                    self.0.kick();
                }
            }
            VFIO_PCI_BAR3_REGION_INDEX => {
                let mut table = lock(&self.0.msix_table);
                for (i, &v) in data.iter().enumerate() {
                    if let Some(slot) = usize::try_from(offset.saturating_add(i as u64))
                        .ok()
                        .and_then(|o| table.get_mut(o))
                    {
                        *slot = v;
                    }
                }
            }
            _ => warn!("write to region {region} at {offset:#x}, which the device does not have"),
        }
        Ok(())
    }

    fn dma_map(
        &mut self,
        flags: DmaMapFlags,
        offset: u64,
        address: u64,
        size: u64,
        fd: Option<File>,
    ) -> std::io::Result<()> {
        let Some(fd) = fd else {
            // ROM and similar sections come without a descriptor; the device never needs them.
            debug!("DMA_MAP without fd at {address:#x}+{size:#x} ignored");
            return Ok(());
        };
        info!(
            "DMA_MAP {address:#x}+{size:#x} (file offset {offset:#x}, flags {:#x})",
            flags.bits()
        );
        lock(&self.0.dev)
            .memory_mut()
            .map(address, size, &fd, offset)
    }

    fn dma_unmap(&mut self, flags: DmaUnmapFlags, address: u64, size: u64) -> std::io::Result<()> {
        let mut dev = lock(&self.0.dev);
        let n = if flags.bits() & DMA_UNMAP_ALL != 0 || size == 0 {
            dev.memory_mut().unmap_all()
        } else {
            dev.memory_mut().unmap(address, size)
        };
        info!("DMA_UNMAP {address:#x}+{size:#x}: {n} region(s) removed");
        Ok(())
    }

    fn reset(&mut self) -> std::io::Result<()> {
        lock(&self.0.cfg).flr();
        lock(&self.0.dev).vf_reset(Instant::now(), ResetCause::Device);
        Ok(())
    }

    fn set_irqs(
        &mut self,
        index: u32,
        flags: u32,
        start: u32,
        count: u32,
        fds: Vec<File>,
    ) -> std::io::Result<()> {
        if index != VFIO_PCI_MSIX_IRQ_INDEX {
            debug!("SET_IRQS for index {index} ignored: the VF has MSI-X only");
            return Ok(());
        }
        let mut dev = lock(&self.0.dev);
        if count == 0 {
            for v in 0..NUM_VECTORS {
                dev.sink_mut().attach(v, None);
            }
            return Ok(());
        }
        let first = start as usize;
        let n = count as usize;
        if first.checked_add(n).is_none_or(|end| end > NUM_VECTORS) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("SET_IRQS for vectors {start}+{count}: the VF has {NUM_VECTORS}"),
            ));
        }
        if flags & VFIO_IRQ_SET_DATA_EVENTFD != 0 && fds.len() == n {
            for (i, fd) in fds.into_iter().enumerate() {
                dev.sink_mut().attach(first + i, Some(fd));
            }
            dev.retry_pending_irqs();
        } else {
            // A chunk without descriptors de-assigns its vectors.
            for v in first..first + n {
                dev.sink_mut().attach(v, None);
            }
        }
        Ok(())
    }
}

/// Starts the worker that moves frames between the wire and the rings.
pub fn spawn_worker(
    shared: Arc<Shared>,
    mut wire: Box<dyn PacketBackend>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("vfm-dma".into())
        .spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut held: Option<Vec<u8>> = None;
            while !shared.stopped() {
                let mut fds = vec![libc::pollfd {
                    fd: shared.kick.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }];
                if let Some(fd) = wire.poll_fd() {
                    if held.is_none() {
                        fds.push(libc::pollfd {
                            fd,
                            events: libc::POLLIN,
                            revents: 0,
                        });
                    }
                }
                // TIMEOUT: 2 ms bounds how late a queue whose ENABLE completed in the
                // meantime is looked at, and how long a held Rx frame waits to be retried.
                // An interrupt storm fires on every pass: no waiting while it lasts.
                let wait_ms = if lock(&shared.dev).storming() { 0 } else { 2 };
                // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
                unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
                shared.drain_kick();
                let sent: Vec<Vec<u8>> = {
                    let mut dev = lock(&shared.dev);
                    dev.process_tx(Instant::now());
                    dev.take_tx().collect()
                };
                for f in sent {
                    if let Err(e) = wire.send(&f) {
                        error!("wire: send failed: {e}");
                    }
                }
                if let Some(f) = held.take() {
                    if lock(&shared.dev).receive(&f, Instant::now()) == RxOutcome::Retry {
                        held = Some(f);
                    }
                }
                // Up to 64 frames per pass, so register accesses are not starved.
                for _ in 0..64 {
                    if held.is_some() {
                        break;
                    }
                    match wire.recv(&mut buf) {
                        Ok(Some(n)) => {
                            let outcome = lock(&shared.dev).receive(&buf[..n], Instant::now());
                            if outcome == RxOutcome::Retry {
                                held = Some(buf[..n].to_vec());
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            error!("wire: receive failed: {e}");
                            break;
                        }
                    }
                }
            }
        })
}

/// Serves the control socket at `path` until the process exits (the device may outlive its
/// vfio-user client, so a harness can read the final statistics).
pub fn spawn_control(shared: Arc<Shared>, path: &Path) -> std::io::Result<JoinHandle<()>> {
    let listener = UnixListener::bind(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("bind {}: {e}", path.display())))?;
    let path: PathBuf = path.to_owned();
    std::thread::Builder::new()
        .name("vfm-ctl".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let conn = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        error!("control socket {}: accept: {e}", path.display());
                        continue;
                    }
                };
                let Ok(mut out) = conn.try_clone() else {
                    continue;
                };
                let mut requests = BufReader::new(conn);
                loop {
                    let line = match read_request(&mut requests, MAX_CONTROL_LINE) {
                        Ok(Some(line)) => line,
                        Ok(None) => break,
                        Err(e) => {
                            warn!("control socket {}: {e}; connection closed", path.display());
                            break;
                        }
                    };
                    if line.trim().is_empty() {
                        continue;
                    }
                    let reply = match shared.doorbell_control(&line) {
                        Some(reply) => reply,
                        None => lock(&shared.dev).with_control(&line),
                    };
                    shared.kick();
                    if writeln!(out, "{reply}").is_err() {
                        break;
                    }
                }
            }
        })
}

/// The longest control request line accepted; a longer one closes the connection, so a
/// client cannot make the model buffer without bound.
const MAX_CONTROL_LINE: u64 = 64 * 1024;

/// Reads one request line of at most `max` bytes (newline included). None at the end of
/// the stream; an error for a longer line or one that is not UTF-8.
fn read_request(r: &mut impl BufRead, max: u64) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    let n = Read::take(&mut *r, max + 1).read_line(&mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("request longer than {max} bytes"),
        ));
    }
    Ok(Some(line))
}

impl Shared {
    /// The doorbell's control commands, which need config space as well as the device:
    /// `{"cmd":"doorbell","command":"freeze"}` rings (sequence number one past the last, or
    /// `"seq"`), `{"cmd":"doorbell_status"}` reads what the guest wrote back. `None` for
    /// every other request.
    fn doorbell_control(&self, line: &str) -> Option<String> {
        let req: serde_json::Value = serde_json::from_str(line).ok()?;
        let cmd = req.get("cmd")?.as_str()?;
        let err = |e: String| serde_json::json!({"ok": false, "error": e}).to_string();
        if cmd == "swap" {
            // A swap to another VF model changes config space too; the device does the rest.
            let id = req.get("device_id")?.as_str()?;
            let Some(id) = u16::from_str_radix(id, 16)
                .ok()
                .filter(|id| crate::SWAP_IDS.contains(id))
            else {
                return Some(err(format!(
                    "\"device_id\": {id:?} is not one of {:04x?}",
                    crate::SWAP_IDS
                )));
            };
            lock(&self.cfg).set_device_id(id);
            lock(&self.dev).set_device_id(id);
            return None;
        }
        if cmd == "corrupt_record" {
            return Some(self.corrupt_record());
        }
        if cmd != "doorbell" && cmd != "doorbell_status" {
            return None;
        }
        let mut cfg = lock(&self.cfg);
        let Some(at) = crate::doorbell::find(&cfg) else {
            return Some(err(
                "this VF has no doorbell capability (--no-doorbell)".into()
            ));
        };
        if cmd == "doorbell" {
            let name = req.get("command").and_then(|c| c.as_str()).unwrap_or("");
            let value = match req.get("value").and_then(|v| v.as_u64()) {
                // A raw value, for tests of what the guest does with garbage.
                Some(v) => u8::try_from(v).ok(),
                None => crate::doorbell::COMMANDS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| *v),
            };
            let Some(value) = value else {
                return Some(err(format!("unknown doorbell command {name:?}")));
            };
            let seq = match req.get("seq").and_then(|v| v.as_u64()) {
                Some(s) => u32::try_from(s).unwrap_or(u32::MAX) & crate::doorbell::SEQ_MASK,
                None => {
                    crate::doorbell::last_seq(&cfg, at).wrapping_add(1) & crate::doorbell::SEQ_MASK
                }
            };
            crate::doorbell::ring(&mut cfg, at, value, seq);
            drop(cfg);
            // The hypervisor injects the VF's mailbox vector; the guest also polls.
            lock(&self.dev).ring_mailbox_vector();
            self.kick();
            info!("doorbell: command {value} ({name}), seq {seq}");
            return Some(serde_json::json!({"ok": true, "seq": seq}).to_string());
        }
        let st = crate::doorbell::status(&cfg, at);
        Some(
            serde_json::json!({
                "ok": true,
                "status": st.status_name(),
                "ack_seq": st.ack_seq,
                "reason": st.reason,
                "record_gpa": st.record.0,
                "record_len": st.record.1,
                "elapsed_us": st.elapsed_us,
                "seq": crate::doorbell::last_seq(&cfg, at),
            })
            .to_string(),
        )
    }
}

impl Shared {
    /// `{"cmd":"corrupt_record"}`: flips one byte in the middle of the saved record the
    /// guest published (a record damaged between source and destination); again, flips it
    /// back.
    fn corrupt_record(&self) -> String {
        let err = |e: String| serde_json::json!({"ok": false, "error": e}).to_string();
        let (gpa, len) = {
            let cfg = lock(&self.cfg);
            let Some(at) = crate::doorbell::find(&cfg) else {
                return err("this VF has no doorbell capability".into());
            };
            crate::doorbell::status(&cfg, at).record
        };
        if len == 0 {
            return err("the guest published no record".into());
        }
        let at = gpa.wrapping_add(u64::from(len / 2));
        let mut dev = lock(&self.dev);
        let mut b = [0u8; 1];
        if let Err(e) = dev.mem.read(at, &mut b) {
            return err(format!("record byte at {at:#x}: {e}"));
        }
        b[0] ^= 0xA5;
        if let Err(e) = dev.mem.write(at, &b) {
            return err(format!("record byte at {at:#x}: {e}"));
        }
        info!("fault: saved record byte at {at:#x} flipped");
        serde_json::json!({"ok": true, "gpa": at}).to_string()
    }
}

impl Device {
    fn with_control(&mut self, line: &str) -> String {
        crate::control::handle_line(self, line, Instant::now())
    }
}

/// Creates the vfio-user server at `path`, removing a stale socket left by a previous run.
pub fn bind(path: &Path) -> Result<Server, String> {
    if path.exists() {
        std::fs::remove_file(path)
            .map_err(|e| format!("remove stale socket {}: {e}", path.display()))?;
    }
    Server::new(path, true, irqs(), regions())
        .map_err(|e| format!("vfio-user socket {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_requests_are_bounded() {
        let mut r = std::io::Cursor::new(b"{\"cmd\":\"hello\"}\nabc".to_vec());
        assert_eq!(
            read_request(&mut r, 64).unwrap().as_deref(),
            Some("{\"cmd\":\"hello\"}\n")
        );
        assert_eq!(read_request(&mut r, 64).unwrap().as_deref(), Some("abc"));
        assert_eq!(read_request(&mut r, 64).unwrap(), None);
        let mut long = std::io::Cursor::new(vec![b'x'; 100]);
        let e = read_request(&mut long, 64).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }
}
