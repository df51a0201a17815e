//! What an end-to-end test starts on the host, and its teardown: vf-model, the peers in a
//! network namespace, the sockets between them and QEMU. Everything a [`Rig`] starts is gone
//! when it drops, whichever step failed.

use super::chroot::qemu_command;
use crate::guest::{self, GuestOutput, GuestRun};
use crate::kernel::Kernel;
use crate::util::{display, run, target_dir};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// MAC the PF administrator assigns to the VF in the end-to-end test.
pub(super) const E2E_MAC: &str = "02:00:00:e2:e0:01";

/// Host-side address (in the test's network namespace) and guest address.
pub(super) const HOST_IP: &str = "10.77.0.1";

/// Guest shell ending a plan: rmmod compsc_vf under a ping flood to the peer ([`HOST_IP`]), then
/// `E2E-UNLOADED <count left in /proc/modules>` (0 when it unloaded).
pub(super) const RMMOD_UNDER_FLOOD: &str = r#"ping -f -c 3000 10.77.0.1 >/dev/null 2>&1 &
sleep 1
rmmod compsc_vf
echo "E2E-UNLOADED $(grep -c compsc_vf /proc/modules)"
wait
"#;

pub(super) const GUEST_IP: &str = "10.77.0.2";
/// The guest's address on VLAN 5 (the host has no VLAN support of its own: the check reads
/// the model's filter table and tagged-frame count instead of a reply).
pub(super) const GUEST_VLAN_IP: &str = "10.77.5.2";

/// Bytes moved each way: at least 100 MB.
pub(super) const E2E_BYTES: u64 = 100 << 20;

/// How long the hypervisor's side waits for the guest to answer a doorbell on `kernel`: the
/// debug kernel's checkers make a RESTORE several times slower.
pub(super) fn answer_limit(kernel: &crate::kernel::Kernel) -> Duration {
    match kernel.flavor {
        crate::kernel::Flavor::Standard | crate::kernel::Flavor::Previous => Duration::from_secs(5),
        crate::kernel::Flavor::Debug => Duration::from_secs(20),
    }
}

/// The bytes each way of the end-to-end transfers on `kernel`: [`E2E_BYTES`], or 16 MiB on
/// the debug kernel, whose checkers make TCP under TCG several times slower (the checks are
/// about what the driver does, which 16 MiB exercises the same way).
pub(super) fn e2e_bytes(kernel: &crate::kernel::Kernel) -> u64 {
    match kernel.flavor {
        crate::kernel::Flavor::Standard | crate::kernel::Flavor::Previous => E2E_BYTES,
        crate::kernel::Flavor::Debug => 16 << 20,
    }
}

/// The guest sends 100 copies of a 1 MiB random chunk; every chunk must arrive intact.
pub(super) const CHUNK: u64 = 1 << 20;

/// Everything the test starts, torn down on drop whatever happened: child processes, the
/// network namespace (and with it the tap), the socket directory.
pub(super) struct Rig {
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
        sweep_stale();
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

    pub(super) fn ns(&self) -> &str {
        self.netns.as_deref().unwrap_or_default()
    }

    pub(super) fn ip(&self, args: &[&str]) -> Result<()> {
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
    pub(super) fn terminate(&mut self, name: &str) {
        if let Some((_, c)) = self.children.iter().find(|(n, _)| n == name) {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        self.finish(name, Duration::from_secs(5));
    }
}

/// Removes the namespaces and socket directories of earlier runs that were killed before their
/// rig could drop (SIGKILL, a lost terminal): `compsc-<tag>-<pid>` whose pid is gone. Runs of
/// other checkouts that are still alive keep theirs.
fn sweep_stale() {
    let Ok(list) = crate::util::output(Command::new("ip").args(["netns", "list"])) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if stale_pid(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            eprintln!("    removing namespace {name} left by a run that no longer exists");
            let _ = Command::new("ip").args(["netns", "del", name]).status();
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(name));
        }
    }
}

