//! Connecting a thread's share of the connections: all at once, nonblocking, in the thread's
//! own poll, bounded by `--connect-timeout`. Failures are counted by errno (`EMFILE`,
//! `ECONNREFUSED`, ...), so a report says why connections are missing, not only how many.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use mio::{Events, Poll, Token};

use super::conn::{Conn, Connecting};
use super::{Books, ThreadPlan};
use crate::clock::RunClock;
use crate::config::{Picker, Requests};
use crate::errors::ErrorKind;
use crate::transport::Failure;

/// Longest the connect loop sleeps before looking at the stop flag again.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// The connections of one thread, and how connecting them went.
#[derive(Debug, Default)]
pub(crate) struct Connected {
    /// Every connection asked for, open or closed, indexed by token.
    pub conns: Vec<Conn>,
    /// How many opened.
    pub opened: u64,
    /// Failed connects by errno name.
    pub failures: BTreeMap<String, u64>,
}

impl Connected {
    fn failed(&mut self, e: &io::Error, books: &mut Books<'_>) {
        tracing::debug!(error = %e, "connect failed");
        *self.failures.entry(errno_label(e)).or_default() += 1;
        books.tally.add(ErrorKind::Connect, 1);
    }

    /// The TLS handshake failed: counted by kind (`tls_certificate`, `tls_handshake`).
    fn tls_failed(&mut self, f: Failure, books: &mut Books<'_>) {
        *self
            .failures
            .entry(f.kind.error_kind().name().to_string())
            .or_default() += 1;
        books.handshakes.failed(f, &mut books.tally);
    }

    /// The handshake was refused or garbled: counted by what was wrong (`ws_handshake_accept`).
    fn refused(&mut self, kind: &'static str, books: &mut Books<'_>) {
        *self.failures.entry(kind.to_string()).or_default() += 1;
        books.tally.add(ErrorKind::Connect, 1);
    }
}

/// A failed connect's name in reports: its errno (`ECONNREFUSED`, `EMFILE`, ...).
pub(crate) fn errno_label(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nines_common::sys::errno_name(code),
        None if e.kind() == io::ErrorKind::TimedOut => "ETIMEDOUT".to_string(),
        None => e.kind().to_string(),
    }
}

/// Opens `plan.connections` connections and waits until each is open, failed or timed out.
pub(crate) fn connect_all(
    poll: &mut Poll,
    events: &mut Events,
    plan: &ThreadPlan,
    requests: &Requests,
    timeout: Duration,
    clock: RunClock,
    books: &mut Books<'_>,
) -> Connected {
    let mut c = Connected::default();
    let mut pending = 0usize;
    let dial = plan.dial();
    let picker = Picker::new(requests, 0);
    for i in 0..plan.connections {
        let index = plan.connection_index(i);
        let (conn, err) = Conn::connect(
            &dial,
            Token(i),
            poll.registry(),
            (
                requests.codec(),
                picker.for_connection(requests.seed(), index),
            ),
            clock.now_ns(),
        );
        match err {
            Some(e) => c.failed(&e, books),
            None => pending += 1,
        }
        c.conns.push(conn);
    }
    let deadline = clock.now_ns() + timeout.as_nanos() as u64;
    while pending > 0 && !books.tally.control.stopped() {
        let now = clock.now_ns();
        if now >= deadline {
            break;
        }
        let wait = Duration::from_nanos(deadline - now).min(MAX_WAIT);
        if let Err(e) = poll.poll(events, Some(wait)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        for ev in events.iter() {
            let Some(conn) = c.conns.get_mut(ev.token().0) else {
                continue;
            };
            let now = clock.now_ns();
            match conn.poll_connect(now) {
                Connecting::Pending => continue,
                Connecting::Established(o) => {
                    c.opened += 1;
                    books.handshakes.opened(&o, conn.connect_started_ns(), now);
                }
                Connecting::Failed(e) => c.failed(&e, books),
                Connecting::Refused(kind) => c.refused(kind, books),
                Connecting::TlsFailed(f) => c.tls_failed(f, books),
            }
            pending -= 1;
        }
    }
    let timed_out = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
    for i in 0..c.conns.len() {
        if c.conns[i].is_connecting() {
            let securing = c.conns[i].is_securing();
            c.conns[i].close();
            if securing {
                c.tls_failed(Failure::timed_out(timeout), books);
            } else {
                c.failed(&timed_out, books);
            }
        }
    }
    c
}
