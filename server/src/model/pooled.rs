//! The pooled model: acceptor threads hand connections to a fixed pool of mio workers.
//!
//! Threads are created once at start, so a new connection costs an accept, a channel send and
//! (once per accept batch) an eventfd wake, never a thread creation. The worker count bounds the
//! server's parallelism and its memory no matter how many clients connect.

use std::io;
use std::net::TcpListener as StdListener;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use mio::{Poll, Waker};

use super::{Running, Shared};
use crate::acceptor::{self, Acceptor, Dispatch, WorkerLink};
use crate::config::ServerConfig;
use crate::handler::Handler;
use crate::limits::ConnLimits;
use crate::stats::Registry;
use crate::worker::{self, Worker};

/// Starts `config.workers` workers and one acceptor per listener.
pub(crate) fn start(
    config: &ServerConfig,
    listeners: Vec<StdListener>,
    registry: &mut Registry,
    shared: &Shared,
) -> io::Result<Running> {
    let shutdown = &shared.shutdown;
    let mut running = Running::default();
    // Register every counter block first so the handler's Stats replies sum all threads.
    let worker_counters: Vec<_> = (0..config.workers.max(1))
        .map(|_| registry.register())
        .collect();
    // With no acceptors, each worker owns one of the listeners and accepts for itself.
    let own_listeners = config.acceptors == 0;
    let acceptor_counters: Vec<_> = if own_listeners {
        Vec::new()
    } else {
        (0..listeners.len()).map(|_| registry.register()).collect()
    };
    let mut listeners = listeners.into_iter();
    let mut worker_listeners = Vec::new();
    if own_listeners {
        for _ in 0..config.workers.max(1) {
            let l = listeners.next().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "--acceptors 0 needs one listener per worker",
                )
            })?;
            l.set_nonblocking(true)?;
            worker_listeners.push(Some(mio::net::TcpListener::from_std(l)));
        }
    }
    let mut worker_listeners = worker_listeners.into_iter();
    let handler = Handler::new(config, registry.clone());
    let mut links = Vec::with_capacity(config.workers);
    let mut workers = Vec::with_capacity(config.workers);
    for counters in worker_counters {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), worker::WAKER)?);
        let (tx, rx) = crossbeam_channel::unbounded();
        let load = Arc::new(AtomicUsize::new(0));
        links.push(WorkerLink {
            tx,
            waker: waker.clone(),
            load: load.clone(),
        });
        running.wakers.push(waker);
        workers.push(Worker {
            poll,
            incoming: rx,
            shutdown: shutdown.clone(),
            handler: handler.clone(),
            counters,
            load,
            limits: ConnLimits::new(config),
            budget: shared.budget.clone(),
            admission: shared.admission.clone(),
            listener: worker_listeners.next().flatten(),
            tls: config.tls.clone(),
        });
    }
    let mut acceptors = Vec::with_capacity(listeners.len());
    let dispatch = Arc::new(Dispatch {
        workers: links,
        balance: config.balance,
        next: AtomicUsize::new(0),
        admission: shared.admission.clone(),
    });
    for (id, (listener, counters)) in listeners.zip(acceptor_counters).enumerate() {
        listener.set_nonblocking(true)?;
        let poll = Poll::new()?;
        running
            .wakers
            .push(Arc::new(Waker::new(poll.registry(), acceptor::WAKER)?));
        acceptors.push(Acceptor {
            id,
            poll,
            listener: mio::net::TcpListener::from_std(listener),
            dispatch: dispatch.clone(),
            shutdown: shutdown.clone(),
            counters,
        });
    }
    // Each thread says when it runs, and so has its name: whoever finds the server's threads
    // by name (its CPU, its flame graph) finds them all as soon as this returns.
    let (ready, started) = std::sync::mpsc::channel::<()>();
    for (i, w) in workers.into_iter().enumerate() {
        let ready = ready.clone();
        running.threads.push(
            std::thread::Builder::new()
                .name(format!("{}-{i}", nines_common::cpu::WORKER_THREAD))
                .spawn(move || {
                    let _ = ready.send(());
                    w.run()
                })?,
        );
    }
    for a in acceptors {
        let name = format!("{}-{}", nines_common::cpu::ACCEPTOR_THREAD, a.id);
        let ready = ready.clone();
        running
            .threads
            .push(std::thread::Builder::new().name(name).spawn(move || {
                let _ = ready.send(());
                a.run()
            })?);
    }
    drop(ready);
    for _ in 0..running.threads.len() {
        let _ = started.recv();
    }
    Ok(running)
}
