//! Running one of the drafter's commands: sandboxed, bounded, with a scrubbed environment.
//!
//! A command runs as `sh -c COMMAND` in the working directory, through a launcher: tandem
//! starts its own binary as `tandem __sandbox …`, which confines itself with Landlock and then
//! becomes the shell (exec), so the confinement covers the command and everything it starts.
//! No `unsafe` is needed: the restriction is applied by a fresh process to itself.
//!
//! Invariants:
//! - The environment is built from an allow-list (never inherited whole), so an API key or any
//!   other secret in tandem's environment never reaches a command, whatever its name.
//! - Under Landlock a command may read and execute anywhere but /proc (other processes'
//!   environments hold the API key), and write only in the working
//!   directory's top-level entries (never `.git`, the git hooks folder or `.gitmodules`, never a
//!   symlink's target) and a private temp dir; TCP connect and bind are denied (ABI ≥ 4), and
//!   signals and abstract sockets to the outside are scoped (ABI ≥ 6). A seccomp filter then
//!   refuses every socket but a Unix one (and io_uring, which could open one unseen), so UDP and
//!   raw sockets are closed too: no network at all. It cannot create new
//!   top-level entries: Landlock grants by hierarchy, and the root's hierarchy holds `.git`.
//! - A command runs in its own process group, which is killed whole at the time bound, on
//!   cancel, and when the command ends (no background process outlives it).
//! - Output (stdout and stderr in one stream) is kept up to a cap: the head and the tail, with
//!   the number of bytes left out in between.
//! - The launcher fails closed: when asked to sandbox and Landlock cannot be enforced, or the
//!   network cannot be closed as far as the probe promised (`--net`), it runs nothing and exits
//!   126 with a sentence saying why.
//! - On x86_64 the x32 numbers of the refused calls are refused too (the same kernel entry
//!   under another number would otherwise pass the filter).
//! - Not covered: Unix sockets that already exist on disk (a Docker or D-Bus socket a command can
//!   read its way to) stay reachable — Landlock does not scope pathname sockets; and a command
//!   that leaves its process group (setsid) escapes the group kill, though not the sandbox.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The hidden first argument that makes the binary a launcher.
pub const LAUNCHER_ARG: &str = "__sandbox";
/// The launcher's exit code when it ran nothing (the sandbox could not be applied).
pub const NOT_RUN: i32 = 126;

/// Environment variables a command inherits (when set); everything else is dropped.
const PASSED_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SHELL",
];

/// How much of the network a sandboxed command is kept from (weakest first, so a level can be
/// compared with the one promised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Network {
    /// Nothing is denied.
    Open,
    /// Only TCP connect and bind are denied (Landlock ABI ≥ 4; seccomp unavailable).
    TcpOnly,
    /// Every socket but a Unix one is refused (seccomp): no TCP, UDP or raw sockets.
    Closed,
}

impl Network {
    /// The word the launcher's `--net` and the probe use.
    pub fn word(self) -> &'static str {
        match self {
            Network::Closed => "closed",
            Network::TcpOnly => "tcp",
            Network::Open => "open",
        }
    }

    fn from_word(w: &str) -> Option<Network> {
        [Network::Closed, Network::TcpOnly, Network::Open]
            .into_iter()
            .find(|n| n.word() == w)
    }
}

/// What the kernel can enforce, as the launcher found by confining itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// Landlock enforced: files (always), the network as far as `network` says, at this ABI.
    Enforced { abi: i32, network: Network },
    /// No sandbox: the sentence says why.
    Unavailable(String),
}

impl Support {
    pub fn sandboxed(&self) -> bool {
        matches!(self, Support::Enforced { .. })
    }

    /// The network level a command is held to (None: not sandboxed).
    pub fn network(&self) -> Option<Network> {
        match self {
            Support::Enforced { network, .. } => Some(*network),
            Support::Unavailable(_) => None,
        }
    }

    /// One sentence for the reviewer asked to allow a command: what confines it here.
    pub fn confinement(&self) -> String {
        let writes = "it writes only inside the working directory (reject puts every byte back)";
        match self.network() {
            Some(Network::Closed) => format!("Sandboxed: no network; {writes}."),
            Some(Network::TcpOnly) => {
                format!("Sandboxed: no TCP, but UDP stays open on this kernel; {writes}.")
            }
            Some(Network::Open) => {
                format!("Sandboxed, but this kernel cannot block the network; {writes}.")
            }
            None => "NOT SANDBOXED: this kernel cannot confine it; it runs with your full rights and network.".into(),
        }
    }

