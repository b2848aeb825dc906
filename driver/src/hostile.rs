//! `nines hostile`: clients that misbehave on purpose, to see a server hold up against them —
//! what its limits are for. Each mode keeps up its pressure for the run: a connection the server
//! closes is counted (with how long it lived) and replaced.
//!
//! - `hold`: connections that send nothing (descriptor exhaustion; idle timeouts);
//! - `slowloris`: a request trickled a byte at a time, never finished (read timeouts);
//! - `never-read`: four 1 MiB Source requests, replies never read (the buffered-reply budget,
//!   send timeouts);
//! - `connect-drop`: connect and close at once, at `--rate` per second (accept churn).
//!
//! One thread, blocking connects, and a poll of every socket each tick to see which the server
//! closed (POLLRDHUP: without reading, so never-read clients stay never-reading — which also
//! means they cannot see a close: with their receive window full, the server's FIN waits
//! behind the data they never read).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nines_protocol::{encode, Header, Op};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use serde::{Deserialize, Serialize};

use crate::recorder::new_histogram;
use crate::report::LatencySummary;

/// How often sockets are checked, slowloris bytes sent, and connections replaced.
const TICK: Duration = Duration::from_millis(100);
/// A slowloris sends one byte this often.
const TRICKLE_EVERY: Duration = Duration::from_millis(500);

/// How the clients misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Connect and send nothing.
    Hold,
    /// Trickle a request a byte at a time, never finishing it.
    Slowloris,
    /// Ask for 4 MiB of Source replies and never read them.
    NeverRead,
    /// Connect and close at once, at a rate.
    ConnectDrop,
}

nines_common::value_enum_display!(Mode);

/// A hostile run.
#[derive(Debug, Clone)]
pub struct HostileConfig {
    /// Server to pester.
    pub target: SocketAddr,
    /// How.
    pub mode: Mode,
    /// Connections kept open (all modes but connect-drop).
    pub connections: usize,
    /// Connect-and-close per second (connect-drop).
    pub rate_per_s: f64,
    /// How long.
    pub duration: Duration,
}

/// What happened.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostileReport {
    /// Connections established.
    pub opened: u64,
    /// Of those, closed by the server.
    pub closed_by_server: u64,
    /// Most held open at once.
    pub peak_open: usize,
    /// Seconds a connection lived before the server closed it.
    pub lifetime_s: Option<LatencySummary>,
    /// Failed connects by OS error name.
    pub connect_failures: BTreeMap<String, u64>,
}

struct Held {
    stream: TcpStream,
    opened: Instant,
    sent: usize,
}

/// Runs `cfg` until its duration passes or `stop` is set; `ready` is told once the first full
/// set of connections is open.
pub fn run(cfg: &HostileConfig, stop: &AtomicBool, mut ready: impl FnMut(usize)) -> HostileReport {
    let mut report = HostileReport::default();
    let mut lifetimes = new_histogram();
    let mut held: Vec<Held> = Vec::with_capacity(cfg.connections);
    let started = Instant::now();
    let frame = request_bytes(cfg.mode);
    let mut announced = false;
    let mut dropped = 0u64;
    while started.elapsed() < cfg.duration && !stop.load(Ordering::Relaxed) {
        let tick = Instant::now();
        if cfg.mode == Mode::ConnectDrop {
            let due = (started.elapsed().as_secs_f64() * cfg.rate_per_s) as u64;
            while dropped < due {
                let _ = connect(cfg.target, &mut report);
                dropped += 1;
            }
        } else {
            top_up(cfg, &frame, &mut held, &mut report);
            if !announced && held.len() >= cfg.connections {
                announced = true;
                ready(held.len());
            }
            report.peak_open = report.peak_open.max(held.len());
            trickle(cfg.mode, &frame, &mut held);
            reap(&mut held, &mut report, &mut lifetimes);
        }
        std::thread::sleep(TICK.saturating_sub(tick.elapsed()));
    }
    // Recorded in ms, so the summary (which divides by a thousand) reads in seconds.
    report.lifetime_s = LatencySummary::from_histogram(&lifetimes);
    report
}

/// The request bytes a mode sends.
fn request_bytes(mode: Mode) -> Vec<u8> {
    let mut v = Vec::new();
    match mode {
        Mode::NeverRead => {
            for id in 0..4 {
                encode(
                    &Header {
                        arg: 1 << 20,
                        ..Header::request(Op::Source, id)
                    },
                    &[],
                    &mut v,
                );
            }
        }
        _ => {
            encode(&Header::request(Op::Echo, 0), b"never finished", &mut v);
        }
    }
    v
}

