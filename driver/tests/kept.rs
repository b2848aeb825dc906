//! Runs are never lost, from the `nines` binary: an output target that cannot be written is
//! refused before the load (exit 2), a closed stdout neither panics nor stops the files being
//! written (exit 1), and a file that fails at the end of a run is kept in the temporary
//! directory and named (exit 1). The tests that mount a file system need root and are ignored
//! unless asked for (CI runs as root with `--include-ignored`); asked for, they fail without it.

mod util;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::{measuring, scratch};

/// Far longer than refusing takes: a command that ends sooner did not run its load.
const LONG: &str = "60s";

fn spawn(args: &[&str], stdout: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nines")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where `pid` keeps a file of kind `what` it could not write where asked.
fn spare(pid: u32, what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("nines-{what}-{pid}.{what}"))
}

/// A saved result, read and removed.
fn taken(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let _ = std::fs::remove_file(path);
    serde_json::from_slice(&bytes).unwrap()
}

/// Runs `args`, which must be refused with exit 2 in one line, before any load, naming `says`.
fn refused(args: &[&str], says: &[&str]) {
    let started = Instant::now();
    let out = util::nines(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{args:?} ran before refusing: {err}"
    );
    assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    for s in says {
        assert!(err.contains(s), "{args:?} does not say {s:?}: {err}");
    }
}

#[test]
fn targets_that_cannot_take_a_file_are_refused_before_the_load() {
    // procfs takes no regular files, from root either: the probe finds what is_dir cannot.
    let cannot = "cannot write in /proc: ";
    let dir = scratch("kept-refused");
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory\n").unwrap();
    let file = file.to_str().unwrap();
    let under_file = format!("{file}/x.json");
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["bench", "-d", LONG, "--json", "/proc/nines-kept.json"],
            &["error: --json /proc/nines-kept.json: ", cannot],
        ),
        (
            &["profile", "-d", LONG, "--hdr-out", "/proc/nines-kept.hgrm"],
            &["--hdr-out /proc/nines-kept.hgrm: ", cannot],
        ),
        (
            &["storm", "-d", LONG, "--report", "/proc/nines-kept"],
            &["--report /proc/nines-kept: ", cannot],
        ),
        (
            &["sweep", "-d", LONG, "--json", "/proc/nines-kept.json"],
            &["--json /proc/nines-kept.json: ", cannot],
        ),
        (
            &["sweep", "-d", LONG, "--json", &under_file],
            &["--json", "no directory"],
        ),
        (
            // Checked before the inputs are read: a merge is not spent either.
            &["merge", "missing.json", "--report", file],
            &["--report", "is a file; a report is a directory"],
        ),
    ];
    for (args, says) in cases {
        refused(args, says);
    }
    refused(
        &[
            "hostile",
            "127.0.0.1:9",
            "--mode",
            "hold",
            "-d",
            LONG,
            "--json",
            "/proc/nines-kept.json",
        ],
        &["--json /proc/nines-kept.json: ", cannot],
    );
}

/// A file system mounted for a test, unmounted when it ends.
struct Mount(PathBuf);

