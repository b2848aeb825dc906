//! `nines-server`: parse flags, bind, serve until SIGINT/SIGTERM, print the counters.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use nines_server::config::{
    parse_bytes, Model, DEFAULT_BACKLOG, DEFAULT_MAX_THREADS, DEFAULT_PORT, DEFAULT_WORK_CAP_US,
    DEFAULT_WRITE_HIGH_WATER,
};
use nines_server::listener::{backlog_warning, ListenOptions};
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
    /// nines frames, or plain byte echo (what any echo client expects).
    #[arg(long, default_value = "nines", value_parser = |s: &str| s.parse::<Protocol>())]
    protocol: Protocol,
    /// Server model: pooled (acceptors + worker pool) or thread-per-connection, as built in
    /// (cargo features `pooled`, `thread-per-connection`) [default: pooled if built in].
    #[arg(long, value_parser = |s: &str| s.parse::<Model>())]
    model: Option<Model>,
    /// Worker threads, each with its own event loop [default: CPUs available] (pooled).
    #[arg(long)]
    workers: Option<usize>,
    /// Acceptor threads, each with its own SO_REUSEPORT listener; 0 makes every worker own a
    /// listener and accept for itself (pooled).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=1024))]
    acceptors: u64,
    /// Most connection threads at once; further connections are refused and counted
    /// (thread-per-connection).
    #[arg(long, default_value_t = DEFAULT_MAX_THREADS)]
    max_threads: usize,
    /// How acceptors pick a worker: round-robin or least-connections.
    #[arg(long, default_value = "round-robin", value_parser = |s: &str| s.parse::<Balance>())]
    balance: Balance,
    /// listen() backlog (capped by the kernel at net.core.somaxconn).
    #[arg(long, default_value_t = DEFAULT_BACKLOG, value_parser = clap::value_parser!(i32).range(1..))]
    backlog: i32,
    /// SO_RCVBUF for every connection, e.g. 256k [default: kernel's autotuning].
    #[arg(long, value_parser = parse_bytes)]
    rcvbuf: Option<usize>,
    /// SO_SNDBUF for every connection, e.g. 256k [default: kernel's autotuning].
    #[arg(long, value_parser = parse_bytes)]
    sndbuf: Option<usize>,
    /// Largest nines frame accepted (header + payload); larger ones close the connection.
    #[arg(long, default_value = "1m", value_parser = parse_bytes)]
    max_frame: usize,
    /// Cap on the CPU microseconds one Work request may ask for.
    #[arg(long, default_value_t = DEFAULT_WORK_CAP_US)]
    work_cap_us: u32,
    /// Unsent reply bytes per connection above which reading from it pauses (backpressure).
    #[arg(long, default_value_t = DEFAULT_WRITE_HIGH_WATER, value_parser = parse_bytes)]
    write_high_water: usize,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nines-server: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    use anyhow::Context;
    if cli.workers == Some(0) {
        anyhow::bail!("--workers must be at least 1");
    }
    match limits::raise_nofile() {
        Ok(l) => eprintln!("nines-server: {l}"),
        Err(e) => eprintln!("nines-server: warning: could not read or raise RLIMIT_NOFILE: {e}"),
    }
    if let Some(w) = backlog_warning(cli.backlog) {
        tracing::warn!("{w}");
    }
    let config = ServerConfig {
        protocol: cli.protocol,
        model: cli.model.unwrap_or_default(),
        max_threads: cli.max_threads.max(1),
        workers: cli
            .workers
            .unwrap_or_else(nines_server::config::available_cpus),
        acceptors: cli.acceptors as usize,
        balance: cli.balance,
        max_frame_bytes: cli.max_frame.max(nines_protocol::HEADER_LEN),
        work_cap_us: cli.work_cap_us,
        write_high_water: cli.write_high_water,
    };
    let opts = ListenOptions {
        backlog: cli.backlog,
        recv_buffer_bytes: cli.rcvbuf,
        send_buffer_bytes: cli.sndbuf,
    };
    // Register the signal handlers before any thread exists, so none of them takes the signal.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing signal handlers")?;
    let addr = SocketAddr::new(cli.bind, cli.port);
    let server = Server::bind(addr, config.clone(), &opts)
        .with_context(|| format!("cannot listen on {addr}"))?;
    let layout = match config.model {
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
    };
    eprintln!(
        "nines-server: {} model | protocol {} | {layout} | backlog {} | max frame {} B",
        config.model, config.protocol, cli.backlog, config.max_frame_bytes
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