    /// One line for the start of a session and for `doctor`.
    pub fn describe(&self) -> String {
        match self {
            Support::Enforced {
                abi,
                network: Network::Closed,
            } => format!(
                "commands run sandboxed (Landlock ABI {abi}: writes only in the working directory; seccomp: no network)"
            ),
            Support::Enforced {
                abi,
                network: Network::TcpOnly,
            } => format!(
                "commands run sandboxed (Landlock ABI {abi}: writes only in the working directory, no TCP); UDP stays open (seccomp could not be applied)"
            ),
            Support::Enforced {
                abi,
                network: Network::Open,
            } => format!(
                "commands run sandboxed (Landlock ABI {abi}: writes only in the working directory); this kernel cannot block the network (needs seccomp, or Landlock ABI 4 for TCP)"
            ),
            Support::Unavailable(why) => format!("commands cannot be sandboxed here: {why}"),
        }
    }
}

/// Ask the launcher what this kernel enforces (a process start, a few milliseconds).
pub fn probe() -> Support {
    if !cfg!(target_os = "linux") {
        return Support::Unavailable("Landlock exists only on Linux".into());
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return Support::Unavailable(format!("cannot find tandem's own binary: {e}")),
    };
    let out = Command::new(exe)
        .args([LAUNCHER_ARG, "--probe"])
        .env_clear()
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) => parse_probe(&String::from_utf8_lossy(&o.stdout)),
        Err(e) => Support::Unavailable(format!("cannot start the launcher: {e}")),
    }
}

fn parse_probe(text: &str) -> Support {
    let line = text.lines().next().unwrap_or("").trim();
    if let Some(rest) = line.strip_prefix("enforced abi=") {
        let mut parts = rest.split_whitespace();
        let abi = parts.next().and_then(|a| a.parse().ok()).unwrap_or(0);
        let network = parts
            .next()
            .and_then(|p| p.strip_prefix("net="))
            .and_then(Network::from_word)
            .unwrap_or(Network::Open);
        return Support::Enforced { abi, network };
    }
    Support::Unavailable(
        line.strip_prefix("unavailable: ")
            .unwrap_or("the launcher gave no answer")
            .to_string(),
    )
}

/// Bounds for one command.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_output: usize,
}

/// One command as it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// The exit code; None when a signal ended it (or it was killed).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub cancelled: bool,
    pub duration_ms: u64,
    /// Combined stdout and stderr, cut to the cap (head and tail), control characters removed.
    pub output: String,
    /// Bytes it wrote in all.
    pub output_bytes: u64,
    pub sandboxed: bool,
}

impl Ran {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.cancelled
    }

    /// How it ended, in a few words: "exit 0", "killed after 30 s (time limit)".
    pub fn ending(&self, limits: &Limits) -> String {
        if self.timed_out {
            format!(
                "killed after {} s (time limit)",
                limits.timeout.as_secs().max(1)
            )
        } else if self.cancelled {
            "killed (cancelled)".into()
        } else {
            match self.exit_code {
                Some(NOT_RUN) if self.sandboxed && self.output.contains("tandem: sandbox") => {
                    "not run (the sandbox could not be applied)".into()
                }
                Some(c) => format!("exit {c}"),
                None => "killed by a signal".into(),
            }
        }
    }
}

/// Where a command may write, besides its temp dir: the working directory's top-level entries
/// except `.git`, symlinks and the `protected` names (the hooks folder, `.gitmodules`).
pub fn writable_entries(workdir: &Path, protected: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(workdir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let git = name
            .trim_end_matches(['.', ' '])
            .eq_ignore_ascii_case(".git");
        let link = e.file_type().map(|t| t.is_symlink()).unwrap_or(true);
        if git || link || protected.iter().any(|p| p == &name) {
            continue;
        }
        out.push(e.path());
    }
    out.sort();
    out
}