/// The pid in a rig's name `compsc-<tag>-<pid>`, if `name` is one.
fn stale_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("compsc-")?;
    let (tag, pid) = rest.rsplit_once('-')?;
    (!tag.is_empty() && !tag.contains('-')).then_some(())?;
    pid.parse().ok()
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
/// After a guest run with model `m`: the model's final statistics (or why there are none,
/// which the clean-run check refuses), the model stopped, and where the logs are.
pub(super) fn finish_model(rig: &mut Rig, m: &ModelProc, out: &GuestOutput) -> (String, String) {
    let stats =
        control(&m.ctl, r#"{"cmd":"stats"}"#).unwrap_or_else(|e| format!("(no stats: {e:#})"));
    rig.terminate("vf-model");
    let here = format!(
        "console {}, model log {}",
        out.log_path.display(),
        keep_model_log(&m.log, out).display()
    );
    (stats, here)
}

/// Where the model's log of a finished run stays: beside the run's console log, under the
/// same name (which carries the kernel's flavor), so that a later pass of the same test on
/// another kernel does not overwrite the log of a failure.
pub(super) fn keep_model_log(log: &Path, out: &GuestOutput) -> PathBuf {
    let kept = out.log_path.with_extension("model.log");
    if kept == log {
        return kept;
    }
    match std::fs::copy(log, &kept) {
        Ok(_) => kept,
        Err(_) => log.to_path_buf(),
    }
}

/// [`control`], failing with the model's reply unless it says `"ok":true`.
pub(super) fn control_ok(path: &Path, request: &str) -> Result<String> {
    let reply = control(path, request)?;
    if json_field(&reply, "ok") != Some("true") {
        bail!("the model refused `{request}`: {reply}");
    }
    Ok(reply)
}

pub(super) fn control(path: &Path, request: &str) -> Result<String> {
    let mut s = UnixStream::connect(path).with_context(|| format!("connect {}", path.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    writeln!(s, "{request}")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

pub(super) fn build_model() -> Result<(PathBuf, PathBuf)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .current_dir(crate::util::project_root())
        .args(["build", "--release", "--quiet", "-p", "vf-model", "--bins"]))
    .context("building vf-model")?;
    let dir = target_dir().join("release");
    Ok((dir.join("vf-model"), dir.join("vf-peer")))
}

/// Starts `vf-peer MODE` in the namespace and waits until it listens.
pub(super) fn start_peer(
    rig: &mut Rig,
    peer: &Path,
    mode: &str,
    port: u16,
) -> Result<BufReader<std::process::ChildStdout>> {
    start_peer_bytes(rig, peer, mode, port, E2E_BYTES)
}

/// [`start_peer`] for a stream of `bytes` bytes.
pub(super) fn start_peer_bytes(
    rig: &mut Rig,
    peer: &Path,
    mode: &str,
    port: u16,
    bytes: u64,
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
            .args(["--bytes", &bytes.to_string(), "--chunk", &CHUNK.to_string()])
            .args(["--timeout", "900"])
            .arg("--stop-file")
            .arg(rig.dir.join(format!("{mode}.stop")))
            .stdout(Stdio::piped()),
    )?;
    let mut out = BufReader::new(child.stdout.take().context("peer stdout")?);
    // The first line is read on a thread so a peer that hangs before listening cannot hang
    // the run; on a timeout the rig kills the peer, which ends the thread's read.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = out.read_line(&mut line).map(|_| (line, out));
        let _ = tx.send(r);
    });
    // TIMEOUT: the peer binds its port right after start; 10 s covers a loaded host.
    let (line, out) = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(r) => r.with_context(|| format!("read {name}'s first line"))?,
        Err(_) => bail!("{name} printed nothing in 10 s (it should say `listening`)"),
    };
    if !line.contains("listening") {
        bail!("{name} did not start: {}", line.trim());
    }
    Ok(out)
}

/// Port of the peer's iperf3 server (the UDP small-packet measure).
pub(super) const IPERF_PORT: u16 = 5201;

/// Starts Debian's iperf3 as a one-test server in the namespace; its JSON report goes to
/// the returned file when the test ends.
pub(super) fn start_iperf3(rig: &mut Rig) -> Result<PathBuf> {
    let ns = rig.ns().to_owned();
    let report = rig.dir.join("iperf3.json");
    let _ = std::fs::remove_file(&report);
    rig.spawn(
        "iperf3 server",
        Command::new("ip")
            .args(["netns", "exec", &ns, "iperf3", "-s", "-1", "-J"])
            .args(["-B", HOST_IP, "-p", &IPERF_PORT.to_string(), "--logfile"])
            .arg(&report),
    )?;
    Ok(report)
}

/// From the server's report: packets the guest sent (the sequence numbers seen) and
/// received packets per second.
pub(super) fn iperf3_udp(report: &Path) -> Result<(f64, f64)> {
    let text = std::fs::read_to_string(report)
        .with_context(|| format!("no iperf3 report at {}", report.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("iperf3 report {}", report.display()))?;
    let sum = &v["end"]["sum"];
    let (Some(sent), Some(lost), Some(secs)) = (
        sum["packets"].as_f64(),
        sum["lost_packets"].as_f64(),
        sum["seconds"].as_f64(),
    ) else {
        bail!(
            "iperf3 report without end.sum packets/lost_packets/seconds: {}",
            report.display()
        );
    };
    if sent <= 0.0 || secs <= 0.0 {
        bail!(
            "iperf3 received nothing from the guest ({})",
            report.display()
        );
    }
    Ok((sent, (sent - lost).max(0.0) / secs))
}

/// The last JSON line a peer printed, after it finished.
pub(super) fn peer_result(
    rig: &mut Rig,
    mode: &str,
    mut out: BufReader<std::process::ChildStdout>,
) -> String {
    // A peer that waits for an end mark the guest never got out ends on the harness's.
    let _ = std::fs::write(rig.dir.join(format!("{mode}.stop")), b"");
    rig.finish(&format!("vf-peer {mode}"), Duration::from_secs(10));
    let mut text = String::new();
    let _ = std::io::Read::read_to_string(&mut out, &mut text);
    text.lines().last().unwrap_or("").to_owned()
}

/// Pulls `"key":value` out of a flat JSON line (the peers' output is ours and simple).
pub(super) fn json_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[at..];
    let end = if rest.starts_with('[') {
        rest.find(']')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim_matches('"'))
}

