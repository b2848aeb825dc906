//! `nines-server`: parse flags, bind, serve until SIGINT/SIGTERM, print the counters.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use nines_common::units::{ByteCount, HumanDuration};
use nines_common::usage::{exit_with, parse_or_exit, UsageError};
use nines_common::{sys, DEFAULT_PORT};
use nines_server::config::{
    Model, DEFAULT_BACKLOG, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BUFFERED, DEFAULT_MAX_THREADS,
    DEFAULT_READ_TIMEOUT, DEFAULT_SEND_TIMEOUT, DEFAULT_WORK_CAP_US, DEFAULT_WRITE_HIGH_WATER,
};
use nines_server::listener::{backlog_warning, ListenOptions};
use nines_server::tls::tickets::TicketSeed;
use nines_server::{limits, Balance, Protocol, Server, ServerConfig};
use signal_hook::consts::{SIGINT, SIGTERM};

/// A tuned mio/epoll TCP server for the nines protocol or plain echo.
///
/// Prints `nines-server listening on ADDR:PORT` on stdout once it accepts connections (with the
/// real port when --port 0), and its counters when stopped with Ctrl-C or SIGTERM.
#[derive(Parser, Debug)]
#[command(name = "nines-server", version)]
struct Cli {
    /// Address to listen on (0.0.0.0 or :: for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// TCP port; 0 picks a free one and prints it.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// What to serve: nines frames, plain byte echo, a keep-alive HTTP/1.1 `200 OK`
    /// responder, or a WebSocket echo server.
    #[arg(long, value_enum, default_value_t = Protocol::default())]
    protocol: Protocol,
    /// Server model: pooled (acceptors + worker pool) or thread-per-connection, as built in
    /// (cargo features `pooled`, `thread-per-connection`) [default: pooled if built in].
    #[arg(long, value_enum)]
    model: Option<Model>,
    /// Worker threads, each with its own event loop [default: CPUs available] (pooled).
    #[arg(long)]
    workers: Option<usize>,
    /// Acceptor threads, each with its own SO_REUSEPORT listener; 0 makes every worker own a
    /// listener and accept for itself (pooled).
    #[arg(long, default_value_t = 1)]
    acceptors: usize,
    /// Most connection threads at once; further connections are refused and counted
    /// (thread-per-connection).
    #[arg(long, default_value_t = DEFAULT_MAX_THREADS)]
    max_threads: usize,
    /// How acceptors pick a worker: round-robin or least-connections.
    #[arg(long, value_enum, default_value_t = Balance::default())]
    balance: Balance,
    /// listen() backlog (capped by the kernel at net.core.somaxconn).
    #[arg(long, default_value_t = DEFAULT_BACKLOG)]
    backlog: i32,
    /// SO_RCVBUF for every connection, e.g. 256k [default: kernel's autotuning].
    #[arg(long)]
    rcvbuf: Option<ByteCount>,
    /// SO_SNDBUF for every connection, e.g. 256k [default: kernel's autotuning].
    #[arg(long)]
    sndbuf: Option<ByteCount>,
    /// Share the port with other processes already listening on it (SO_REUSEPORT), on
    /// purpose; without it the server refuses to start on a port in use.
    #[arg(long)]
    reuse_port: bool,
    /// Run N server processes sharing the port (SO_REUSEPORT), each with its own descriptor
    /// limit, supervised: one that dies is started again and counted (`restarts`).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Largest nines frame accepted (header + payload); larger ones close the connection.
    #[arg(long, default_value_t = ByteCount(nines_protocol::DEFAULT_MAX_FRAME_BYTES))]
    max_frame: ByteCount,
    /// Cap on the CPU microseconds one Work request may ask for.
    #[arg(long, default_value_t = DEFAULT_WORK_CAP_US)]
    work_cap_us: u32,
    /// Unsent reply bytes per connection above which reading from it pauses (backpressure).
    #[arg(long, default_value_t = ByteCount(DEFAULT_WRITE_HIGH_WATER))]
    write_high_water: ByteCount,
    /// Unsent reply bytes the whole server may hold; past it, clients that do not read their
    /// replies are held back (and closed by --send-timeout), those that read go on.
    #[arg(long, default_value_t = ByteCount(DEFAULT_MAX_BUFFERED))]
    max_buffered: ByteCount,
    /// Close a connection whose request (or TLS record), once begun, is not complete within
    /// this (stops a slowloris), or whose TLS handshake is not done within this of the accept;
    /// 0 never.
    #[arg(long, default_value_t = HumanDuration(DEFAULT_READ_TIMEOUT))]
    read_timeout: HumanDuration,
    /// Close a connection with no request for this long; 0 never.
    #[arg(long, default_value_t = HumanDuration(DEFAULT_IDLE_TIMEOUT))]
    idle_timeout: HumanDuration,
    /// Close a connection whose replies make no progress toward the client for this long; 0
    /// never.
    #[arg(long, default_value_t = HumanDuration(DEFAULT_SEND_TIMEOUT))]
    send_timeout: HumanDuration,
    /// Most connections at once; at the limit the longest-idle connection (idle 1 s or more) is
    /// closed to make room, else the new one [default: what `ulimit -n` leaves room for].
    #[arg(long)]
    max_connections: Option<usize>,
    /// Serve TLS (1.2 and 1.3) on every connection, whatever the protocol, with this
    /// certificate chain (PEM; leaf first); needs --tls-key. ALPN http/1.1 for http and ws;
    /// session resumption by id and by ticket (keys shared by the --processes, rotated every
    /// 6 h). A handshake not finished within --read-timeout is closed like a slowloris.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

mod supervisor;

fn main() -> ExitCode {
    nines_common::usage::init_logging("info");
    supervisor::follow_supervisor();
    let cli: Cli = parse_or_exit();
    let (mut config, opts) = settings(&cli);
    // Read before anything listens (and before the supervisor starts its children), so a bad
    // file is one line at start.
    let mut tickets = None;
    match tls(&cli) {
        Ok(Some((tls, seed))) => {
            config.tls = Some(tls);
            tickets = Some(seed);
        }
        Ok(None) => {}
        Err(e) => exit_with(&[e]),
    }
    let errors: Vec<_> = config
        .validate()
        .into_iter()
        .chain(opts.validate())
        .collect();
    if !errors.is_empty() {
        exit_with(&errors);
    }
    if !(1..=256).contains(&cli.processes) {
        exit_with(&[nines_common::usage::UsageError::range(
            "--processes",
            cli.processes,
            1,
            256,
            "",
        )]);
    }
    if cli.processes > 1 {
        // Its own TLS configuration only checked the files: its ticketer, never used and so
        // never rolled on, would keep the start's seed for the supervisor's life.
        drop(config);
        return supervisor::supervise(cli.processes, cli.bind, cli.port, tickets);
    }
    // The ticketer has its own copy and rolls it on; one kept here would keep this period's
    // keys recoverable for the server's life.
    drop(tickets);
    match run(&cli, &config, &opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nines-server: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The server and listener settings the flags describe (validated by the caller).
fn settings(cli: &Cli) -> (ServerConfig, ListenOptions) {
    let config = ServerConfig {
        protocol: cli.protocol,
        model: cli.model.unwrap_or_default(),
        max_threads: cli.max_threads,
        workers: cli.workers.unwrap_or_else(sys::available_cpus),
        acceptors: cli.acceptors,
        balance: cli.balance,
        max_frame_bytes: cli.max_frame.0,
        work_cap_us: cli.work_cap_us,
        write_high_water: cli.write_high_water.0,
        idle_timeout: nonzero(cli.idle_timeout),
        read_timeout: nonzero(cli.read_timeout),
        send_timeout: nonzero(cli.send_timeout),
        max_connections: cli.max_connections,
        max_buffered: cli.max_buffered.0,
        tls: None,
    };
    let opts = ListenOptions {
        backlog: cli.backlog,
        recv_buffer_bytes: cli.rcvbuf.map(|b| b.0),
        send_buffer_bytes: cli.sndbuf.map(|b| b.0),
        reuse_port: cli.reuse_port,
    };
    (config, opts)
}

fn run(cli: &Cli, config: &ServerConfig, opts: &ListenOptions) -> anyhow::Result<()> {
    use anyhow::Context;
    match sys::raise_nofile() {
        Ok(l) => eprintln!("nines-server: {l}"),
        Err(e) => eprintln!("nines-server: warning: could not read or raise RLIMIT_NOFILE: {e}"),
    }
    if let Some(w) = backlog_warning(cli.backlog) {
        tracing::warn!("{w}");
    }
    if let (Some(asked), Ok(l)) = (config.max_connections, sys::nofile()) {
        let room = limits::descriptor_room(config, l.soft);
        if asked > room {
            tracing::warn!(
                "--max-connections {asked} is more than the descriptor limit leaves room for ({room}, ulimit -n {}): past that, accept() fails with EMFILE and the server backs off",
                l.soft
            );
        }
    }
    // Register the signal handlers before any thread exists, so none of them takes the signal.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing signal handlers")?;
    let addr = SocketAddr::new(cli.bind, cli.port);
    let server = Server::bind(addr, config.clone(), opts)
        .with_context(|| format!("cannot listen on {addr}"))?;
    eprintln!(
        "nines-server: {} model | protocol {}{} | {} | backlog {} | max frame {} B | max {} connections, {} buffered",
        config.model,
        config.protocol,
        if config.tls.is_some() { " over TLS" } else { "" },
        layout(config),
        cli.backlog,
        config.max_frame_bytes,
        server.max_connections(),
        ByteCount(config.max_buffered),
    );
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "nines-server listening on {}", server.local_addr())?;
        out.flush()?;
    }
    let sig = signals.forever().next();
    eprintln!(
        "nines-server: signal {} received; draining",
        sig.unwrap_or(SIGTERM)
    );
    let stats = server.shutdown();
    println!("nines-server stopped: {stats}");
    Ok(())
}

/// The TLS configuration --tls-cert and --tls-key ask for, and the seed of its ticket keys
/// (the supervisor's, in a supervised process): none without them, an error naming the flag
/// with one of them alone or a file that will not do.
fn tls(cli: &Cli) -> Result<Option<(Arc<rustls::ServerConfig>, TicketSeed)>, UsageError> {
    match (&cli.tls_cert, &cli.tls_key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(UsageError::new(
            "--tls-key",
            "missing: --tls-cert needs the certificate's private key (--tls-key FILE)",
        )),
        (None, Some(_)) => Err(UsageError::new(
            "--tls-cert",
            "missing: --tls-key needs the certificate it belongs to (--tls-cert FILE)",
        )),
        (Some(cert), Some(key)) => {
            let seed = match supervisor::ticket_seed() {
                Ok(seed) => seed,
                Err(e) => {
                    eprintln!("nines-server: error: {e}");
                    std::process::exit(1);
                }
            };
            let keep = seed.clone();
            nines_server::tls::load(cert, key, cli.protocol, seed)
                .map(|config| Some((config, keep)))
                .map_err(|e| UsageError::new(e.flag(), e.to_string()))
        }
    }
}

/// A timeout flag: 0 means never.
fn nonzero(d: HumanDuration) -> Option<std::time::Duration> {
    (!d.0.is_zero()).then_some(d.0)
}

/// The thread layout in words, for the start-up line.
fn layout(config: &ServerConfig) -> String {
    match config.model {
        Model::ThreadPerConnection => format!(
            "1 acceptor, a thread per connection (at most {})",
            config.max_threads
        ),
        Model::Pooled if config.acceptors == 0 => {
            format!("{} worker(s) accepting for themselves", config.workers)
        }
        Model::Pooled => format!(
            "{} acceptor(s) -> {} worker(s), balance {}",
            config.acceptors, config.workers, config.balance
        ),
    }
}