/// Run `command` in `workdir`, sandboxed when `sandbox` names the network level the probe
/// promised (the launcher refuses to run it if it cannot confine it that far; None: unconfined).
/// Blocking: call it off the async runtime.
// Long: set up the confinement, start, wait with a deadline, collect and kill the group: steps of
// one child process that must run in this order.
pub fn run(
    command: &str,
    workdir: &Path,
    sandbox: Option<Network>,
    protected: &[String],
    extra_env: &[String],
    limits: Limits,
    cancel: &AtomicBool,
) -> std::io::Result<Ran> {
    let tmp = PrivateTemp::new()?;
    let mut cmd = if let Some(network) = sandbox {
        let exe = std::env::current_exe()?;
        let mut c = Command::new(exe);
        c.arg(LAUNCHER_ARG)
            .arg(tmp.path())
            .arg("--net")
            .arg(network.word());
        for w in writable_entries(workdir, protected) {
            c.arg("--write").arg(w);
        }
        c.arg("--").arg(command);
        c
    } else {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(command);
        c
    };
    cmd.current_dir(workdir).env_clear();
    for name in PASSED_ENV
        .iter()
        .copied()
        .chain(extra_env.iter().map(|s| s.as_str()))
    {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    cmd.env("TMPDIR", tmp.path())
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .env("TANDEM_COMMAND", "1");
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let (reader, writer) = std::io::pipe()?;
    cmd.stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    // The pipe's write ends live in the child now; ours are dropped with `cmd`.
    drop(cmd);
    let (tx, rx) = std::sync::mpsc::channel();
    let max = limits.max_output;
    std::thread::spawn(move || {
        let _ = tx.send(read_capped(reader, max));
    });
    let (mut timed_out, mut cancelled) = (false, false);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if started.elapsed() >= limits.timeout {
            timed_out = true;
        } else if cancel.load(Ordering::Relaxed) {
            cancelled = true;
        }
        if timed_out || cancelled {
            kill_group(child.id());
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Whatever it left running in the background goes too.
    kill_group(child.id());
    let duration_ms = started.elapsed().as_millis() as u64;
    // A process that left the group may hold the pipe open: wait a little, then go on.
    let (output, output_bytes) = rx
        .recv_timeout(Duration::from_secs(2))
        .unwrap_or_else(|_| ("(output unavailable: a process kept it open)".into(), 0));
    Ok(Ran {
        exit_code: if timed_out || cancelled {
            None
        } else {
            status.code()
        },
        timed_out,
        cancelled,
        duration_ms,
        output,
        output_bytes,
        sandboxed: sandbox.is_some(),
    })
}

#[cfg(unix)]
fn kill_group(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}
#[cfg(not(unix))]
fn kill_group(_: u32) {}

/// Read everything, keeping the first quarter of the cap and the last three quarters.
fn read_capped(mut r: impl Read, max: usize) -> (String, u64) {
    let head_max = max / 4;
    let tail_max = max - head_max;
    let mut head = Vec::new();
    let mut tail = std::collections::VecDeque::new();
    let mut total = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        total += n as u64;
        for &b in &buf[..n] {
            if head.len() < head_max {
                head.push(b);
            } else {
                tail.push_back(b);
                if tail.len() > tail_max {
                    tail.pop_front();
                }
            }
        }
    }
    let kept = head.len() + tail.len();
    let mut text = String::from_utf8_lossy(&head).to_string();
    if (kept as u64) < total {
        text.push_str(&format!("\n[… {} bytes left out …]\n", total - kept as u64));
    }
    let tail: Vec<u8> = tail.into_iter().collect();
    text.push_str(&String::from_utf8_lossy(&tail));
    let clean = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    (clean, total)
}

/// A temp dir only this command uses, removed afterwards.
struct PrivateTemp(PathBuf);

impl PrivateTemp {
    fn new() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        for _ in 0..16 {
            let p = base.join(format!(
                "tandem-cmd-{}-{:08x}",
                std::process::id(),
                fastrand::u32(..)
            ));
            match std::fs::create_dir(&p) {
                Ok(()) => {
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))?;
                    }
                    return Ok(PrivateTemp(p));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("cannot create a private temp dir"))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateTemp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The launcher: `tandem __sandbox --probe`, or
/// `tandem __sandbox TMP [--net closed|tcp|open] [--write PATH]… -- CMD`.
/// Confines this process, then becomes `sh -c CMD`. Returns only on failure.
pub fn launcher_main(args: &[std::ffi::OsString]) -> i32 {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().to_string())
        .collect();
    if args.first().map(String::as_str) == Some("--probe") {
        match confine(&[], None) {
            Ok(support) => match support {
                Support::Enforced { abi, network } => {
                    println!("enforced abi={abi} net={}", network.word())
                }
                Support::Unavailable(why) => println!("unavailable: {why}"),
            },
            Err(why) => println!("unavailable: {why}"),
        }
        return 0;
    }
    let Some(sep) = args.iter().position(|a| a == "--") else {
        eprintln!("tandem: sandbox: no command");
        return NOT_RUN;
    };
    let (Some(tmp), Some(command)) = (args.first(), args.get(sep + 1)) else {
        eprintln!("tandem: sandbox: no command");
        return NOT_RUN;
    };
    let mut writable: Vec<PathBuf> = vec![PathBuf::from(tmp)];
    let mut needed = Network::Open;
    let mut i = 1;
    while i < sep {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--write", Some(p)) => writable.push(PathBuf::from(p)),
            ("--net", Some(w)) => match Network::from_word(w) {
                Some(n) => needed = n,
                None => {
                    eprintln!("tandem: sandbox: unknown network level `{w}`");
                    return NOT_RUN;
                }
            },
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    match confine(&writable, Some(Path::new(tmp))) {
        Ok(Support::Enforced { network, .. }) if network < needed => {
            eprintln!(
                "tandem: sandbox could not close the network as far as promised ({} instead of {}), so the command was not run",
                network.word(),
                needed.word()
            );
            return NOT_RUN;
        }
        Ok(Support::Enforced { .. }) => {}
        Ok(Support::Unavailable(why)) | Err(why) => {
            eprintln!("tandem: sandbox could not be applied, so the command was not run: {why}");
            return NOT_RUN;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = Command::new("/bin/sh").arg("-c").arg(command).exec();
        eprintln!("tandem: sandbox: cannot start /bin/sh: {err}");
    }
    NOT_RUN
}

/// Confine this process: read and execute anywhere but /proc, write only under `writable` (plus
/// `/dev/null`), no TCP, no signals out. Says what the kernel enforced.
#[cfg(target_os = "linux")]
fn confine(writable: &[PathBuf], _tmp: Option<&Path>) -> Result<Support, String> {
    use landlock::{
        ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, Ruleset,
        RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
    };
    let abi = ABI::V6;
    let err = |e: landlock::RulesetError| e.to_string();
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .handle_access(AccessNet::from_all(abi))
        .map_err(err)?
        .scope(Scope::from_all(abi))
        .map_err(err)?
        .create()
        .map_err(err)?
        // Listing anything, reading anything but /proc: another process's environment there
        // (tandem's own, the user's shell's) would hand over the API key.
        .add_rules(path_beneath_rules(["/"], AccessFs::ReadDir))
        .map_err(err)?
        .add_rules(path_beneath_rules(
            readable_roots(),
            AccessFs::from_read(abi),
        ))
        .map_err(err)?
        .add_rules(path_beneath_rules(
            PROC_READABLE.iter().map(Path::new),
            AccessFs::from_read(abi),
        ))
        .map_err(err)?
        .add_rules(path_beneath_rules(
            writable
                .iter()
                .map(PathBuf::as_path)
                .chain([Path::new("/dev/null")]),
            AccessFs::from_all(abi),
        ))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    let kernel = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi as i32,
        LandlockStatus::NotEnabled => {
            return Ok(Support::Unavailable(
                "Landlock is built into this kernel but not enabled (add `landlock` to the `lsm=` boot parameter)".into(),
            ));
        }
        _ => {
            return Ok(Support::Unavailable(
                "this kernel has no Landlock (it needs Linux 5.13 or later, built with it)".into(),
            ));
        }
    };
    if status.ruleset == RulesetStatus::NotEnforced {
        return Ok(Support::Unavailable(
            "the kernel enforced none of the sandbox's rules".into(),
        ));
    }
    let network = match close_network() {
        Ok(()) => Network::Closed,
        Err(_) if kernel >= 4 => Network::TcpOnly,
        Err(_) => Network::Open,
    };
    Ok(Support::Enforced {
        abi: kernel,
        network,
    })
}

/// Refuse (EPERM) every socket but a Unix one, and io_uring (whose socket operation a filter on
/// `socket` would not see), for this process and what it runs. Landlock's `restrict_self` has
/// set no_new_privs already, which seccomp needs.
#[cfg(target_os = "linux")]
fn close_network() -> Result<(), String> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let not_unix = SeccompRule::new(vec![
        SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )
        .map_err(|e| e.to_string())?,
    ])
    .map_err(|e| e.to_string())?;
    let mut rules = std::collections::BTreeMap::new();
    for (nr, unix_allowed) in refused_syscalls() {
        rules.insert(
            nr,
            if unix_allowed {
                vec![not_unix.clone()]
            } else {
                vec![]
            },
        );
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    let program: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())?;
    seccompiler::apply_filter(&program).map_err(|e| e.to_string())
}

