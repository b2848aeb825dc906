//! Sampling a target's stacks with Linux perf over exactly the measured window.
//!
//! `perf record` is started before the load, attached to the target's processes (or to the
//! server threads of this process, for an embedded server) with its events disabled (`-D -1`),
//! and steered through a control FIFO: `enable` when measurement begins, `disable` when it ends,
//! so neither warm-up nor drain is in the samples. The samples are then read back with
//! `perf script` and folded into `frame;frame;frame count` lines by inferno.
//!
//! Unwinding is DWARF (`--call-graph dwarf`): Debian's glibc and Rust's prebuilt std have no
//! frame pointers, so frame-pointer stacks break at the first libc or std frame; DWARF unwinds
//! through them from `.eh_frame`, which every Rust binary keeps, at the cost of copying a slice
//! of each sampled stack (docs/results/flame.md has the measurements).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The perf binary: `NINES_PERF` when set (a perf elsewhere than on PATH), else `perf`.
pub const PERF_ENV: &str = "NINES_PERF";
/// How long perf may take to attach and say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long perf may take to acknowledge a command.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long perf may take to write its data after it is told to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `perf script` may take to read the samples back (about 0.15 s per 1,000 here).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Bytes of stack copied per sample for DWARF unwinding: perf's default. With 4 KiB, two in
/// three of nines-server's worker stacks were cut short of their root (`[unknown]`).
const DWARF_STACK_BYTES: u32 = 8192;
/// Largest perf.data: a busy thread's DWARF samples at 499 Hz are about 4 MiB a second, so an
/// hour-long run stops sampling (perf says so) rather than fill the disk.
const MAX_DATA: &str = "2G";

/// How stacks are unwound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unwind {
    /// From `.eh_frame` (works through code built without frame pointers).
    Dwarf,
    /// By following frame pointers (cheaper; breaks in code built without them).
    FramePointers,
}

impl Unwind {
    fn arg(self) -> String {
        match self {
            Unwind::Dwarf => format!("dwarf,{DWARF_STACK_BYTES}"),
            Unwind::FramePointers => "fp".into(),
        }
    }
}

impl std::fmt::Display for Unwind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unwind::Dwarf => "DWARF",
            Unwind::FramePointers => "frame-pointer",
        })
    }
}

/// What is sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sampled {
    /// Whole processes (a server on this machine).
    Processes(Vec<u32>),
    /// Threads of this process (the embedded server's).
    Threads(Vec<u32>),
}

/// Why no samples can be had; the message is one line that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// The kernel setting that governs who may sample.
const PARANOID: &str = "/proc/sys/kernel/perf_event_paranoid";

/// What perf may sample from this process: `Ok(true)` kernel and user frames, `Ok(false)` user
/// frames only (kernel.perf_event_paranoid 2 without privilege), or why it may not sample at all.
pub fn access() -> Result<bool, Unavailable> {
    if privileged() {
        return Ok(true);
    }
    let level: i32 = std::fs::read_to_string(PARANOID)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2);
    match level {
        ..=1 => Ok(true),
        2 => Ok(false),
        n => Err(Unavailable(format!(
            "kernel.perf_event_paranoid is {n}, which lets only root sample: run `sudo sysctl kernel.perf_event_paranoid=1` (or run nines as root, or give it CAP_PERFMON)"
        ))),
    }
}

/// Whether this process holds CAP_PERFMON or CAP_SYS_ADMIN (root has both).
fn privileged() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let hex = s.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
            u64::from_str_radix(hex, 16).ok()
        })
        .unwrap_or(0);
    caps & (1 << CAP_SYS_ADMIN | 1 << CAP_PERFMON) != 0
}

/// The perf binary to run: `NINES_PERF`, or `perf` found on PATH; or why there is none.
fn perf_binary() -> Result<PathBuf, Unavailable> {
    use std::os::unix::fs::PermissionsExt as _;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = match std::env::var_os(PERF_ENV) {
        Some(p) => Some(PathBuf::from(p)).filter(|p| runnable(p)),
        None => std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("perf"))
                .find(|p| runnable(p))
        }),
    };
    found.ok_or_else(|| {
        let which = std::env::var_os(PERF_ENV).map_or_else(
            || "perf is not on PATH".to_string(),
            |p| format!("{PERF_ENV}={} is not a program", PathBuf::from(p).display()),
        );
        Unavailable(format!(
            "{which}: install perf (Debian: apt-get install linux-perf; Ubuntu: apt-get install linux-tools-$(uname -r)) or set {PERF_ENV} to it"
        ))
    })
}

/// `perf record` in a process group of its own (a Ctrl-C at the terminal reaches nines, which
/// stops perf in order, not perf itself), killed if this thread dies (`setpriv --pdeathsig`,
/// when util-linux has it: a nines killed outright leaves no perf sampling on).
fn record_command(perf: &Path) -> Command {
    let setpriv = Path::new("/usr/bin/setpriv");
    let mut c = if setpriv.exists() {
        let mut c = Command::new(setpriv);
        c.args(["--pdeathsig", "KILL", "--"]).arg(perf);
        c
    } else {
        Command::new(perf)
    };
    c.process_group(0);
    c
}

