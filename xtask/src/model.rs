//! The device model's place in the xtask: QEMU 11.1 with the vfio-user client (from a trixie
//! chroot), and the end-to-end test in which the in-tree ixgbevf drives `vf-model`.
//!
//! Public entry points:
//! - [`setup_trixie_qemu`]: `cargo xtask setup` (idempotent, cached).
//! - [`test_ixgbevf_traffic`]: one `cargo xtask test` check: ixgbevf probes the model, gets its
//!   MAC over the mailbox, brings the link up, passes ping and 100 MiB of TCP each way.
//!
//! QEMU from the chroot runs on the host through the chroot's own dynamic loader and
//! libraries, so no mounts are needed and host paths (kernel, initramfs, sockets) work as is.

use crate::guest::{self, GuestOutput, GuestRun, Hook};
use crate::kernel::Kernel;
use crate::util::{cache_dir, display, have_program, output, run, target_dir};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bump to rebuild the chroot on every machine.
const CHROOT_VERSION: &str = "1";
/// The Debian package whose QEMU has `vfio-user-pci`.
const QEMU_PKG: &str = "qemu-system-x86";
/// Stamp written when the chroot is complete.
const STAMP: &str = ".compsc-vfio-user-qemu";

/// Where the trixie chroot lives (shared by checkouts on this machine).
pub fn chroot_dir() -> PathBuf {
    cache_dir().join(format!("trixie-qemu-v{CHROOT_VERSION}"))
}

fn timed<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    let r = f();
    let secs = start.elapsed().as_secs_f64();
    match &r {
        Ok(_) => eprintln!("    {what}: ok ({secs:.1}s)"),
        Err(_) => eprintln!("    {what}: FAILED ({secs:.1}s)"),
    }
    r
}

/// The Debian mirror the host already uses (so nothing here names one).
fn host_mirror() -> Result<String> {
    let mut texts = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.extension().is_some_and(|e| e == "sources" || e == "list") {
                texts.push(std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    texts.push(std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default());
    for t in &texts {
        for line in t.lines() {
            let line = line.trim();
            let uri = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|w| w.contains("://"))
            } else {
                None
            };
            if let Some(u) = uri {
                let u = u.trim_end_matches('/');
                if u.ends_with("/debian") {
                    return Ok(u.to_owned());
                }
            }
        }
    }
    bail!("no Debian mirror (a URI ending in /debian) found in the host's apt sources")
}

/// The dynamic loader inside the chroot (a real file, not the absolute /lib64 symlink).
fn chroot_loader(root: &Path) -> PathBuf {
    root.join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
}

/// The command that runs the chroot's QEMU on the host: program and leading arguments, for
/// [`GuestRun::qemu`].
pub fn qemu_command() -> Result<Vec<OsString>> {
    let root = chroot_dir();
    if !root.join(STAMP).is_file() {
        bail!(
            "QEMU with vfio-user is not set up ({} missing): run `cargo xtask setup`",
            root.join(STAMP).display()
        );
    }
    let libs = format!(
        "{}:{}",
        root.join("usr/lib/x86_64-linux-gnu").display(),
        root.join("lib/x86_64-linux-gnu").display()
    );
    let mut c: Vec<OsString> = vec![
        "env".into(),
        format!(
            "QEMU_MODULE_DIR={}",
            root.join("usr/lib/x86_64-linux-gnu/qemu").display()
        )
        .into(),
        chroot_loader(&root).into(),
        "--library-path".into(),
        libs.into(),
        root.join("usr/bin/qemu-system-x86_64").into(),
    ];
    c.push("-L".into());
    c.push(root.join("usr/share/qemu").into());
    c.push("-L".into());
    c.push(root.join("usr/share/seabios").into());
    Ok(c)
}

fn qemu_lists_vfio_user() -> Result<String> {
    let c = qemu_command()?;
    let mut cmd = Command::new(&c[0]);
    cmd.args(&c[1..]).args(["-device", "help"]);
    let out = output(&mut cmd)?;
    if !out.contains("\"vfio-user-pci\"") {
        bail!(
            "`{} -device help` does not list vfio-user-pci",
            display(&cmd)
        );
    }
    let mut v = Command::new(&c[0]);
    v.args(&c[1..]).arg("--version");
    Ok(output(&mut v)?.lines().next().unwrap_or("").to_owned())
}

/// Runs `cmd`, naming it and a remedy on failure.
fn run_hint(cmd: &mut Command, hint: &str) -> Result<()> {
    run(cmd).with_context(|| hint.to_owned())
}

/// Whether the chroot was completed by an earlier setup (for `cargo xtask setup --check`).
pub fn trixie_qemu_ready() -> bool {
    chroot_dir().join(STAMP).is_file()
}