/// Opens connections until `cfg.connections` are held; never-read ones send their requests.
fn top_up(cfg: &HostileConfig, frame: &[u8], held: &mut Vec<Held>, report: &mut HostileReport) {
    let mut failures_this_tick = 0;
    while held.len() < cfg.connections && failures_this_tick < 10 {
        let Some(mut stream) = connect(cfg.target, report) else {
            failures_this_tick += 1;
            continue;
        };
        if cfg.mode == Mode::NeverRead && stream.write_all(frame).is_err() {
            continue;
        }
        let _ = stream.set_nonblocking(true);
        held.push(Held {
            stream,
            opened: Instant::now(),
            sent: 0,
        });
    }
}

fn connect(target: SocketAddr, report: &mut HostileReport) -> Option<TcpStream> {
    match TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
        Ok(s) => {
            report.opened += 1;
            Some(s)
        }
        Err(e) => {
            let name = e
                .raw_os_error()
                .map_or_else(|| e.kind().to_string(), nines_common::sys::errno_name);
            *report.connect_failures.entry(name).or_default() += 1;
            None
        }
    }
}

/// Slowloris: the next byte of the request, every [`TRICKLE_EVERY`], never the last one.
fn trickle(mode: Mode, frame: &[u8], held: &mut [Held]) {
    if mode != Mode::Slowloris {
        return;
    }
    for h in held.iter_mut() {
        let due = (h.opened.elapsed().as_millis() / TRICKLE_EVERY.as_millis()) as usize + 1;
        while h.sent < due.min(frame.len() - 1) {
            match h.stream.write(&frame[h.sent..h.sent + 1]) {
                Ok(1) => h.sent += 1,
                _ => break,
            }
        }
    }
}

/// Drops (and counts) the connections the server has closed, seen without reading.
fn reap(
    held: &mut Vec<Held>,
    report: &mut HostileReport,
    lifetimes: &mut hdrhistogram::Histogram<u64>,
) {
    // The peer closed its side: seen without reading, so never-read clients never read.
    let rdhup = PollFlags::from_bits_retain(libc::POLLRDHUP);
    let closed: Vec<bool> = held
        .chunks(1024)
        .flat_map(|chunk| {
            let mut fds: Vec<PollFd<'_>> = chunk
                .iter()
                .map(|h| PollFd::new(h.stream.as_fd(), rdhup))
                .collect();
            let _ = nix::poll::poll(&mut fds, PollTimeout::ZERO);
            // nix does not know POLLRDHUP, so `revents()` is `None` exactly when the kernel set
            // it (only it, HUP, ERR and NVAL can come back for these requested events).
            let gone = PollFlags::POLLHUP | PollFlags::POLLERR;
            fds.iter()
                .map(|f| f.revents().is_none_or(|r| r.intersects(gone)))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut i = 0;
    held.retain(|h| {
        let gone = closed[i];
        i += 1;
        if gone {
            report.closed_by_server += 1;
            let _ = lifetimes.record(h.opened.elapsed().as_millis().max(1) as u64);
        }
        !gone
    });
}

/// The report as text.
pub fn render(cfg: &HostileConfig, r: &HostileReport) -> String {
    let mut s = format!(
        "nines hostile {} | {} | {:.1} s\n  connections opened {}, peak held {}, closed by the server {}\n",
        cfg.target,
        cfg.mode,
        cfg.duration.as_secs_f64(),
        r.opened,
        r.peak_open,
        r.closed_by_server
    );
    if let Some(l) = &r.lifetime_s {
        s += &format!(
            "  lifetime before the server closed them: p50 {:.2} s, p99 {:.2} s, max {:.2} s\n",
            l.p50, l.p99, l.max
        );
    }
    if cfg.mode == Mode::NeverRead {
        s += "  (a never-read client cannot see the server close it: its full receive window holds the FIN back; the server's closed_send_timeout counter says how many it closed)\n";
    }
    if !r.connect_failures.is_empty() {
        let f: Vec<String> = r
            .connect_failures
            .iter()
            .map(|(e, n)| format!("{e} x{n}"))
            .collect();
        s += &format!("  connect failures: {}\n", f.join(", "));
    }
    s
}