/// A running perf process and its scratch directory (FIFOs, data, log), both cleaned up on drop.
#[derive(Debug)]
struct Perf {
    child: Child,
    dir: PathBuf,
    /// How perf ended, once it has (kept: a process is reaped once).
    status: Option<std::process::ExitStatus>,
}

impl Perf {
    fn exited(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.is_some()
    }

    /// Perf could not go on: stops it, and says why with the first line perf wrote.
    fn failed(&mut self, what: &str) -> Unavailable {
        if !self.exited() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        let said = std::fs::read_to_string(self.dir.join("perf.log")).unwrap_or_default();
        let first = said.lines().map(str::trim).find(|l| !l.is_empty());
        let how = match self.status.and_then(|s| s.code()) {
            Some(code) if code != 0 => format!(" (exit status {code})"),
            _ => String::new(),
        };
        Unavailable(match first {
            Some(l) if l.contains("ermission") || l.contains("paranoid") => format!(
                "{what}{how}: perf says `{l}`: sampling another process needs root, CAP_PERFMON, or kernel.perf_event_paranoid 1 or less"
            ),
            Some(l) if l.contains("control") || l.contains("Usage") => format!(
                "{what}{how}: perf says `{l}`: nines needs Linux perf 5.10 or later (record --control); set {PERF_ENV} to one"
            ),
            Some(l) => format!("{what}{how}: perf says `{l}`"),
            None => format!("{what}{how}: is {PERF_ENV} (or perf on PATH) Linux perf 5.10 or later?"),
        })
    }
}

