//! vf-model: serves an emulated 82599 VF to QEMU over vfio-user.
//!
//! ```text
//! vf-model --socket PATH [--control PATH] [--device-id 10ed] [--mac MAC] [--trusted]
//!          [--tap NAME] [--netns NAME] [--queues N] [--pf-mtu N] [--no-doorbell] [--linger] [--verbose]
//! ```
//! QEMU attaches with
//! `-device '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"PATH"}}'`
//! and guest RAM in a shared memfd (`-object memory-backend-memfd,...,share=on`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use log::{error, info, LevelFilter, Log, Metadata, Record};
use vf_model::backend::{enter_netns, NullBackend, PacketBackend, Tap};
use vf_model::config::ConfigSpace;
use vf_model::control::parse_mac;
use vf_model::dma::MappedMemory;
use vf_model::msix::EventFdSink;
use vf_model::pf::Admin;
use vf_model::server::{bind, spawn_control, spawn_worker, Shared, VfioBackend};
use vf_model::{Device, DeviceConfig, Timing};

/// VF device ids whose drivers talk to the PF over the mailbox. The register model is the
/// 82599 VF's for all of them.
const VF_IDS: &[u16] = vf_model::SWAP_IDS;
/// The Hyper-V variants: their drivers never use the mailbox and read the MAC from config
/// space at 0x201 instead; the model publishes the admin MAC there.
const HV_IDS: &[u16] = &[0x152E, 0x1530, 0x1564, 0x15A9];

struct StderrLog {
    start: Instant,
    level: LevelFilter,
}

impl Log for StderrLog {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= self.level
    }
    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            let t = self.start.elapsed();
            eprintln!(
                "[{:>6}.{:06}] vf-model {}: {}",
                t.as_secs(),
                t.subsec_micros(),
                r.level(),
                r.args()
            );
        }
    }
    fn flush(&self) {}
}

struct Args {
    socket: PathBuf,
    control: Option<PathBuf>,
    device_id: u16,
    admin: Admin,
    tap: Option<String>,
    netns: Option<String>,
    linger: bool,
    verbose: bool,
    doorbell: bool,
}

const USAGE: &str = "usage: vf-model --socket PATH [--control PATH] [--device-id HEX] [--mac MAC] \
[--trusted] [--query-rss] [--tap NAME] [--netns NAME] [--queues N] [--pf-mtu N] [--no-doorbell] [--linger] [--verbose]\n\
--no-doorbell leaves out the migration doorbell capability (a hypervisor without it).\n\
--linger keeps the control socket up after QEMU disconnects, until SIGTERM, so a harness can \
read the final statistics.";

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut socket = None;
    let mut a = Args {
        socket: PathBuf::new(),
        control: None,
        device_id: 0x10ED,
        admin: Admin::default(),
        tap: None,
        netns: None,
        linger: false,
        verbose: false,
        doorbell: true,
    };
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--socket" => socket = Some(PathBuf::from(val("--socket")?)),
            "--control" => a.control = Some(PathBuf::from(val("--control")?)),
            "--device-id" => {
                let v = val("--device-id")?;
                let id = u16::from_str_radix(v.trim_start_matches("0x"), 16)
                    .map_err(|_| format!("--device-id: {v:?} is not hexadecimal"))?;
                if !VF_IDS.contains(&id) && !HV_IDS.contains(&id) {
                    return Err(format!(
                        "--device-id {id:04x}: choose one of {VF_IDS:04x?} or, Hyper-V, {HV_IDS:04x?}"
                    ));
                }
                a.device_id = id;
            }
            "--mac" => {
                let v = val("--mac")?;
                a.admin.mac = Some(
                    parse_mac(&v)
                        .ok_or_else(|| format!("--mac: {v:?} is not aa:bb:cc:dd:ee:ff"))?,
                );
            }
            "--trusted" => a.admin.trusted = true,
            "--query-rss" => a.admin.rss_query = true,
            "--tap" => a.tap = Some(val("--tap")?),
            "--netns" => a.netns = Some(val("--netns")?),
            "--queues" => {
                let v = val("--queues")?;
                a.admin.queues = match v.parse() {
                    Ok(n @ (1 | 2 | 4 | 8)) => n,
                    _ => return Err(format!("--queues: {v:?} is not 1, 2, 4 or 8")),
                };
            }
            "--pf-mtu" => {
                let v = val("--pf-mtu")?;
                a.admin.pf_mtu = v
                    .parse()
                    .ok()
                    .filter(|m| (68..=9710).contains(m))
                    .ok_or_else(|| format!("--pf-mtu: {v:?} is not 68..9710"))?;
            }
            "--linger" => a.linger = true,
            "--no-doorbell" => a.doorbell = false,
            "--verbose" => a.verbose = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    a.socket = socket.ok_or_else(|| format!("--socket is required\n{USAGE}"))?;
    Ok(a)
}