impl Mount {
    /// tmpfs at a new directory named for `tag`, with mount(8) `options`.
    fn tmpfs(tag: &str, options: &str) -> Mount {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(root, "needs root: mounting a file system");
        let dir = scratch(tag).join("mnt");
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir)
            .output()
            .expect("needs mount(8)");
        assert!(out.status.success(), "mount: {}", text(&out.stderr));
        Mount(dir)
    }

    fn join(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs root"]
fn a_read_only_directory_is_refused_before_the_load() {
    let ro = Mount::tmpfs("kept-ro", "ro");
    let cannot = format!("cannot write in {}: Read-only file system", ro.0.display());
    let json = ro.join("x.json");
    let report = ro.join("report");
    refused(
        &["bench", "-d", LONG, "--json", &json],
        &["--json", &cannot],
    );
    refused(
        &["storm", "-d", LONG, "--hlog", &json],
        &["--hlog", &cannot],
    );
    refused(
        &["sweep", "-d", LONG, "--report", &report],
        &["--report", &cannot],
    );
}

#[test]
#[ignore = "needs root"]
fn a_disk_that_fills_keeps_the_result_in_the_temporary_directory() {
    // One page: the probe's few bytes fit, a whole result does not.
    let full = Mount::tmpfs("kept-full", "size=4k");
    let json = full.join("x.json");
    let child = spawn(
        &[
            "bench", "-d", "1s", "-w", "0s", "-c", "4", "-q", "--json", &json,
        ],
        Stdio::piped(),
    );
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(text(&out.stdout).contains("throughput"), "the summary");
    let kept = spare(pid, "json");
    let said = format!(
        "nines: error: cannot write {json}: No space left on device (os error 28); saved it to {} instead",
        kept.display()
    );
    assert!(err.contains(&said), "{err}");
    assert!(taken(&kept)["requests"].as_u64().unwrap() > 0);
    // The failed write left no temporary file behind.
    assert_eq!(std::fs::read_dir(&full.0).unwrap().count(), 0);
}

#[test]
fn a_closed_stdout_does_not_panic_or_lose_the_files() {
    let dir = scratch("kept-stdout");
    let json = dir.join("bench.json");
    let json_arg = json.to_str().unwrap();
    let closed = |args: &[&str], tmpdir: Option<&str>| -> (u32, Output) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nines"));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(t) = tmpdir {
            cmd.env("TMPDIR", t);
        }
        let mut child = cmd.spawn().expect("start nines");
        // `| true`: the reader is gone before anything is printed.
        drop(child.stdout.take());
        (child.id(), child.wait_with_output().unwrap())
    };
    let run = ["bench", "-d", "1s", "-w", "0s", "-c", "4", "-q"];
    let closed_said = "nines: error: stdout was closed (Broken pipe (os error 32))";

    // The summary is lost, and said to be; the file is written.
    let (_, out) = closed(&[&run[..], &["--json", json_arg]].concat(), None);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("{closed_said}: the summary was not printed")),
        "{err}"
    );
    assert!(taken(&json)["requests"].as_u64().unwrap() > 0);

    // The JSON was to go to stdout: it is kept in the temporary directory instead.
    let (pid, out) = closed(&[&run[..], &["--json", "-"]].concat(), None);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let kept = spare(pid, "json");
    assert!(
        err.contains(&format!(
            "{closed_said}: the JSON result was not printed; saved it to {} instead",
            kept.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("throughput"),
        "the summary is on stderr: {err}"
    );
    assert!(taken(&kept)["requests"].as_u64().unwrap() > 0);

    // Nowhere to keep it either: what was lost, and why.
    let (_, out) = closed(&[&run[..], &["--json", "-"]].concat(), Some("/proc"));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the JSON result was not printed; not saved: No such file or directory"),
        "{err}"
    );

    // A sweep prints its table as steps finish: none of it reaches the reader, all is saved.
    let sweep = dir.join("sweep.json");
    let (_, out) = closed(
        &[
            "sweep",
            "-c",
            "1,2",
            "-d",
            "300ms",
            "-w",
            "0s",
            "-q",
            "--json",
            sweep.to_str().unwrap(),
        ],
        None,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("{closed_said}: the sweep's table was not printed")),
        "{err}"
    );
    assert_eq!(taken(&sweep)["steps"].as_array().unwrap().len(), 2);

    // A stdout that is not closed but cannot be written (a full disk) is named as such.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = spawn(&[&run[..], &["--json", json_arg]].concat(), full.into())
        .wait_with_output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot write to stdout: No space left on device (os error 28): the summary was not printed"),
        "{err}"
    );
    assert!(taken(&json)["requests"].as_u64().unwrap() > 0);
}

#[test]
fn a_directory_gone_mid_run_leaves_its_files_in_the_temporary_directory() {
    let dir = scratch("kept-gone").join("out");
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("x.json").display().to_string();
    let report = dir.join("report").display().to_string();
    let mut child = spawn(
        &[
            "bench",
            "-d",
            "3s",
            "-w",
            "0s",
            "-c",
            "4",
            "--progress",
            "--json",
            &json,
            "--report",
            &report,
        ],
        Stdio::piped(),
    );
    let pid = child.id();
    let lines = measuring(&mut child);
    // Checked before the run, gone during it: a file where the directory was (a removed
    // directory alone would be created again for the report).
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, "not a directory any more\n").unwrap();
    let err: Vec<String> = lines.collect();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    let err = err.join("\n");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(stdout.contains("throughput"), "the summary: {stdout}");
    let kept = spare(pid, "json");
    assert!(
        err.contains(&format!(
            "nines: error: cannot write {json}: Not a directory (os error 20); saved it to {} instead",
            kept.display()
        )),
        "{err}"
    );
    assert!(taken(&kept)["requests"].as_u64().unwrap() > 0);
    let kept_dir = std::env::temp_dir().join(format!("nines-report-{pid}"));
    assert!(
        err.contains(&format!(
            "nines: error: cannot write {report}: Not a directory (os error 20); saved it to {}",
            kept_dir.display()
        )),
        "{err}"
    );
    let md = std::fs::read_to_string(kept_dir.join("summary.md")).unwrap();
    assert!(md.contains("| latency µs |"), "{md}");
    std::fs::remove_dir_all(&kept_dir).unwrap();
}