/// A vf-model whose packet backend is a tap in a fresh network namespace, the host end
/// configured as `HOST_IP/24`: the guest's peer for ping and TCP.
pub(super) fn networked_model(model_bin: &Path, tag: &str, name: &str) -> Result<(Rig, ModelProc)> {
    networked_model_pf_mtu(model_bin, tag, name, 9000)
}

/// [`networked_model`] with the PF running MTU `pf_mtu` (1500: an 82599 PF that refuses
/// jumbo frames to its VFs).
pub(super) fn networked_model_pf_mtu(
    model_bin: &Path,
    tag: &str,
    name: &str,
    pf_mtu: u32,
) -> Result<(Rig, ModelProc)> {
    let mut rig = Rig::new(tag)?;
    let ns = rig.ns().to_owned();
    let mtu = pf_mtu.to_string();
    let m = start_model(
        &mut rig,
        model_bin,
        name,
        &["--netns", &ns, "--tap", "vfm0", "--pf-mtu", &mtu],
    )?;
    rig.ip(&["link", "set", "lo", "up"])?;
    rig.ip(&["addr", "add", &format!("{HOST_IP}/24"), "dev", "vfm0"])?;
    // Jumbo frames on the host side, for the guest's MTU check.
    rig.ip(&["link", "set", "vfm0", "mtu", "9000", "up"])?;
    Ok((rig, m))
}

/// Two vf-models in one namespace, their taps bridged with the host end (`HOST_IP/24` on the
/// bridge): a migration's source VF (`vf-model-src`) and destination VF (`vf-model-dst`) on
/// the same network.
pub(super) fn bridged_models(
    model_bin: &Path,
    tag: &str,
    name: &str,
) -> Result<(Rig, ModelProc, ModelProc)> {
    let (rig, mut m) = bridged_models_n(model_bin, tag, name, 2)?;
    let dst = m.pop().context("no destination model")?;
    let src = m.pop().context("no source model")?;
    Ok((rig, src, dst))
}

/// Roles of the models [`bridged_models_n`] starts: the first VM's VF, then one per hop.
const HOPS: [(&str, &str); 3] = [("src", "vfmA"), ("dst", "vfmB"), ("dst2", "vfmC")];

/// `n` (2 or 3) vf-models on one bridge, named `vf-model-src`, `vf-model-dst` and
/// `vf-model-dst2`: the VFs of a VM migrated once or twice.
pub(super) fn bridged_models_n(
    model_bin: &Path,
    tag: &str,
    name: &str,
    n: usize,
) -> Result<(Rig, Vec<ModelProc>)> {
    let mut rig = Rig::new(tag)?;
    let ns = rig.ns().to_owned();
    let mut models = Vec::new();
    for (role, tap) in HOPS.iter().take(n) {
        models.push(start_model_as(
            &mut rig,
            model_bin,
            &format!("{name}-{role}"),
            &format!("vf-model-{role}"),
            &["--netns", &ns, "--tap", tap],
        )?);
    }
    rig.ip(&["link", "set", "lo", "up"])?;
    // No STP and no forwarding delay: a port QEMU adds mid-run forwards at once. A fixed
    // address: a bridge without one takes its lowest port's, so when the source's tap goes
    // at the end of a migration the host's MAC could change under the guest's ARP entry,
    // and the guest's traffic would go to an address nobody has.
    rig.ip(&[
        "link",
        "add",
        "br0",
        "address",
        BRIDGE_MAC,
        "type",
        "bridge",
        "stp_state",
        "0",
        "forward_delay",
        "0",
    ])?;
    for (_, tap) in HOPS.iter().take(n) {
        rig.ip(&["link", "set", tap, "master", "br0"])?;
        rig.ip(&["link", "set", tap, "up"])?;
    }
    rig.ip(&["addr", "add", &format!("{HOST_IP}/24"), "dev", "br0"])?;
    rig.ip(&["link", "set", "br0", "up"])?;
    Ok((rig, models))
}