/// Blocks SIGTERM/SIGINT in this thread (and so in every thread spawned after) and returns
/// the set, for a dedicated thread to wait on.
fn block_signals() -> libc::sigset_t {
    // SAFETY: plain sigset manipulation on a local, then pthread_sigmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn run(a: Args) -> Result<(), String> {
    if let Some(ns) = &a.netns {
        enter_netns(ns).map_err(|e| format!("--netns {ns}: {e}"))?;
    }
    let wire: Box<dyn PacketBackend> = match &a.tap {
        Some(name) => Box::new(Tap::open(name).map_err(|e| format!("--tap {name}: {e}"))?),
        None => Box::new(NullBackend),
    };
    let cfg = DeviceConfig {
        device_id: a.device_id,
        admin: a.admin.clone(),
        timing: Timing::default(),
    };
    let dev = Device::new(
        cfg,
        Box::new(MappedMemory::new()),
        Box::new(EventFdSink::default()),
        Instant::now(),
    );
    // The migration doorbell, as a hypervisor would emulate it (docs/doorbell.md).
    let extra = if a.doorbell {
        vec![vf_model::doorbell::capability()]
    } else {
        vec![]
    };
    let mut config = ConfigSpace::new(a.device_id, extra);
    if HV_IDS.contains(&a.device_id) {
        config.set_hv_mac(a.admin.mac.unwrap_or_default());
    }
    let shared = Shared::new(dev, config).map_err(|e| format!("eventfd: {e}"))?;

    let set = block_signals();
    let server = bind(&a.socket)?;
    let mut cleanup: Vec<PathBuf> = vec![a.socket.clone()];
    if let Some(c) = &a.control {
        if c.exists() {
            std::fs::remove_file(c)
                .map_err(|e| format!("remove stale socket {}: {e}", c.display()))?;
        }
        spawn_control(shared.clone(), c).map_err(|e| e.to_string())?;
        cleanup.push(c.clone());
    }
    {
        let cleanup = cleanup.clone();
        std::thread::Builder::new()
            .name("vfm-sig".into())
            .spawn(move || {
                let mut sig = 0;
                // SAFETY: sigwait on the set blocked above, with a valid out pointer.
                unsafe { libc::sigwait(&set, &mut sig) };
                info!("signal {sig}: exiting");
                for p in &cleanup {
                    let _ = std::fs::remove_file(p);
                }
                std::process::exit(0);
            })
            .map_err(|e| format!("spawn: {e}"))?;
    }
    let worker = spawn_worker(shared.clone(), wire).map_err(|e| format!("spawn: {e}"))?;
    info!(
        "serving {:04x} on {}{}{}",
        a.device_id,
        a.socket.display(),
        a.tap
            .as_deref()
            .map(|t| format!(", wire tap {t}"))
            .unwrap_or_default(),
        a.admin
            .mac
            .map(|m| format!(", MAC {}", vf_model::control::fmt_mac(&m)))
            .unwrap_or_default()
    );
    let result = server.run(&mut VfioBackend(shared.clone()));
    shared.stop();
    let _ = worker.join();
    if a.linger {
        if let Err(e) = &result {
            error!("vfio-user: {e}");
        }
        info!("client disconnected; control socket stays up until SIGTERM");
        loop {
            std::thread::park();
        }
    }
    for p in &cleanup {
        let _ = std::fs::remove_file(p);
    }
    result.map_err(|e| format!("vfio-user: {e}"))?;
    info!("client disconnected");
    Ok(())
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vf-model: {e}");
            return ExitCode::from(2);
        }
    };
    let level = if a.verbose {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let logger = Box::leak(Box::new(StderrLog {
        start: Instant::now(),
        level,
    }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
    match run(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}
