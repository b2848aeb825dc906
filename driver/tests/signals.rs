//! Signals sent to real `nines` processes: whatever stops a run (Ctrl-C, SIGTERM, a hang-up,
//! `timeout`'s signal to a process and its group, a storm process killed outright), what was
//! measured is written, said to be cut short, and nothing is left running or lying about.

mod util;

use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{measuring, scratch};

/// How long a signalled run may take to stop and write.
const STOP_LIMIT: Duration = Duration::from_secs(15);

/// A nines process, killed (SIGKILL) if a failed assertion drops it still running: a storm's
/// processes then die with it (each asks to on its parent's death).
struct Running(Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn spawn(args: &[&str]) -> Running {
    spawn_with(Command::new(env!("CARGO_BIN_EXE_nines")).args(args))
}

fn spawn_with(cmd: &mut Command) -> Running {
    Running(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nines"),
    )
}

/// All `child` wrote to stdout (or stderr), once it has exited.
fn all_of(pipe: Option<impl Read>) -> String {
    let mut text = String::new();
    pipe.expect("piped").read_to_string(&mut text).unwrap();
    text
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a pid this test started and has not reaped; no memory is involved.
    assert_eq!(
        unsafe { libc::kill(pid as i32, sig) },
        0,
        "kill {pid} {sig}"
    );
}

/// Waits for `child` to exit, failing after [`STOP_LIMIT`].
fn exited(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + STOP_LIMIT;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "nines did not stop within {STOP_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("the result was written")).unwrap()
}

fn bench_args(json: &Path) -> Vec<String> {
    [
        "bench",
        "-d",
        "60s",
        "-w",
        "0s",
        "-c",
        "4",
        "--threads",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--json".into(), json.display().to_string()])
    .collect()
}

#[test]
fn a_hang_up_or_a_signal_repeated_at_once_stops_a_bench_and_keeps_its_result() {
    // SIGHUP once (an ssh session closed), and SIGTERM twice within microseconds (what
    // `timeout` does: the process, then its group): one stop each, the result written.
    for (name, signals) in [
        ("hup", &[libc::SIGHUP][..]),
        ("term-twice", &[libc::SIGTERM, libc::SIGTERM]),
    ] {
        let json = scratch("signals").join(format!("{name}.json"));
        let mut args = bench_args(&json);
        args.push("--progress".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = spawn(&args);
        let rest = measuring(&mut child);
        for &sig in signals {
            signal(child.id(), sig);
        }
        let status = exited(&mut child);
        drop(rest);
        let stdout = all_of(child.stdout.take());
        assert_eq!(status.code(), Some(1), "{name}: {status}");
        assert!(stdout.contains("CUT SHORT"), "{name}: {stdout}");
        let v = report(&json);
        assert_eq!(v["cut_short"]["kind"], "interrupted", "{name}");
        assert!(v["requests"].as_u64().unwrap() > 0, "{name}");
    }
}

#[test]
fn under_nohup_a_hang_up_is_ignored_and_the_run_goes_on() {
    // nohup starts a command with SIGHUP ignored; nines keeps it so, and stops at SIGTERM.
    let json = scratch("signals").join("nohup.json");
    let mut args = bench_args(&json);
    args.push("--progress".into());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nines"));
    cmd.args(&args);
    // SAFETY: between fork and exec only signal(2), async-signal-safe, as nohup calls it.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = spawn_with(&mut cmd);
    let mut rest = measuring(&mut child);
    signal(child.id(), libc::SIGHUP);
    // Two more progress lines: two more seconds measured after the hang-up.
    assert!(
        rest.by_ref()
            .filter(|l| l.contains("req/s"))
            .nth(1)
            .is_some(),
        "the run went on after the hang-up"
    );
    assert!(child.try_wait().unwrap().is_none(), "still running");
    signal(child.id(), libc::SIGTERM);
    let status = exited(&mut child);
    drop(rest);
    assert_eq!(status.code(), Some(1), "{status}");
    let v = report(&json);
    assert_eq!(v["cut_short"]["kind"], "interrupted");
    assert!(
        v["duration_s"].as_f64().unwrap() >= 2.0,
        "{}",
        v["duration_s"]
    );
}

/// A new pseudo-terminal: its master (close-on-exec, or every process this test binary starts
/// would hold it open and the terminal would never hang up), and the path of its slave.
fn pty() -> (File, PathBuf) {
    // SAFETY: posix_openpt returns a new descriptor we own (or -1, checked); grantpt and
    // unlockpt act on it; ptsname_r writes at most buf.len() bytes into buf.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(master >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut buf = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, buf.as_mut_ptr(), buf.len()), 0);
        let name = std::ffi::CStr::from_ptr(buf.as_ptr()).to_str().unwrap();
        (File::from_raw_fd(master), PathBuf::from(name))
    }
}

#[test]
fn a_terminal_that_goes_away_stops_a_bench_and_keeps_its_result() {
    // nines runs in its own session with a pseudo-terminal as its controlling terminal and
    // stdout and stderr, as in an ssh session; closing the master hangs the terminal up: the
    // kernel sends SIGHUP, and every write to the terminal fails after it.
    let json = scratch("signals").join("tty.json");
    let (master, slave) = pty();
    let term = || File::options().read(true).write(true).open(&slave).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nines"));
    cmd.args(bench_args(&json))
        .stdin(term())
        .stdout(term())
        .stderr(term());
    // SAFETY: between fork and exec only async-signal-safe calls: setsid(2), and ioctl(2) to
    // take the terminal on stdin as the new session's controlling terminal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = Running(cmd.spawn().expect("start nines on a terminal"));
    // Progress goes to the terminal (it is one); read it until replies are measured, then close
    // the master.
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut master = master;
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + STOP_LIMIT;
        while !String::from_utf8_lossy(&seen).contains("req/s") && Instant::now() < deadline {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let seen = reader.join().unwrap();
    assert!(seen.contains("req/s"), "progress on the terminal: {seen}");
    let status = exited(&mut child);
    assert_eq!(status.code(), Some(1), "{status}");
    let v = report(&json);
    assert_eq!(v["cut_short"]["kind"], "interrupted");
    assert!(v["requests"].as_u64().unwrap() > 0);
}

/// The pids of `parent`'s children.
fn children_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The fields after the parenthesised command name: state, then ppid.
        let ppid = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .nth(1);
        if ppid == Some(&parent.to_string()) {
            pids.push(pid);
        }
    }
    pids
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the pid exists; nothing is sent.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// Sockets `pid` has open (0 once it is gone).
fn open_sockets(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|link| link.to_string_lossy().starts_with("socket:"))
        .count()
}

/// A storm of 300 connections over three processes, held long enough to be signalled; its
/// child pids once each holds its 100 connections open.
fn storm_over_processes(json: &Path, hold: &str) -> (Running, Vec<u32>) {
    let json = json.display().to_string();
    let child = spawn(&[
        "storm",
        "-c",
        "300",
        "--processes",
        "3",
        "-d",
        hold,
        "--json",
        &json,
    ]);
    let deadline = Instant::now() + STOP_LIMIT;
    let parts = loop {
        let parts = children_of(child.id());
        if parts.len() == 3 {
            break parts;
        }
        assert!(Instant::now() < deadline, "three storm processes started");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Its connections, and the socket pair its signal watcher wakes on.
    while !parts.iter().all(|&p| open_sockets(p) >= 102) {
        assert!(
            Instant::now() < deadline,
            "each storm process opened its 100 connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, parts)
}

fn scratch_dir_of(parent: u32) -> PathBuf {
    std::env::temp_dir().join(format!("nines-storm-{parent}"))
}

#[test]
fn a_killed_storm_process_is_named_and_the_others_results_are_merged() {
    let json = scratch("signals").join("part-killed.json");
    let (mut child, parts) = storm_over_processes(&json, "3s");
    let parent = child.id();
    signal(parts[1], libc::SIGKILL);
    let status = exited(&mut child);
    let stderr = all_of(child.stderr.take());
    assert_eq!(status.code(), Some(1), "{stderr}");
    let named = format!("(pid {})", parts[1]);
    assert!(
        stderr.contains(&named) && stderr.contains("killed by SIGKILL"),
        "{stderr}"
    );
    let v = report(&json);
    assert_eq!(v["cut_short"]["kind"], "part_lost", "{v}");
    assert!(v["cut_short"]["part"].as_str().unwrap().contains(&named));
    assert_eq!(v["cut_short"]["how"], "killed by SIGKILL");
    // The two survivors' 200 connections, held and merged.
    assert_eq!(v["load"]["connected"], 200, "{v}");
    assert!(!scratch_dir_of(parent).exists(), "scratch left");
    assert!(parts.iter().all(|&p| !alive(p)), "no storm process left");
}

#[test]
fn sigterm_or_sigint_to_a_storms_parent_stops_its_processes_and_keeps_the_merged_result() {
    for (name, sig) in [("term", libc::SIGTERM), ("int", libc::SIGINT)] {
        let json = scratch("signals").join(format!("parent-{name}.json"));
        let (mut child, parts) = storm_over_processes(&json, "60s");
        let parent = child.id();
        signal(parent, sig);
        let status = exited(&mut child);
        assert_eq!(status.code(), Some(1), "{name}: {status}");
        let v = report(&json);
        assert_eq!(v["cut_short"]["kind"], "interrupted", "{name}: {v}");
        assert_eq!(v["load"]["connected"], 300, "{name}");
        assert!(
            parts.iter().all(|&p| !alive(p)),
            "{name}: an orphan runs on"
        );
        assert!(!scratch_dir_of(parent).exists(), "{name}: scratch left");
    }
}