/// The peer bridge's own address (locally administered).
const BRIDGE_MAC: &str = "02:00:00:77:00:01";

/// A directory of the rig's for sockets (QMP).
impl Rig {
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Attaches vf-model at `sock` to a guest: the chroot's QEMU and `qemu-images/vf-model.profile`.
pub(super) fn attach_model(g: &mut GuestRun, sock: &Path) -> Result<()> {
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
pub(super) struct ModelProc {
    /// The vfio-user socket QEMU connects to.
    pub(super) sock: PathBuf,
    /// The control socket (one JSON request per line).
    pub(super) ctl: PathBuf,
    /// The model's stdout and stderr.
    pub(super) log: PathBuf,
}

/// Starts vf-model in `rig` (named `vf-model`), logging to `target/guest/<name>.model.log`,
/// with `extra` arguments after the sockets and the PF-assigned MAC; returns once both sockets
/// listen.
fn start_model(rig: &mut Rig, model_bin: &Path, name: &str, extra: &[&str]) -> Result<ModelProc> {
    start_model_as(rig, model_bin, name, "vf-model", extra)
}

/// [`start_model`] with a process name of its own (`proc_name`, also naming its sockets), for
/// rigs with more than one model.
fn start_model_as(
    rig: &mut Rig,
    model_bin: &Path,
    name: &str,
    proc_name: &str,
    extra: &[&str],
) -> Result<ModelProc> {
    let logs = guest::guest_dir();
    std::fs::create_dir_all(&logs)?;
    let log = logs.join(format!("{name}.model.log"));
    let (sock, ctl) = if proc_name == "vf-model" {
        (rig.dir.join("vf0.sock"), rig.dir.join("ctl.sock"))
    } else {
        (
            rig.dir.join(format!("{proc_name}.sock")),
            rig.dir.join(format!("{proc_name}.ctl.sock")),
        )
    };
    let log_file = std::fs::File::create(&log)?;
    let model = rig.spawn(
        proc_name,
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
        control_ok(&m.ctl, req)?;
    }
    attach_model(&mut g, &m.sock)?;
    let out = guest::boot(kernel, &mut g)?;
    let stats =
        control(&m.ctl, r#"{"cmd":"stats"}"#).unwrap_or_else(|e| format!("(no stats: {e:#})"));
    rig.terminate("vf-model");
    keep_model_log(&m.log, &out);
    Ok((out, stats))
}

/// A compsc_vf guest on a networked vf-model: the rig, the model, and a guest run named
/// `name` with `plan`, the module at `/modules/compsc_vf.ko`, the model attached and a
/// `timeout`; the caller adds hooks and programs, then calls [`boot_checked`].
pub(super) fn compsc_guest(
    ko: &Path,
    tag: &str,
    name: &str,
    plan: String,
    timeout: Duration,
) -> Result<(Rig, ModelProc, GuestRun)> {
    let (model_bin, _) = build_model()?;
    let (rig, m) = networked_model(&model_bin, tag, name)?;
    let mut g = GuestRun::new(name, plan);
    g.files
        .push((ko.to_path_buf(), "/modules/compsc_vf.ko".into()));
    g.timeout = timeout;
    attach_model(&mut g, &m.sock)?;
    Ok((rig, m, g))
}

/// Boots `g`, stops the model, and requires the plan to have run and its first pings
/// (`E2E-PING-BEFORE ok`) to have been answered; returns the guest's output, the model's
/// final statistics and where the logs are.
pub(super) fn boot_checked(
    kernel: &Kernel,
    mut g: GuestRun,
    rig: &mut Rig,
    m: &ModelProc,
) -> Result<(GuestOutput, String, String)> {
    let out = guest::boot(kernel, &mut g)?;
    let (stats, here) = finish_model(rig, m, &out);
    out.check_plan().with_context(|| here.clone())?;
    if super::marker(&out.console, "E2E-PING-BEFORE") != Some("ok") {
        bail!("no traffic before the faults; {here}");
    }
    Ok((out, stats, here))
}

#[cfg(test)]
mod tests {
    use super::stale_pid;

    #[test]
    fn only_rig_names_are_swept() {
        assert_eq!(stale_pid("compsc-vfm-1234"), Some(1234));
        assert_eq!(stale_pid("compsc-vfm-12x"), None);
        assert_eq!(stale_pid("compsc--1234"), None);
        assert_eq!(stale_pid("compsc-a-b-1234"), None);
        assert_eq!(stale_pid("other-vfm-1234"), None);
    }
}

#[cfg(test)]
mod rmmod_tests {
    #[test]
    fn the_flood_goes_to_the_peer() {
        assert!(super::RMMOD_UNDER_FLOOD.contains(&format!("ping -f -c 3000 {} ", super::HOST_IP)));
    }
}