/// `cargo xtask setup` step: a minbase trixie chroot with QEMU from trixie-backports, whose
/// `-device help` lists `vfio-user-pci`. Cached: a second run only re-checks QEMU.
///
/// `-t trixie-backports` is used inside the chroot only; the host's apt is never pointed
/// at trixie by this step.
pub fn setup_trixie_qemu() -> Result<()> {
    let root = chroot_dir();
    eprintln!("    chroot: {}", root.display());
    if root.join(STAMP).is_file() {
        if let Ok(v) = timed("cached chroot: check QEMU", qemu_lists_vfio_user) {
            eprintln!("    {v}, vfio-user-pci present");
            return Ok(());
        }
        eprintln!("    cached chroot is broken: rebuilding it");
        let _ = std::fs::remove_file(root.join(STAMP));
    }
    if !have_program("debootstrap") {
        bail!("debootstrap is missing: `cargo xtask setup` installs it with the host packages");
    }
    let mirror = host_mirror()?;
    if !root.join("usr/bin/apt-get").is_file() {
        timed("debootstrap trixie (minbase)", || {
            // A half-made tree from an interrupted run is not trusted.
            if root.exists() {
                std::fs::remove_dir_all(&root)
                    .with_context(|| format!("remove stale {}", root.display()))?;
            }
            std::fs::create_dir_all(root.parent().unwrap_or(Path::new("/")))?;
            let log = target_dir().join("setup/debootstrap.log");
            crate::util::run_logged(
                Command::new("debootstrap")
                    .args(["--variant=minbase", "trixie"])
                    .arg(&root)
                    .arg(&mirror),
                &log,
            )
            .with_context(|| {
                format!(
                    "debootstrap failed; see {} (network? disk space? try removing {})",
                    log.display(),
                    root.display()
                )
            })
        })?;
    }
    timed("add trixie-backports inside the chroot", || {
        let list = root.join("etc/apt/sources.list.d/trixie-backports.list");
        std::fs::write(&list, format!("deb {mirror} trixie-backports main\n"))
            .with_context(|| format!("write {}", list.display()))?;
        // Name resolution for apt inside the chroot.
        let _ = std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf"));
        run_hint(
            Command::new("chroot")
                .arg(&root)
                .args(["apt-get", "update"]),
            "apt-get update inside the chroot failed: check the network; rerun setup",
        )
    })?;
    timed(
        "install qemu-system-x86 from trixie-backports (in the chroot)",
        || {
            let log = target_dir().join("setup/chroot-qemu.log");
            crate::util::run_logged(
                Command::new("chroot")
                    .arg(&root)
                    .args([
                        "apt-get",
                        "install",
                        "-y",
                        "-t",
                        "trixie-backports",
                        "--no-install-recommends",
                        QEMU_PKG,
                    ])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
                &log,
            )
            .with_context(|| {
                format!(
                    "installing {QEMU_PKG} in the chroot failed; see {}; \
                 try `chroot {} apt-get install -t trixie-backports {QEMU_PKG}` by hand",
                    log.display(),
                    root.display()
                )
            })
        },
    )?;
    std::fs::write(root.join(STAMP), "ok\n")?;
    match timed("check that QEMU lists vfio-user-pci", qemu_lists_vfio_user) {
        Ok(v) => {
            eprintln!("    {v}, vfio-user-pci present");
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(root.join(STAMP));
            Err(e).context("the chroot's QEMU cannot run vfio-user devices")
        }
    }
}

/// MAC the PF administrator assigns to the VF in the end-to-end test.
const E2E_MAC: &str = "02:00:00:e2:e0:01";
/// Host-side address (in the test's network namespace) and guest address.
const HOST_IP: &str = "10.77.0.1";
const GUEST_IP: &str = "10.77.0.2";
/// Bytes moved each way: at least 100 MB.
const E2E_BYTES: u64 = 100 << 20;
/// The guest sends 100 copies of a 1 MiB random chunk; every chunk must arrive intact.
const CHUNK: u64 = 1 << 20;

/// Everything the test starts, torn down on drop whatever happened: child processes, the
/// network namespace (and with it the tap), the socket directory.
struct Rig {
    netns: Option<String>,
    children: Vec<(String, Child)>,
    dir: PathBuf,
}

impl Rig {
    fn new(tag: &str) -> Result<Rig> {
        let id = format!("compsc-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&id);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let mut rig = Rig {
            netns: None,
            children: Vec::new(),
            dir,
        };
        // A namespace left by a killed earlier run with the same pid is removed first.
        let _ = Command::new("ip")
            .args(["netns", "del", &id])
            .stderr(Stdio::null())
            .status();
        run(Command::new("ip").args(["netns", "add", &id]))
            .context("creating a network namespace needs root and iproute2")?;
        rig.netns = Some(id);
        Ok(rig)
    }

    fn ns(&self) -> &str {
        self.netns.as_deref().unwrap_or_default()
    }