impl Drop for Perf {
    fn drop(&mut self) {
        if !self.exited() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `perf record` attached to the target, its events off until [`Recording::enable`].
#[derive(Debug)]
pub struct Recording {
    perf: Perf,
    ctl: File,
    ack: File,
    /// Kernel frames included.
    pub kernel: bool,
    /// How stacks are unwound.
    pub unwind: Unwind,
    /// Samples a second.
    pub hz: u32,
    enabled: Option<Instant>,
    /// Seconds the events were on.
    pub seconds: f64,
}

impl Recording {
    /// Starts perf on `what` at `hz` samples a second, and waits until it is attached.
    pub fn start(what: &Sampled, hz: u32, unwind: Unwind) -> Result<Recording, Unavailable> {
        let kernel = access()?;
        let binary = perf_binary()?;
        let dir = scratch_dir()
            .map_err(|e| Unavailable(format!("cannot make perf's scratch directory: {e}")))?;
        let (ctl, ack) = (dir.join("ctl"), dir.join("ack"));
        let (ack_file, log) = match prepare(&dir, &ctl, &ack) {
            Ok(files) => files,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let (flag, ids) = match what {
            Sampled::Processes(p) => ("--pid", p),
            Sampled::Threads(t) => ("--tid", t),
        };
        let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
        let event = if kernel { "cpu-clock" } else { "cpu-clock:u" };
        let spawned = record_command(&binary)
            .args(["record", "--quiet", "-e", event, "-F", &hz.to_string()])
            .args(["--max-size", MAX_DATA])
            .args(["--call-graph", &unwind.arg(), "-D", "-1"])
            .arg(format!(
                "--control=fifo:{},{}",
                ctl.display(),
                ack.display()
            ))
            .arg("-o")
            .arg(dir.join("perf.data"))
            .args([flag, &ids.join(",")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(Unavailable(format!(
                    "cannot run {} ({PERF_ENV} or perf on PATH): {e}",
                    binary.display()
                )));
            }
        };
        let mut perf = Perf {
            child,
            dir,
            status: None,
        };
        let ctl_file = open_ctl(&mut perf, &ctl)?;
        let mut r = Recording {
            perf,
            ctl: ctl_file,
            ack: ack_file,
            kernel,
            unwind,
            hz,
            enabled: None,
            seconds: 0.0,
        };
        if let Err(why) = r.command("ping", READY_TIMEOUT) {
            return Err(r.perf.failed(&why));
        }
        Ok(r)
    }

    /// Turns sampling on (measurement begins), or says why perf did not.
    pub fn enable(&mut self) -> Result<(), Unavailable> {
        if self.enabled.is_none() {
            self.command("enable", ACK_TIMEOUT)
                .map_err(|why| self.perf.failed(&why))?;
            self.enabled = Some(Instant::now());
        }
        Ok(())
    }

    /// Turns sampling off (measurement ends).
    pub fn disable(&mut self) {
        if let Some(t) = self.enabled.take() {
            let _ = self.command("disable", ACK_TIMEOUT);
            self.seconds += t.elapsed().as_secs_f64();
        }
    }

    /// Sends `cmd` and waits for perf's `ack`.
    fn command(&mut self, cmd: &str, timeout: Duration) -> Result<(), String> {
        self.ctl
            .write_all(format!("{cmd}\n").as_bytes())
            .map_err(|e| format!("perf's control FIFO: {e}"))?;
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        // perf writes `ack\n` and a NUL.
        while !got.windows(4).any(|w| w == b"ack\n") {
            match self.ack.read(&mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
                    return Err(format!("perf's ack FIFO: {e}"))
                }
                _ if self.perf.exited() => return Err("perf exited".into()),
                _ if Instant::now() >= deadline => {
                    return Err(format!("perf did not acknowledge `{cmd}` in {timeout:?}"))
                }
                _ => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        Ok(())
    }

    /// Stops perf and folds what it sampled into `stack count` lines (the stack's first frame
    /// the thread's name), or says why not. A perf that already ended (killed with the target,
    /// say) has written its data: that is folded. Gives up on reading the samples back after
    /// [`SCRIPT_TIMEOUT`], or when `give_up` says so (an interrupt): the run is kept either way.
    pub fn finish(mut self, give_up: &dyn Fn() -> bool) -> Result<Vec<String>, Unavailable> {
        self.disable();
        if !self.perf.exited() {
            let pid = nix::unistd::Pid::from_raw(self.perf.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !self.perf.exited() {
            if Instant::now() >= deadline || give_up() {
                return Err(self.perf.failed("perf did not finish writing its samples"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = self.perf.dir.join("script.txt");
        let written = File::create(&out)
            .map_err(|e| Unavailable(format!("cannot write perf script's output: {e}")))?;
        let mut script = Command::new(perf_binary()?)
            .args([
                "script",
                "--no-inline",
                "-F",
                "comm,tid,time,ip,sym,dso",
                "-i",
            ])
            .arg(self.perf.dir.join("perf.data"))
            .stdin(Stdio::null())
            .stdout(written)
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| Unavailable(format!("cannot run perf script: {e}")))?;
        let deadline = Instant::now() + SCRIPT_TIMEOUT;
        loop {
            match script.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline && !give_up() => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    let _ = script.kill();
                    let _ = script.wait();
                    return Err(Unavailable(format!(
                        "perf script did not read the samples back within {SCRIPT_TIMEOUT:?} (or the run was interrupted): no flame graph"
                    )));
                }
            }
        }
        let text = File::open(&out)
            .map_err(|e| Unavailable(format!("cannot read perf script's output: {e}")))?;
        fold(BufReader::new(text))
    }
}

/// The control FIFOs made in `dir`, the ack FIFO opened for reading (without waiting for perf:
/// a FIFO's reader need not wait), and perf's log.
fn prepare(dir: &Path, ctl: &Path, ack: &Path) -> Result<(File, File), Unavailable> {
    for p in [ctl, ack] {
        use nix::sys::stat::Mode;
        nix::unistd::mkfifo(p, Mode::S_IRUSR | Mode::S_IWUSR)
            .map_err(|e| Unavailable(format!("cannot make perf's control FIFO: {e}")))?;
    }
    let ack_file = nonblocking(ack, false)
        .map_err(|e| Unavailable(format!("cannot open perf's ack FIFO: {e}")))?;
    let log = File::create(dir.join("perf.log"))
        .map_err(|e| Unavailable(format!("cannot write perf's log: {e}")))?;
    Ok((ack_file, log))
}

/// Opens `path` without waiting for the other end: for reading, or for writing (which fails
/// with ENXIO until a reader has it open).
fn nonblocking(path: &Path, write: bool) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// The control FIFO opened for writing once perf has opened it: an open that waited would
/// hang on a perf that died at start.
fn open_ctl(perf: &mut Perf, path: &Path) -> Result<File, Unavailable> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match nonblocking(path, true) {
            Ok(f) => return Ok(f),
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
            Err(e) => return Err(perf.failed(&format!("cannot open perf's control FIFO: {e}"))),
        }
        if perf.exited() || Instant::now() >= deadline {
            return Err(perf.failed("perf did not start"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `perf script`'s output folded by inferno into sorted `stack count` lines.
fn fold(script: impl BufRead) -> Result<Vec<String>, Unavailable> {
    use inferno::collapse::Collapse as _;
    let mut folded = Vec::new();
    let mut options = inferno::collapse::perf::Options::default();
    options.nthreads = 1;
    inferno::collapse::perf::Folder::from(options)
        .collapse(script, &mut folded)
        .map_err(|e| Unavailable(format!("cannot fold perf's samples: {e}")))?;
    Ok(BufReader::new(folded.as_slice())
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.is_empty())
        .collect())
}

/// A fresh directory of this user's own for one recording's FIFOs, data and log.
fn scratch_dir() -> std::io::Result<PathBuf> {
    let template = std::env::temp_dir().join("nines-perf-XXXXXX");
    nix::unistd::mkdtemp(&template).map_err(std::io::Error::from)
}
