//! The test guest: a busybox initramfs whose `/init` runs a plan (a shell script) and powers
//! off, booted under QEMU with the console captured to `target/guest/<name>.log`.

use crate::kernel::Kernel;
use crate::util::{display, project_root, run, target_dir};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The statically linked busybox from Debian's `busybox-static`.
const BUSYBOX: &str = "/bin/busybox";

/// The line `/init` prints after the plan, with the plan's exit status.
pub const PLAN_EXIT_MARK: &str = "COMPSC-PLAN-EXIT";

/// The plan's exit status on a `COMPSC-PLAN-EXIT <status>` line. The kernel may print on the
/// console right after the status, before `/init`'s newline (`COMPSC-PLAN-EXIT 0[    2.48]
/// tsc: ...`), so only the digits after the mark count.
fn plan_exit(line: &str) -> Option<i32> {
    let rest = line.trim().strip_prefix(PLAN_EXIT_MARK)?.trim_start();
    let end = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].parse().ok()
}

/// Whether a kernel log line's printk time stamp (`[    25.514297]`) starts at byte `at`.
fn stamp_at(line: &[u8], at: usize) -> bool {
    let Some(body) = line.get(at..).and_then(|r| r.strip_prefix(b"[")) else {
        return false;
    };
    let body = body.trim_ascii_start();
    let digits = body.iter().take_while(|c| c.is_ascii_digit()).count();
    let Some(frac) = body.get(digits..).and_then(|r| r.strip_prefix(b".")) else {
        return false;
    };
    digits > 0 && frac.iter().take(6).all(u8::is_ascii_digit) && frac.get(6) == Some(&b']')
}

/// Where a kernel log line starts in `line`, if one starts anywhere but at its beginning.
fn kernel_stamp_inside(line: &str) -> Option<usize> {
    (1..line.len()).find(|&i| stamp_at(line.as_bytes(), i))
}

