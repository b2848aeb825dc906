//! `nines-server --processes N`: N server processes sharing one port through SO_REUSEPORT,
//! each with its own descriptor limit (past one process's `ulimit -n`), supervised as nginx's
//! master supervises its workers: a process that dies is started again and counted. On SIGINT
//! or SIGTERM the processes are stopped and their counters added into one `stopped` line.
//!
//! With TLS, the processes share their session-ticket keys, or a client's reconnections,
//! spread over them by the kernel, would mostly land where its ticket cannot be opened: the
//! supervisor makes one [`TicketSeed`] and writes it to each process's stdin as it starts it
//! (a pipe: not in argv, the environment or a file, where `ps` or another user could read it).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nines_server::tls::tickets::{wipe, TicketSeed, SEED_BYTES};

/// Set in a supervised process's environment: it then stops when its supervisor dies.
pub const SUPERVISED_ENV: &str = "NINES_SERVER_SUPERVISED";

/// In a supervised process: ask the kernel for SIGTERM when the supervisor dies, so a killed
/// supervisor leaves no server behind.
pub fn follow_supervisor() {
    if std::env::var_os(SUPERVISED_ENV).is_some() {
        let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    }
}

/// The seed of this server's ticket keys: its supervisor's, read from stdin, in a supervised
/// process; a fresh one otherwise.
pub fn ticket_seed() -> std::io::Result<TicketSeed> {
    if std::env::var_os(SUPERVISED_ENV).is_none() {
        return TicketSeed::random().map_err(std::io::Error::other);
    }
    let mut bytes = [0u8; SEED_BYTES];
    std::io::stdin()
        .lock()
        .read_exact(&mut bytes)
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("no ticket key from the supervisor on stdin: {e}"),
            )
        })?;
    let seed = TicketSeed::from_bytes(&bytes);
    wipe(&mut bytes);
    Ok(seed)
}

/// Writes a line to stderr, ignoring failure (a supervisor whose terminal is gone must still
/// stop its processes).
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// How often the supervisor looks at its processes.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// One supervised process and the counters it printed when it stopped.
struct Proc {
    child: Child,
    stopped: Arc<Mutex<Option<String>>>,
}

/// Runs `n` server processes on `bind`:`port` (0: a free port, chosen once for all) with the
/// command line's other flags, handing each the ticket seed if they serve TLS; returns when
/// stopped by a signal.
pub fn supervise(n: usize, bind: IpAddr, port: u16, mut tickets: Option<TicketSeed>) -> ExitCode {
    let port = if port == 0 {
        match TcpListener::bind((bind, 0)).and_then(|l| l.local_addr()) {
            Ok(a) => a.port(),
            Err(e) => {
                say(&format!(
                    "nines-server: error: cannot find a free port on {bind}: {e}"
                ));
                return ExitCode::from(1);
            }
        }
    } else {
        port
    };
    let args = child_args(port);
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, term.clone());
    }
    let mut procs = Vec::with_capacity(n);
    for k in 0..n {
        match spawn(&args, tickets.as_mut()) {
            Ok(p) => procs.push(p),
            Err(e) => {
                say(&format!(
                    "nines-server: error: process {k} did not start: {e}"
                ));
                stop_all(&mut procs);
                return ExitCode::from(1);
            }
        }
    }
    let pids: Vec<String> = procs.iter().map(|p| p.child.id().to_string()).collect();
    say(&format!(
        "nines-server: supervising {n} processes sharing port {port} (SO_REUSEPORT): pids {}",
        pids.join(" ")
    ));
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "nines-server listening on {}",
            SocketAddr::new(bind, port)
        );
        let _ = out.flush();
    }
    let mut restarts = 0u64;
    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(CHECK_EVERY);
        // The seed is kept no older than the processes need, for forward secrecy.
        if let Some(seed) = tickets.as_mut() {
            seed.keep_up();
        }
        for (k, p) in procs.iter_mut().enumerate() {
            if let Ok(Some(status)) = p.child.try_wait() {
                if term.load(Ordering::Relaxed) {
                    break;
                }
                restarts += 1;
                say(&format!(
                    "nines-server: process {k} (pid {}) died ({status}); starting it again (restarts={restarts})",
                    p.child.id()
                ));
                match spawn(&args, tickets.as_mut()) {
                    Ok(np) => *p = np,
                    Err(e) => say(&format!("nines-server: process {k} did not restart: {e}")),
                }
            }
        }
    }
    say(&format!(
        "nines-server: signal received; stopping {n} processes"
    ));
    let totals = stop_all(&mut procs);
    let mut line: Vec<String> = totals.iter().map(|(k, v)| format!("{k}={v}")).collect();
    line.push(format!("processes={n}"));
    line.push(format!("restarts={restarts}"));
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "nines-server stopped: {}",
            line.join(" ")
        );
    }
    ExitCode::SUCCESS
}

/// This command line without `--processes` and `--port`, then the shared port and
/// `--reuse-port`.
fn child_args(port: u16) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip_next = false;
    let mut reuse = false;
    for a in std::env::args_os().skip(1) {
        if skip_next {
            skip_next = false;
            continue;
        }
        let s = a.to_string_lossy();
        if s == "--processes" || s == "--port" {
            skip_next = true;
            continue;
        }
        if s.starts_with("--processes=") || s.starts_with("--port=") {
            continue;
        }
        reuse |= s == "--reuse-port";
        out.push(a);
    }
    out.push("--port".into());
    out.push(port.to_string().into());
    if !reuse {
        out.push("--reuse-port".into());
    }
    out
}

/// Starts one process, hands it the ticket seed, and waits for its listening line; a thread
/// keeps its `stopped` line.
fn spawn(args: &[OsString], tickets: Option<&mut TicketSeed>) -> std::io::Result<Proc> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .env(SUPERVISED_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    // 40 bytes fit any pipe's buffer: the write does not wait for the process to read. The
    // pipe is closed at once either way, so a process never waits on it.
    let mut stdin = child.stdin.take().expect("piped");
    if let Some(seed) = tickets {
        seed.keep_up();
        let mut bytes = seed.to_bytes();
        let sent = stdin.write_all(&bytes);
        wipe(&mut bytes);
        if let Err(e) = sent {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    }
    drop(stdin);
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    match lines.next() {
        Some(Ok(l)) if l.starts_with("nines-server listening on ") => {}
        other => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other(format!(
                "it said {other:?} instead of listening"
            )));
        }
    }
    let stopped = Arc::new(Mutex::new(None));
    let keep = stopped.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            if let Some(rest) = l.strip_prefix("nines-server stopped: ") {
                *keep.lock().expect("lock") = Some(rest.to_string());
            }
        }
    });
    Ok(Proc { child, stopped })
}

/// Stops every process (SIGTERM, then SIGKILL after 10 s) and adds up their counters.
fn stop_all(procs: &mut [Proc]) -> BTreeMap<String, u64> {
    for p in procs.iter() {
        let pid = nix::unistd::Pid::from_raw(p.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let mut totals = BTreeMap::new();
    for p in procs.iter_mut() {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while p.child.try_wait().ok().flatten().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = p.child.kill();
                let _ = p.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Its reader thread sees the line before EOF; give it a moment.
        for _ in 0..50 {
            if p.stopped.lock().expect("lock").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(line) = p.stopped.lock().expect("lock").as_deref() {
            for kv in line.split_whitespace() {
                if let Some((k, v)) = kv.split_once('=') {
                    if let Ok(v) = v.parse::<u64>() {
                        *totals.entry(k.to_string()).or_default() += v;
                    }
                }
            }
        }
    }
    totals
}