/// The calls the filter refuses: (number, whether a Unix socket is still allowed). On x86_64
/// each again under its x32 number (bit 30 set), which the kernel serves when built with x32
/// and the filter would otherwise let through.
#[cfg(target_os = "linux")]
fn refused_syscalls() -> Vec<(i64, bool)> {
    let base = [(libc::SYS_socket, true), (libc::SYS_io_uring_setup, false)];
    let x32: &[(i64, bool)] = if cfg!(target_arch = "x86_64") {
        &[
            (X32_BIT | libc::SYS_socket, true),
            (X32_BIT | libc::SYS_io_uring_setup, false),
        ]
    } else {
        &[]
    };
    base.iter().chain(x32).copied().collect()
}

/// `__X32_SYSCALL_BIT`.
#[cfg(target_os = "linux")]
const X32_BIT: i64 = 0x4000_0000;

/// What of /proc a command may read: system facts test runners ask for, nothing per process.
#[cfg(target_os = "linux")]
const PROC_READABLE: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/version",
    "/proc/filesystems",
    "/proc/sys",
];

/// Every top-level directory but /proc.
#[cfg(target_os = "linux")]
fn readable_roots() -> Vec<PathBuf> {
    std::fs::read_dir("/")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p != Path::new("/proc"))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(not(target_os = "linux"))]