/// The plan's output and the kernel's messages share the serial console, and a kernel line
/// can land inside a line the plan is writing: `E2E-X[  25.5] msg`, then ` ok` on the next
/// line. Puts each such kernel line on a line of its own and joins the plan's two halves
/// again (`E2E-X ok`), so markers read what the plan wrote.
pub fn unsplice(console: &str) -> String {
    let mut out = String::with_capacity(console.len());
    let mut pending: Option<&str> = None;
    for raw in console.split_inclusive('\n') {
        let line = raw.trim_end_matches(['\r', '\n']);
        let starts_kernel = stamp_at(line.as_bytes(), 0);
        if let Some(at) = kernel_stamp_inside(line) {
            if pending.is_none() {
                pending = line.get(..at);
                out.push_str(line.get(at..).unwrap_or_default());
                out.push('\n');
                continue;
            }
        }
        match pending {
            Some(_) if starts_kernel => out.push_str(line),
            Some(head) => {
                out.push_str(head);
                out.push_str(line);
                pending = None;
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    if let Some(head) = pending {
        out.push_str(head);
        out.push('\n');
    }
    out
}

/// One guest boot.
pub struct GuestRun {
    /// Names the initramfs and the console log (`target/guest/<name>.log`).
    pub name: String,
    /// Shell text run by `/init` after the base system is up; its exit status is reported.
    pub plan: String,
    /// Files copied into the initramfs: (host path, absolute guest path).
    pub files: Vec<(PathBuf, String)>,
    /// The QEMU command (program and leading arguments), e.g. a chroot wrapper.
    pub qemu: Vec<OsString>,
    /// Machine-specific arguments (devices, memory backend, machine type).
    pub extra_args: Vec<OsString>,
    /// Guest RAM in MiB (`${MEMORY_MB}` in the profiles).
    pub memory_mb: u32,
    /// The guest is killed after this long; a hang is a failure, not a stuck CI.
    pub timeout: Duration,
    /// Host actions the plan asks for by printing a marker line (the hypervisor's side of a
    /// test: flip the link, swap the VF, ring a doorbell). Each runs once, in order of the
    /// markers' appearance; the plan waits for the effect it expects.
    pub hooks: Vec<Hook>,
    /// Kernel command line words after the console and panic settings.
    pub cmdline: Vec<String>,
}

/// For a guest that is live-migrated: keep the guest's clock on the HPET, which QEMU
/// migrates with the machine, not on a TSC that TCG reads from the host.
pub const MIGRATED_CLOCK: &str = "clocksource=hpet";

/// A host action triggered by a console line.
pub struct Hook {
    /// The whole (trimmed) console line that triggers the action.
    pub marker: String,
    /// What the host does.
    pub action: Box<dyn FnMut() -> Result<()>>,
}

impl Hook {
    /// A hook for `marker`.
    pub fn new(marker: &str, action: impl FnMut() -> Result<()> + 'static) -> Hook {
        Hook {
            marker: marker.to_owned(),
            action: Box::new(action),
        }
    }
}

impl GuestRun {
    /// Puts the host's `program` (a Debian binary, such as `/usr/sbin/ethtool`) into the
    /// guest at the same path, with the shared libraries and loader `ldd` names, so the guest
    /// runs the real tool rather than a stand-in.
    pub fn with_host_program(&mut self, program: &str) -> Result<()> {
        self.with_program_at(Path::new(program), program)
    }

    /// [`Self::with_host_program`] for a program built here (`program`), put at `guest_path`.
    pub fn with_program_at(&mut self, program: &Path, guest_path: &str) -> Result<()> {
        if !program.is_file() {
            bail!("{} not found: run `cargo xtask setup`", program.display());
        }
        let libs = crate::util::output(Command::new("ldd").arg(program))
            .with_context(|| format!("ldd {}", program.display()))?;
        self.files.push((program.into(), guest_path.to_owned()));
        for line in libs.lines() {
            // `libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)` or `/lib64/ld-linux... (0x...)`
            let path = line
                .split("=>")
                .last()
                .and_then(|r| r.split_whitespace().next())
                .filter(|p| p.starts_with('/'));
            if let Some(p) = path {
                self.files.push((p.into(), p.to_owned()));
            }
        }
        Ok(())
    }

    /// A guest with the default QEMU and no devices beyond the default machine's.
    pub fn new(name: &str, plan: impl Into<String>) -> Self {
        GuestRun {
            name: name.to_owned(),
            plan: plan.into(),
            files: Vec::new(),
            qemu: vec!["qemu-system-x86_64".into()],
            extra_args: Vec::new(),
            memory_mb: 512,
            timeout: Duration::from_secs(300),
            hooks: Vec::new(),
            cmdline: Vec::new(),
        }
    }
}

/// What came back from a guest boot.
pub struct GuestOutput {
    /// The whole console log.
    pub console: String,
    /// Where the console log was written.
    pub log_path: PathBuf,
    /// The plan's exit status, if `/init` got to report it.
    pub plan_status: Option<i32>,
    /// Hooks that failed or whose marker never appeared, with the reason.
    pub hook_errors: Vec<String>,
    /// QEMU was killed at the timeout. Even after a plan that reported 0 this is a failure: a
    /// guest that cannot reboot hangs in the driver's shutdown or remove path.
    pub timed_out: Option<Duration>,
}

impl GuestOutput {
    /// Fails with the log's location unless the plan ran and exited 0, every hook ran and the
    /// guest shut down before its timeout.
    pub fn check_plan(&self) -> Result<()> {
        if let Some(limit) = self.timed_out {
            bail!(
                "guest killed after its {}s timeout (plan status {}); console log: {}",
                limit.as_secs(),
                self.plan_status
                    .map_or("never reported".to_owned(), |rc| rc.to_string()),
                self.log_path.display()
            );
        }
        if !self.hook_errors.is_empty() {
            bail!(
                "host side of the guest plan failed: {}; console log: {}",
                self.hook_errors.join("; "),
                self.log_path.display()
            );
        }
        match self.plan_status {
            Some(0) => Ok(()),
            Some(rc) => bail!(
                "guest plan exited {rc}; console log: {}",
                self.log_path.display()
            ),
            None => bail!(
                "guest plan did not finish (panic, hang or crash); console log: {}",
                self.log_path.display()
            ),
        }
    }
}

/// Reads `qemu-images/<name>.profile`: QEMU arguments, whitespace-separated, `#` comments,
/// `${VAR}` replaced from `vars`. A reference to a variable not in `vars` is an error, so a
/// profile cannot silently lose an argument.
pub fn profile(name: &str, vars: &[(&str, String)]) -> Result<Vec<String>> {
    let path = project_root()
        .join("qemu-images")
        .join(format!("{name}.profile"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut args = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        for word in line.split_whitespace() {
            let mut out = String::new();
            let mut rest = word;
            while let Some(at) = rest.find("${") {
                out.push_str(&rest[..at]);
                let after = &rest[at + 2..];
                let Some(end) = after.find('}') else {
                    bail!("{}:{}: unterminated ${{ in `{word}`", path.display(), n + 1);
                };
                let var = &after[..end];
                let Some((_, value)) = vars.iter().find(|(k, _)| *k == var) else {
                    bail!("{}:{}: unknown variable ${{{var}}}", path.display(), n + 1);
                };
                out.push_str(value);
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            args.push(out);
        }
    }
    Ok(args)
}

/// Directory for initramfs images and console logs.
pub fn guest_dir() -> PathBuf {
    target_dir().join("guest")
}

/// Checks the guest QEMU is there and says how to get it.
pub fn check_qemu(qemu: &[OsString]) -> Result<()> {
    let Some(prog) = qemu.first() else {
        bail!("empty QEMU command")
    };
    if qemu.len() == 1 && !crate::util::have_program(prog) {
        bail!(
            "`{}` not found: run `cargo xtask setup` (installs qemu-system-x86 from bookworm-backports)",
            prog.to_string_lossy()
        );
    }
    Ok(())
}

/// The name a run's initramfs and console log take: the run's, marked when the kernel is not
/// the standard one (as module builds are) so each pass keeps its own logs.
fn log_name(kernel: &Kernel, run_: &GuestRun) -> String {
    format!("{}{}", run_.name, kernel.flavor.module_suffix())
}

/// Kernel command line words for the debug kernel: 4-level paging. With TCG's `-cpu max`
/// (LA57) KASAN reports a wild access in `rcu_is_watching` when a timer interrupt lands
/// during early CPU identification, before the 5-level shadow is complete: a boot-time
/// report about the kernel, not about anything a test does.
fn debug_cmdline(kernel: &Kernel) -> Option<&'static str> {
    (kernel.flavor == crate::kernel::Flavor::Debug).then_some("no5lvl")
}

/// Builds the initramfs `name` for `run`: busybox, `/init`, the plan and the extra files.
fn initramfs(run_: &GuestRun, name: &str) -> Result<PathBuf> {
    if !Path::new(BUSYBOX).is_file() {
        bail!("{BUSYBOX} not found: run `cargo xtask setup` (installs busybox-static)");
    }
    let dir = guest_dir();
    let root = dir.join(format!("{name}.root"));
    let _ = std::fs::remove_dir_all(&root);
    for d in ["bin", "sbin", "dev", "proc", "sys", "tmp", "modules", "etc"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).context("copy busybox")?;
    let init = project_root().join("scripts/guest-init.sh");
    std::fs::copy(&init, root.join("init")).with_context(|| format!("copy {}", init.display()))?;
    std::fs::write(root.join("plan.sh"), &run_.plan)?;
    for (src, dest) in &run_.files {
        let rel = dest.trim_start_matches('/');
        let to = root.join(rel);
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::copy(src, &to)
            .with_context(|| format!("copy {} into the guest", src.display()))?;
    }
    for f in ["init", "plan.sh", "bin/busybox"] {
        set_exec(&root.join(f))?;
    }
    let image = dir.join(format!("{name}.cpio.gz"));
    let script = format!(
        "cd '{}' && find . | cpio --quiet -o -H newc -R 0:0 | gzip -1 > '{}'",
        root.display(),
        image.display()
    );
    run(Command::new("sh").arg("-c").arg(script))
        .context("pack the initramfs (needs cpio, gzip)")?;
    Ok(image)
}

fn set_exec(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// QEMU's accelerator for the guests: TCG unless KVM is known to boot this kernel.
///
/// `COMPSC_ACCEL=tcg|kvm` decides outright. Otherwise, when `/dev/kvm` is usable, one short
/// probe boot under KVM runs per kernel build and its verdict is cached: KVM is used only if the
/// probe reached `/init`, so a host where KVM hangs or asserts (nested virtualisation often
/// does) falls back to TCG instead of hanging every test.
fn accel(kernel: &Kernel) -> Result<&'static str> {
    match std::env::var("COMPSC_ACCEL").as_deref() {
        Ok("kvm") => return Ok("kvm"),
        Ok("tcg") => return Ok("tcg"),
        Ok(other) => {
            bail!("COMPSC_ACCEL={other} is not an accelerator: use tcg or kvm, or unset it")
        }
        Err(_) => {}
    }
    let usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !usable {
        return Ok("tcg");
    }
    let verdict = kernel.build.join("compsc-kvm-probe");
    if let Ok(v) = std::fs::read_to_string(&verdict) {
        return Ok(if v.trim() == "kvm" { "kvm" } else { "tcg" });
    }
    let mut probe = GuestRun::new("kvm-probe", "true\n");
    probe.timeout = Duration::from_secs(20);
    let works = boot_with(kernel, &mut probe, "kvm").is_ok_and(|o| o.check_plan().is_ok());
    let chosen = if works { "kvm" } else { "tcg" };
    eprintln!(
        "    KVM probe: {}; guests use {chosen}",
        if works { "booted" } else { "did not boot" }
    );
    let _ = std::fs::write(&verdict, chosen);
    Ok(chosen)
}

/// Boots `kernel` with `run_`'s plan; returns the console and the plan's status.
pub fn boot(kernel: &Kernel, run_: &mut GuestRun) -> Result<GuestOutput> {
    boot_with(kernel, run_, accel(kernel)?)
}

fn boot_with(kernel: &Kernel, run_: &mut GuestRun, accel: &str) -> Result<GuestOutput> {
    let qemu = spawn_with(kernel, run_, accel)?;
    Ok(qemu.watch(&mut run_.hooks, run_.timeout))
}

/// A QEMU started by [`spawn`], its console going to `log_path`.
pub struct Running {
    qemu: KillOnDrop,
    /// Where the console goes.
    pub log_path: PathBuf,
    name: String,
    start: Instant,
}

/// Starts `kernel` with `run_`'s plan and returns at once (for runs of more than one QEMU,
/// such as a migration's source and destination).
pub fn spawn(kernel: &Kernel, run_: &GuestRun) -> Result<Running> {
    spawn_with(kernel, run_, accel(kernel)?)
}

fn spawn_with(kernel: &Kernel, run_: &GuestRun, accel: &str) -> Result<Running> {
    check_qemu(&run_.qemu)?;
    let name = log_name(kernel, run_);
    let image = initramfs(run_, &name)?;
    let log_path = guest_dir().join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path)?;
    let (prog, lead) = run_.qemu.split_first().context("empty QEMU command")?;
    let mut cmd = Command::new(prog);
    let vars = [("MEMORY_MB", run_.memory_mb.to_string())];
    cmd.args(lead)
        .args(profile("base", &vars)?)
        .args(["-accel", accel])
        // Under KVM only the host CPU model boots here; TCG offers every feature it emulates.
        .args(["-cpu", if accel == "kvm" { "host" } else { "max" }]);
    cmd.arg("-kernel")
        .arg(kernel.bzimage())
        .arg("-initrd")
        .arg(&image)
        .arg("-append")
        .arg(
            ["console=ttyS0 panic=-1 oops=panic loglevel=7"]
                .into_iter()
                .chain(debug_cmdline(kernel))
                .chain(run_.cmdline.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        )
        .args(&run_.extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log));
    eprintln!("$ {}  > {}", display(&cmd), log_path.display());
    let start = Instant::now();
    let qemu = KillOnDrop(
        cmd.spawn()
            .with_context(|| format!("start {}", prog.to_string_lossy()))?,
    );
    Ok(Running {
        qemu,
        log_path,
        name,
        start,
    })
}

impl Running {
    /// Follows the console, firing `hooks` as their markers appear, until QEMU exits or
    /// `timeout` passes (QEMU is then killed); returns what the guest printed.
    pub fn watch(mut self, hooks: &mut [Hook], timeout: Duration) -> GuestOutput {
        let mut watch = HookWatch::default();
        let status = loop {
            watch.poll(&self.log_path, hooks);
            match self.qemu.0.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) => {}
                Err(_) => break None,
            }
            if self.start.elapsed() > timeout {
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        drop(self.qemu);
        let mut console = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            f.read_to_string(&mut console).ok();
        }
        let console = unsplice(&console);
        let plan_status = console.lines().find_map(plan_exit);
        let secs = self.start.elapsed().as_secs_f64();
        match status {
            None => eprintln!("    guest {}: killed after {secs:.0}s timeout", self.name),
            Some(st) => eprintln!(
                "    guest {}: QEMU exited ({st}) after {secs:.1}s",
                self.name
            ),
        }
        let mut hook_errors = watch.errors;
        for h in hooks.iter().skip(watch.next) {
            hook_errors.push(format!("the guest never printed `{}`", h.marker));
        }
        GuestOutput {
            console,
            log_path: self.log_path,
            plan_status,
            hook_errors,
            timed_out: status.is_none().then_some(timeout),
        }
    }
}

/// A child killed and reaped when dropped, so no early return (an error while waiting, a
/// timeout) leaves a QEMU running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Follows the console log and fires hooks as their markers appear.
#[derive(Default)]
struct HookWatch {
    /// Bytes of the log already scanned (whole lines only).
    scanned: usize,
    /// Index of the next hook to wait for.
    next: usize,
    errors: Vec<String>,
}

impl HookWatch {
    fn poll(&mut self, log: &Path, hooks: &mut [Hook]) {
        if self.next >= hooks.len() {
            return;
        }
        let Ok(bytes) = std::fs::read(log) else {
            return;
        };
        let Some(fresh) = bytes.get(self.scanned..) else {
            return;
        };
        let Some(end) = fresh.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let text = String::from_utf8_lossy(&fresh[..end]);
        self.scanned += end + 1;
        for line in text.lines() {
            let Some(hook) = hooks.get_mut(self.next) else {
                break;
            };
            if line.trim() == hook.marker {
                eprintln!("    guest asked: {}", hook.marker);
                if let Err(e) = (hook.action)() {
                    self.errors.push(format!("{}: {e:#}", hook.marker));
                }
                self.next += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::profile;

    #[test]
    fn base_profile_substitutes_memory() {
        let args = profile("base", &[("MEMORY_MB", "256".into())]).unwrap();
        let m = args.iter().position(|a| a == "-m").unwrap();
        assert_eq!(args[m + 1], "256");
        assert!(args.iter().all(|a| !a.contains("${")));
    }

    #[test]
    fn unknown_variable_is_an_error() {
        let err = profile("base", &[]).unwrap_err().to_string();
        assert!(err.contains("unknown variable ${MEMORY_MB}"), "{err}");
    }
}

#[cfg(test)]
mod plan_exit_tests {
    use super::{plan_exit, unsplice};

    #[test]
    fn a_kernel_line_inside_a_marker_goes_to_its_own_line() {
        let c = "E2E-CHANNELS 2 2 \r\nE2E-CHANNELS-SET[   25.514297] compsc_vf 0000:01:00.0: eth0: 1 queue pairs in use\r\n ok\r\nE2E-NEXT 1\r\n";
        assert_eq!(
            unsplice(c),
            "E2E-CHANNELS 2 2 \n[   25.514297] compsc_vf 0000:01:00.0: eth0: 1 queue pairs in use\nE2E-CHANNELS-SET ok\nE2E-NEXT 1\n"
        );
        // Two kernel lines before the rest of the plan's line.
        let c = "E2E-A[    1.000001] one\n[    1.000002] two\n ok\n";
        assert_eq!(
            unsplice(c),
            "[    1.000001] one\n[    1.000002] two\nE2E-A ok\n"
        );
        // Kernel lines at the start of a line, and brackets that are no time stamp, stay.
        let c = "[    2.5] not a stamp\n[    2.500000] real\nE2E-B [x] y\n";
        assert_eq!(unsplice(c), c);
    }

    #[test]
    fn a_kernel_line_glued_to_the_status_does_not_hide_it() {
        assert_eq!(plan_exit("COMPSC-PLAN-EXIT 0"), Some(0));
        assert_eq!(plan_exit("COMPSC-PLAN-EXIT 1"), Some(1));
        assert_eq!(
            plan_exit("COMPSC-PLAN-EXIT 0[    2.489654] tsc: Refined TSC clocksource"),
            Some(0)
        );
        assert_eq!(plan_exit("COMPSC-PLAN-EXIT "), None);
        assert_eq!(plan_exit("E2E-BOUND 0000:01:00.0"), None);
    }
}