    fn ip(&self, args: &[&str]) -> Result<()> {
        run(Command::new("ip").arg("-n").arg(self.ns()).args(args))
    }

    fn spawn(&mut self, name: &str, cmd: &mut Command) -> Result<&mut Child> {
        eprintln!("$ {} &", display(cmd));
        let child = cmd.spawn().with_context(|| format!("start {name}"))?;
        self.children.push((name.to_owned(), child));
        Ok(&mut self.children.last_mut().expect("just pushed").1)
    }

    /// Waits up to `limit` for `name` to exit on its own; kills it after that.
    fn finish(&mut self, name: &str, limit: Duration) -> Option<Child> {
        let i = self.children.iter().position(|(n, _)| n == name)?;
        let (_, mut child) = self.children.remove(i);
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(child);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        Some(child)
    }
}

impl Rig {
    /// Asks `name` to exit (SIGTERM, so it removes its sockets), then reaps it.
    fn terminate(&mut self, name: &str) {
        if let Some((_, c)) = self.children.iter().find(|(n, _)| n == name) {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        self.finish(name, Duration::from_secs(5));
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(ns) = self.netns.take() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_for_socket(path: &Path, child: &mut Child, what: &str, log: &Path) -> Result<()> {
    let start = Instant::now();
    while !path.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            bail!(
                "{what} exited ({st}) before listening; see {}",
                log.display()
            );
        }
        // TIMEOUT: the model binds its sockets right after start; 10 s covers a loaded host.
        if start.elapsed() > Duration::from_secs(10) {
            bail!(
                "{what} did not create {} in 10 s; see {}",
                path.display(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// One request on the model's control socket.
fn control(path: &Path, request: &str) -> Result<String> {
    let mut s = UnixStream::connect(path).with_context(|| format!("connect {}", path.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    writeln!(s, "{request}")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

fn build_model() -> Result<(PathBuf, PathBuf)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .current_dir(crate::util::project_root())
        .args(["build", "--release", "--quiet", "-p", "vf-model", "--bins"]))
    .context("building vf-model")?;
    let dir = target_dir().join("release");
    Ok((dir.join("vf-model"), dir.join("vf-peer")))
}

/// Starts `vf-peer MODE` in the namespace and waits until it listens.
fn start_peer(
    rig: &mut Rig,
    peer: &Path,
    mode: &str,
    port: u16,
) -> Result<BufReader<std::process::ChildStdout>> {
    let ns = rig.ns().to_owned();
    let name = format!("vf-peer {mode}");
    let child = rig.spawn(
        &name,
        Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(peer)
            .arg(mode)
            .args(["--listen", &format!("{HOST_IP}:{port}")])
            .args([
                "--bytes",
                &E2E_BYTES.to_string(),
                "--chunk",
                &CHUNK.to_string(),
            ])
            .args(["--timeout", "900"])
            .stdout(Stdio::piped()),
    )?;
    let mut out = BufReader::new(child.stdout.take().context("peer stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    if !line.contains("listening") {
        bail!("{name} did not start: {}", line.trim());
    }
    Ok(out)
}

/// The last JSON line a peer printed, after it finished.
fn peer_result(rig: &mut Rig, mode: &str, mut out: BufReader<std::process::ChildStdout>) -> String {
    rig.finish(&format!("vf-peer {mode}"), Duration::from_secs(10));
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut out, &mut text);
    text.lines().last().unwrap_or("").to_owned()
}

/// Pulls `"key":value` out of a flat JSON line (the peers' output is ours and simple).
fn json_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[at..];
    let end = if rest.starts_with('[') {
        rest.find(']')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim_matches('"'))
}

/// Guest shell: load ixgbevf, bring eth0 up at `GUEST_IP` and wait (up to 30 s) for carrier.
fn ixgbevf_up() -> String {
    format!(
        r#"insmod /modules/ixgbevf.ko
n=0; while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
ip link set eth0 up
ip addr add {GUEST_IP}/24 dev eth0
n=0; while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $n -lt 150 ]; do sleep 0.2; n=$((n+1)); done"#
    )
}

/// The guest's side of the test (run by `/init` with `sh -e`).
fn plan() -> String {
    format!(
        r#"{up}
echo "E2E-MAC $(cat /sys/class/net/eth0/address)"
echo "E2E-CARRIER $(cat /sys/class/net/eth0/carrier)"
ping -c 20 -i 0.2 -W 5 {HOST_IP} || echo "E2E-PING-FAILED"
head -c {CHUNK} /dev/urandom > /tmp/chunk
echo "E2E-CHUNK $(crc32 < /tmp/chunk)"
i=0; while [ $i -lt {copies} ]; do cat /tmp/chunk; i=$((i+1)); done | nc {HOST_IP} 5001 || echo "E2E-TX-FAILED"
echo "E2E-RX $(nc {HOST_IP} 5002 </dev/null | crc32)"
echo E2E-LINK-DOWN
n=0; while [ "$(cat /sys/class/net/eth0/carrier)" != 0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
echo "E2E-CARRIER-DOWN $(cat /sys/class/net/eth0/carrier)"
echo E2E-LINK-UP
n=0; while [ "$(cat /sys/class/net/eth0/carrier)" != 1 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
echo "E2E-CARRIER-UP $(cat /sys/class/net/eth0/carrier)"
ping -c 3 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-AFTER-RELINK ok || echo E2E-PING-AFTER-RELINK failed
echo "E2E-DMESG-BEGIN"
dmesg | grep -i ixgbevf || true
echo "E2E-DMESG-END"
"#,
        copies = E2E_BYTES / CHUNK,
        up = ixgbevf_up()
    )
}

/// No kernel trouble in the console, and the model refused no guest access, descriptor or DMA.
fn clean_run(console: &str, stats: &str) -> Result<()> {
    let trouble = crate::test::kernel_trouble(console);
    if !trouble.is_empty() {
        bail!("kernel trouble: {}", trouble.join(" | "));
    }
    for key in ["bad_accesses", "bad_descriptors", "dma_errors"] {
        if json_field(stats, key).is_some_and(|v| v != "0") {
            bail!("the model refused guest input ({key}): {stats}");
        }
    }
    Ok(())
}

/// The reference driver built with the guest kernel.
fn ixgbevf_ko(kernel: &Kernel) -> Result<PathBuf> {
    let ko = kernel.ixgbevf_ko();
    if !ko.is_file() {
        bail!(
            "{} missing: the guest kernel needs CONFIG_IXGBEVF=m",
            ko.display()
        );
    }
    Ok(ko)
}

/// A vf-model whose packet backend is a tap in a fresh network namespace, the host end
/// configured as `HOST_IP/24`: the guest's peer for ping and TCP.
fn networked_model(model_bin: &Path, tag: &str, name: &str) -> Result<(Rig, ModelProc)> {
    let mut rig = Rig::new(tag)?;
    let ns = rig.ns().to_owned();
    let m = start_model(
        &mut rig,
        model_bin,
        name,
        &["--netns", &ns, "--tap", "vfm0"],
    )?;
    rig.ip(&["link", "set", "lo", "up"])?;
    rig.ip(&["addr", "add", &format!("{HOST_IP}/24"), "dev", "vfm0"])?;
    rig.ip(&["link", "set", "vfm0", "up"])?;
    Ok((rig, m))
}

/// Attaches vf-model at `sock` to a guest: the chroot's QEMU and `qemu-images/vf-model.profile`.
fn attach_model(g: &mut GuestRun, sock: &Path) -> Result<()> {
    g.qemu = qemu_command()?;
    let vars = [
        ("MEMORY_MB", g.memory_mb.to_string()),
        ("SOCKET", sock.display().to_string()),
    ];
    g.extra_args.extend(
        guest::profile("vf-model", &vars)?
            .into_iter()
            .map(OsString::from),
    );
    Ok(())
}

/// A running vf-model: its vfio-user socket, control socket and log.
struct ModelProc {
    sock: PathBuf,
    ctl: PathBuf,
    log: PathBuf,
}

/// Starts vf-model in `rig` (named `vf-model`), logging to `target/guest/<name>.model.log`,
/// with `extra` arguments after the sockets and the PF-assigned MAC; returns once both sockets
/// listen.
fn start_model(rig: &mut Rig, model_bin: &Path, name: &str, extra: &[&str]) -> Result<ModelProc> {
    let logs = guest::guest_dir();
    std::fs::create_dir_all(&logs)?;
    let log = logs.join(format!("{name}.model.log"));
    let sock = rig.dir.join("vf0.sock");
    let ctl = rig.dir.join("ctl.sock");
    let log_file = std::fs::File::create(&log)?;
    let model = rig.spawn(
        "vf-model",
        Command::new(model_bin)
            .arg("--socket")
            .arg(&sock)
            .arg("--control")
            .arg(&ctl)
            .args(["--mac", E2E_MAC, "--linger"])
            .args(extra)
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file)),
    )?;
    wait_for_socket(&ctl, model, "vf-model", &log)?;
    wait_for_socket(&sock, model, "vf-model", &log)?;
    Ok(ModelProc { sock, ctl, log })
}

/// Boots `g` with a fresh vf-model (no packet backend, started with `model_args`) attached,
/// after sending `before` (control requests such as fault injections) to the model; returns the console and the model's final
/// statistics. The model and its sockets are gone when this returns.
pub fn boot_with_model(
    kernel: &Kernel,
    mut g: GuestRun,
    model_args: &[&str],
    before: &[&str],
) -> Result<(GuestOutput, String)> {
    let (model_bin, _) = build_model()?;
    let mut rig = Rig::new("cvf")?;
    let m = start_model(&mut rig, &model_bin, &g.name, model_args)?;
    for req in before {
        let reply = control(&m.ctl, req)?;
        if json_field(&reply, "ok") != Some("true") {
            bail!("the model refused `{req}`: {reply}");
        }
    }
    attach_model(&mut g, &m.sock)?;
    let out = guest::boot(kernel, &mut g)?;
    let stats =
        control(&m.ctl, r#"{"cmd":"stats"}"#).unwrap_or_else(|e| format!("(no stats: {e:#})"));
    rig.terminate("vf-model");
    Ok((out, stats))
}

/// The guest plan that binds compsc_vf to the model and unbinds it by unloading.
pub const COMPSC_PROBE_PLAN: &str = "\
insmod /modules/compsc_vf.ko
n=0; while ! ls /sys/bus/pci/drivers/compsc_vf | grep -q : && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
echo \"E2E-BOUND $(ls /sys/bus/pci/drivers/compsc_vf | grep :)\"
rmmod compsc_vf
echo \"E2E-UNLOADED $(grep -c compsc_vf /proc/modules)\"
";

/// `cargo xtask test` check: compsc_vf binds the model's 82599 VF, maps BAR0, resets the VF,
/// gets its MAC and an API version over the PF mailbox, prints its probe line, and unbinds
/// cleanly on rmmod, with a clean kernel log and no access the model refused.
pub fn test_compsc_vf_probe(kernel: &Kernel, ko: &Path) -> Result<()> {
    let mut g = GuestRun::new("compsc-probe", COMPSC_PROBE_PLAN);
    g.files
        .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
    let (out, stats) = boot_with_model(kernel, g, &[], &[])?;
    out.check_plan()?;
    let c = &out.console;
    let bound = marker(c, "E2E-BOUND").unwrap_or_default();
    if !bound.starts_with("0000:") {
        bail!(
            "compsc_vf did not bind the model; console {}",
            out.log_path.display()
        );
    }
    // The probe line proves the reset handshake and the PF session ran through the core's
    // mailbox machines against the model's PF: the MAC is the one the model's PF assigns.
    let probe = c
        .lines()
        .find(|l| l.contains("82599 VF [8086:10ed] BAR0"))
        .unwrap_or_default();
    if !probe.contains(&format!("MAC {E2E_MAC}")) || !probe.contains("mailbox API 1.") {
        bail!(
            "compsc_vf's probe line lacks the PF-assigned MAC {E2E_MAC} or the API: `{probe}`; console {}",
            out.log_path.display()
        );
    }
    if !c.contains("82599 VF unbound") {
        bail!(
            "no unbind line from compsc_vf; console {}",
            out.log_path.display()
        );
    }
    if marker(c, "E2E-UNLOADED") != Some("0") {
        bail!(
            "compsc_vf still loaded after rmmod; console {}",
            out.log_path.display()
        );
    }
    clean_run(c, &stats).with_context(|| format!("console {}", out.log_path.display()))?;
    Ok(())
}

/// compsc_vf binds the model presented as each other VF generation (the model keeps the 82599
/// register model; the ids select the core's per-MAC data): the probe line names the MAC type
/// from the core's table and the session comes up.
pub fn test_compsc_vf_ids(kernel: &Kernel, ko: &Path) -> Result<()> {
    for (id, name) in [
        ("1515", "X540"),
        ("1565", "X550"),
        ("15a8", "X550EM_x"),
        ("15c5", "X550EM_a"),
        ("57ad", "E610"),
    ] {
        let mut g = GuestRun::new(&format!("compsc-id-{id}"), COMPSC_PROBE_PLAN);
        g.files
            .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
        let (out, _) = boot_with_model(kernel, g, &["--device-id", id], &[])?;
        out.check_plan()?;
        let want = format!("{name} VF [8086:{id}] BAR0");
        let probe = out
            .console
            .lines()
            .find(|l| l.contains(&want))
            .unwrap_or_default();
        if !probe.contains(&format!("MAC {E2E_MAC}")) {
            bail!(
                "no `{want} ...: MAC {E2E_MAC}` probe line; console {}",
                out.log_path.display()
            );
        }
        if marker(&out.console, "E2E-UNLOADED") != Some("0") {
            bail!(
                "compsc_vf still loaded after rmmod; console {}",
                out.log_path.display()
            );
        }
    }
    Ok(())
}

/// The guest side of the swap baseline: traffic, a swap asked of the host, wait until ixgbevf
/// notices it (carrier drops), then ping until the VF carries traffic again (up to 60 s), with
/// eth0's counters before and after.
fn swap_plan() -> String {
    format!(
        r#"{up}
ping -c 5 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-BEFORE ok || echo E2E-PING-BEFORE failed
echo "E2E-RX-BEFORE $(cat /sys/class/net/eth0/statistics/rx_packets)"
echo E2E-SWAP
n=0; while [ "$(cat /sys/class/net/eth0/carrier)" != 0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
echo "E2E-CARRIER-AFTER-SWAP $(cat /sys/class/net/eth0/carrier)"
n=0; until ping -c 1 -W 1 {HOST_IP} >/dev/null 2>&1; do n=$((n+1)); [ $n -ge 60 ] && break; done
echo "E2E-PINGS-UNTIL-BACK $n"
ping -c 5 -i 0.2 -W 5 {HOST_IP} >/dev/null && echo E2E-PING-AFTER ok || echo E2E-PING-AFTER failed
echo "E2E-RX-AFTER $(cat /sys/class/net/eth0/statistics/rx_packets)"
echo "E2E-MAC-AFTER $(cat /sys/class/net/eth0/address)"
"#,
        up = ixgbevf_up()
    )
}

/// What the swap baseline measured.
pub struct SwapReport {
    /// Failed one-second pings before the swapped VF carried traffic again.
    pub pings_until_back: u32,
    /// eth0's rx_packets before and after.
    pub rx_packets: (u64, u64),
}

/// Baseline for what CompSC is for: the in-tree ixgbevf, which has no self-emulation, under a
/// VF swap (the model replaces the VF with a fresh device whose counters and PF state differ,
/// as a destination host presents it). ixgbevf notices the reset on the mailbox, resets and
/// renegotiates; the check is that the swap looks like a real destination to a real driver:
/// traffic stops, the driver recovers on its own, the same PF-assigned MAC comes back, and the
/// kernel stays clean. The measured outage and counters are reported, not judged.
pub fn test_ixgbevf_swap(kernel: &Kernel) -> Result<SwapReport> {
    let qemu = qemu_command()?;
    let ko = ixgbevf_ko(kernel)?;
    let (model_bin, _) = build_model()?;
    let (mut rig, m) = networked_model(&model_bin, "swp", "ixgbevf-swap")?;
    let mut g = GuestRun::new("ixgbevf-swap", swap_plan());
    g.files.push((ko, "/modules/ixgbevf.ko".into()));
    g.qemu = qemu;
    g.timeout = Duration::from_secs(300);
    attach_model(&mut g, &m.sock)?;
    let ctl = m.ctl.clone();
    g.hooks.push(Hook::new("E2E-SWAP", move || {
        let reply = control(&ctl, r#"{"cmd":"swap"}"#)?;
        if json_field(&reply, "ok") != Some("true") {
            bail!("the model refused the swap: {reply}");
        }
        Ok(())
    }));
    let out = guest::boot(kernel, &mut g)?;
    let stats =
        control(&m.ctl, r#"{"cmd":"stats"}"#).unwrap_or_else(|e| format!("(no stats: {e:#})"));
    rig.terminate("vf-model");
    let c = &out.console;
    let here = format!(
        "console {}, model log {}",
        out.log_path.display(),
        m.log.display()
    );
    out.check_plan().with_context(|| here.clone())?;
    if marker(c, "E2E-PING-BEFORE") != Some("ok") {
        bail!("no traffic before the swap; {here}");
    }
    // The swap must have been seen: ixgbevf finds the reset on the mailbox and drops the link.
    if marker(c, "E2E-CARRIER-AFTER-SWAP") != Some("0") {
        bail!("ixgbevf never noticed the swap (carrier stayed up); {here}");
    }
    let back: u32 = marker(c, "E2E-PINGS-UNTIL-BACK")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX);
    if back >= 60 || marker(c, "E2E-PING-AFTER") != Some("ok") {
        bail!("ixgbevf did not carry traffic again within 60 s of the swap; {here}");
    }
    if marker(c, "E2E-MAC-AFTER") != Some(E2E_MAC) {
        bail!("eth0 lost the PF-assigned MAC across the swap; {here}");
    }
    clean_run(c, &stats).with_context(|| here.clone())?;
    let num = |k: &str| marker(c, k).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(SwapReport {
        pings_until_back: back,
        rx_packets: (num("E2E-RX-BEFORE"), num("E2E-RX-AFTER")),
    })
}

/// One hostile-PF case for compsc_vf's bring-up.
struct FaultCase {
    /// Names the guest log.
    name: &'static str,
    /// The fault, as a control request sent before the guest boots.
    fault: &'static str,
    /// Whether bring-up must still succeed (the core recovers) or fail cleanly.
    recovers: bool,
}

/// The PF misbehaves during compsc_vf's bring-up. A lost message and a ping that overwrites
/// the request are recovered by the core's mailbox machine (resend of an idempotent request);
/// a PF that holds the VF in reset makes the probe fail with a line that says so. In every
/// case: no kernel trouble, the module unloads, the model refused nothing.
pub fn test_compsc_vf_faults(kernel: &Kernel, ko: &Path) -> Result<()> {
    const CASES: [FaultCase; 3] = [
        FaultCase {
            name: "fault-lost-msg",
            fault: r#"{"cmd":"fault","kind":"lose_msgs","count":1}"#,
            recovers: true,
        },
        FaultCase {
            name: "fault-ping-race",
            fault: r#"{"cmd":"fault","kind":"ping_race","count":1}"#,
            recovers: true,
        },
        FaultCase {
            name: "fault-held-reset",
            fault: r#"{"cmd":"fault","kind":"hold_rsti","ms":200}"#,
            recovers: false,
        },
    ];
    for case in CASES {
        let mut g = GuestRun::new(case.name, COMPSC_PROBE_PLAN);
        g.files
            .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
        let (out, stats) = boot_with_model(kernel, g, &[], &[case.fault])?;
        let c = &out.console;
        let here = format!("{}: console {}", case.name, out.log_path.display());
        out.check_plan().with_context(|| here.clone())?;
        let bound = marker(c, "E2E-BOUND")
            .unwrap_or_default()
            .starts_with("0000:");
        let probe_ok = c.lines().any(|l| l.contains(&format!("MAC {E2E_MAC}")));
        if case.recovers && !(bound && probe_ok) {
            bail!("compsc_vf did not recover from the fault; {here}");
        }
        if !case.recovers {
            if bound {
                bail!("compsc_vf bound a VF whose reset never completed; {here}");
            }
            if !c.contains("bring-up failed: VF reset did not complete") {
                bail!("no dmesg line saying the VF reset did not complete; {here}");
            }
        }
        if marker(c, "E2E-UNLOADED") != Some("0") {
            bail!("compsc_vf still loaded after rmmod; {here}");
        }
        clean_run(c, &stats).with_context(|| here.clone())?;
    }
    Ok(())
}

/// What the end-to-end test measured.
pub struct TrafficReport {
    /// Guest-to-host TCP throughput, Mbit/s (host-side timing).
    pub tx_mbit_s: f64,
    /// Host-to-guest TCP throughput, Mbit/s (host-side timing, until all data was acked).
    pub rx_mbit_s: f64,
    /// Guest ping round trip to the host peer: min/avg/max in ms.
    pub ping_ms: (f64, f64, f64),
}

/// `cargo xtask test` check: the in-tree ixgbevf, loaded in the guest, probes vf-model, gets
/// its MAC over the mailbox, reports link up, passes ping and 100 MiB of TCP each way with a
/// peer in a network namespace on the host, follows a PF link flap (down, up, ping again),
/// with no driver error in dmesg. Prints the
/// measured throughput and latency. An error names what failed and where the logs are.
pub fn test_ixgbevf_traffic(kernel: &Kernel) -> Result<()> {
    let r = run_ixgbevf_traffic(kernel)?;
    eprintln!(
        "    ixgbevf on vf-model: TCP guest->host {:.0} Mbit/s, host->guest {:.0} Mbit/s, \
         ping min/avg/max {:.3}/{:.3}/{:.3} ms",
        r.tx_mbit_s, r.rx_mbit_s, r.ping_ms.0, r.ping_ms.1, r.ping_ms.2
    );
    Ok(())
}

/// The test itself, returning the measurements.
pub fn run_ixgbevf_traffic(kernel: &Kernel) -> Result<TrafficReport> {
    let qemu = qemu_command()?;
    let ko = ixgbevf_ko(kernel)?;
    let (model_bin, peer_bin) = build_model()?;
    let (mut rig, m) = networked_model(&model_bin, "vfm", "ixgbevf-e2e")?;
    let (sock, ctl, model_log) = (m.sock, m.ctl, m.log);
    let sink = start_peer(&mut rig, &peer_bin, "sink", 5001)?;
    let source = start_peer(&mut rig, &peer_bin, "source", 5002)?;

    let mut g = GuestRun::new("ixgbevf-e2e", plan());
    g.files.push((ko.clone(), "/modules/ixgbevf.ko".into()));
    g.qemu = qemu;
    g.timeout = Duration::from_secs(900);
    attach_model(&mut g, &sock)?;
    // The host side of the link flap: the PF's physical link goes down and up again.
    for (mark, up) in [("E2E-LINK-DOWN", false), ("E2E-LINK-UP", true)] {
        let ctl = ctl.clone();
        g.hooks.push(Hook::new(mark, move || {
            let reply = control(&ctl, &format!(r#"{{"cmd":"link","up":{up}}}"#))?;
            if json_field(&reply, "ok") != Some("true") {
                bail!("the model refused the link change: {reply}");
            }
            Ok(())
        }));
    }
    let out = guest::boot(kernel, &mut g)?;
    let stats =
        control(&ctl, r#"{"cmd":"stats"}"#).unwrap_or_else(|e| format!("(no stats: {e:#})"));
    let tx = peer_result(&mut rig, "sink", sink);
    let rx = peer_result(&mut rig, "source", source);
    rig.terminate("vf-model");
    drop(rig);
    let where_ = format!(
        "console {}, model log {}",
        out.log_path.display(),
        model_log.display()
    );
    eprintln!("    model stats: {stats}");
    out.check_plan()?;
    analyse(&out.console, &tx, &rx, &stats).with_context(|| where_)
}

fn parse_ping(console: &str) -> Option<(f64, f64, f64)> {
    let line = console
        .lines()
        .find(|l| l.contains("round-trip min/avg/max"))?;
    let nums = line.split('=').nth(1)?.trim().trim_end_matches("ms").trim();
    let v: Vec<f64> = nums
        .split('/')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    (v.len() == 3).then(|| (v[0], v[1], v[2]))
}

fn marker<'a>(console: &'a str, key: &str) -> Option<&'a str> {
    console
        .lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(str::trim)
}

fn analyse(console: &str, tx: &str, rx: &str, stats: &str) -> Result<TrafficReport> {
    // The model counts every access and descriptor it had to refuse; a faithful model
    // driven by the reference driver refuses none.
    for key in ["bad_accesses", "bad_descriptors", "dma_errors"] {
        match json_field(stats, key) {
            Some("0") => {}
            Some(n) => bail!("the model refused {n} guest operations ({key}); see its log"),
            None => bail!("no final statistics from the model: {stats}"),
        }
    }
    if !console.contains("ixgbevf") || !console.contains("82599") {
        bail!("ixgbevf did not probe the model as an 82599 VF");
    }
    let mac = marker(console, "E2E-MAC").unwrap_or("");
    if mac != E2E_MAC {
        bail!("eth0 has MAC {mac:?}, not {E2E_MAC} from the PF's VF_RESET reply");
    }
    if marker(console, "E2E-CARRIER") != Some("1") {
        bail!("eth0 reports no carrier (link down)");
    }
    if !console.contains("NIC Link is Up") {
        bail!("ixgbevf never reported \"NIC Link is Up\"");
    }
    if console.contains("E2E-PING-FAILED") || !console.contains("20 packets received") {
        bail!("ping {HOST_IP}: not every reply came back");
    }
    let ping_ms = parse_ping(console).context("no ping summary in the console")?;
    if console.contains("E2E-TX-FAILED") {
        bail!("guest nc to the sink failed");
    }
    let chunk = marker(console, "E2E-CHUNK").context("the guest printed no chunk CRC")?;
    if json_field(tx, "error").is_some() || json_field(tx, "bytes") != Some(&E2E_BYTES.to_string())
    {
        bail!("guest->host transfer incomplete: sink said {tx}");
    }
    let crcs = json_field(tx, "chunk_crcs").unwrap_or("");
    if crcs != format!("[\"{chunk}\"]") {
        bail!("guest->host data corrupted: chunk CRCs {crcs}, guest sent {chunk} every time");
    }
    let rx_crc = marker(console, "E2E-RX").unwrap_or("");
    if json_field(rx, "error").is_some() || json_field(rx, "crc") != Some(rx_crc) {
        bail!("host->guest transfer: source said {rx}, guest computed CRC {rx_crc:?}");
    }
    // Link flap: the PF's ping makes ixgbevf re-read VFLINKS in both directions.
    if marker(console, "E2E-CARRIER-DOWN") != Some("0") || !console.contains("NIC Link is Down") {
        bail!("after the PF's link went down, ixgbevf kept its carrier");
    }
    if marker(console, "E2E-CARRIER-UP") != Some("1") {
        bail!("after the PF's link came back, ixgbevf reported no carrier");
    }
    if marker(console, "E2E-PING-AFTER-RELINK") != Some("ok") {
        bail!("no ping through the VF after the link came back");
    }
    let dmesg: Vec<&str> = console
        .lines()
        .skip_while(|l| !l.contains("E2E-DMESG-BEGIN"))
        .take_while(|l| !l.contains("E2E-DMESG-END"))
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            [
                "error",
                "fail",
                "hang",
                "timeout",
                "timed out",
                "not set",
                "not cleared",
                "reset",
                "not assigned",
            ]
            .iter()
            .any(|w| l.contains(w))
        })
        .collect();
    let trouble = crate::test::kernel_trouble(console);
    if !dmesg.is_empty() || !trouble.is_empty() {
        bail!(
            "errors in the guest kernel log: {}",
            dmesg
                .iter()
                .chain(trouble.iter())
                .copied()
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    let mbit = |line: &str| -> Result<f64> {
        let secs: f64 = json_field(line, "secs")
            .and_then(|s| s.parse().ok())
            .context("no time")?;
        Ok(E2E_BYTES as f64 * 8.0 / secs.max(1e-6) / 1e6)
    };
    Ok(TrafficReport {
        tx_mbit_s: mbit(tx)?,
        rx_mbit_s: mbit(rx)?,
        ping_ms,
    })
}