fn confine(_: &[PathBuf], _: Option<&Path>) -> Result<Support, String> {
    Ok(Support::Unavailable("Landlock exists only on Linux".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_head_and_tail_and_counts_what_it_left_out() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let (out, total) = read_capped(text.as_bytes(), 400);
        assert_eq!(total, text.len() as u64);
        assert!(out.starts_with("line 0\n"), "{out}");
        assert!(out.ends_with("line 999\n"), "{out}");
        assert!(out.contains("bytes left out"), "{out}");
        let (short, _) = read_capped("ok\x1b[31m\n".as_bytes(), 400);
        assert_eq!(short, "ok[31m\n");
    }

    #[test]
    fn probe_answers_parse() {
        assert_eq!(
            parse_probe("enforced abi=6 net=closed\n"),
            Support::Enforced {
                abi: 6,
                network: Network::Closed
            }
        );
        assert_eq!(
            parse_probe("enforced abi=4 net=tcp\n"),
            Support::Enforced {
                abi: 4,
                network: Network::TcpOnly
            }
        );
        assert_eq!(
            parse_probe("enforced abi=3\n"),
            Support::Enforced {
                abi: 3,
                network: Network::Open
            }
        );
        assert!(matches!(parse_probe(""), Support::Unavailable(_)));
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn the_filter_refuses_the_x32_numbers_too() {
        let refused = refused_syscalls();
        for nr in [libc::SYS_socket, libc::SYS_io_uring_setup] {
            assert!(refused.iter().any(|&(n, _)| n == nr), "{refused:?}");
            assert!(
                refused.iter().any(|&(n, _)| n == 0x4000_0000 | nr),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn network_levels_order_weakest_first_and_name_themselves() {
        assert!(Network::Open < Network::TcpOnly && Network::TcpOnly < Network::Closed);
        for n in [Network::Open, Network::TcpOnly, Network::Closed] {
            assert_eq!(Network::from_word(n.word()), Some(n));
        }
        let closed = Support::Enforced {
            abi: 6,
            network: Network::Closed,
        };
        assert!(closed.confinement().contains("no network"));
        let tcp = Support::Enforced {
            abi: 4,
            network: Network::TcpOnly,
        };
        assert!(tcp.confinement().contains("UDP stays open"));
        assert!(
            Support::Unavailable("x".into())
                .confinement()
                .starts_with("NOT SANDBOXED")
        );
    }

    #[test]
    fn unsandboxed_runs_are_bounded_and_scrubbed() {
        let dir = std::env::temp_dir();
        let cancel = AtomicBool::new(false);
        let limits = Limits {
            timeout: Duration::from_millis(300),
            max_output: 1000,
        };
        let ran = run(
            "echo out; echo err >&2; exit 3",
            &dir,
            None,
            &[],
            &[],
            limits,
            &cancel,
        )
        .unwrap();
        assert_eq!(ran.exit_code, Some(3));
        assert!(
            ran.output.contains("out\n") && ran.output.contains("err\n"),
            "{ran:?}"
        );
        let slow = run("sleep 5 & sleep 5", &dir, None, &[], &[], limits, &cancel).unwrap();
        assert!(slow.timed_out && slow.duration_ms < 3000, "{slow:?}");
        assert_eq!(slow.ending(&limits), "killed after 1 s (time limit)");
    }
}
