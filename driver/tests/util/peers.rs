//! Real servers nines did not write, started on free loopback ports and stopped at the end:
//! nginx (a throwaway config), redis-server (no persistence) and a python3-websockets echo
//! server. scripts/test.sh installs them; a missing one fails its test with what to install.
//! Their TLS twins (tls_peers.rs) start the same programs through the helpers here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (bound and released: the peer binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Fails with what to install when `program` is missing.
pub fn need(program: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!("{program} not found: install {package} (scripts/test.sh does, with apt-get)");
}

/// Waits until something accepts connections on `addr`.
pub fn wait_listening(addr: SocketAddr, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    // A connect to a loopback port in the ephemeral range with nothing listening can connect
    // the socket to itself (TCP simultaneous open): that is not the peer listening.
    let listening = || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(100))
            .is_ok_and(|s| s.local_addr().ok() != Some(addr))
    };
    while !listening() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start ({status})");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` and waits (bounded) for the process to exit.
pub fn stop(child: &mut Child, sig: i32) {
    // SAFETY: kill(2) on a pid we spawned and have not reaped; no memory is involved.
    unsafe { libc::kill(child.id() as i32, sig) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// nginx with one worker: `/` answers 200, `/missing` 404, access log in its directory.
pub struct Nginx {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
}

impl Nginx {
    pub fn start(dir: &Path) -> Nginx {
        let port = free_port();
        Nginx::start_with(
            dir,
            port,
            &format!(
                "listen 127.0.0.1:{port};\n    location / {{ return 200 \"hello\\n\"; }}\n    \
                 location /missing {{ return 404; }}"
            ),
        )
    }

    /// nginx with one worker whose one `server {}` block holds `server` (which must listen on
    /// 127.0.0.1:`port`); temp paths, logs and pid file all under `dir`.
    pub fn start_with(dir: &Path, port: u16, server: &str) -> Nginx {
        Nginx::launch(dir, port, None, server)
    }

    /// Like [`Nginx::start_with`], each access-log line written in `format` (nginx's
    /// `log_format` variables, e.g. `$request_uri $status $request_length`; no single
    /// quotes); [`Nginx::stop_and_log`] reads the lines back.
    pub fn start_logging(dir: &Path, port: u16, format: &str, server: &str) -> Nginx {
        Nginx::launch(dir, port, Some(format), server)
    }

    fn launch(dir: &Path, port: u16, format: Option<&str>, server: &str) -> Nginx {
        let bin = need("nginx", "nginx-light");
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let (log_format, format_name) = match format {
            Some(f) => (format!("log_format custom '{f}';\n  "), " custom"),
            None => (String::new(), ""),
        };
        let conf = format!(
            "worker_processes 1;\ndaemon off;\nerror_log {d}/logs/error.log;\npid {d}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  {log_format}access_log {d}/logs/access.log{format_name};\n  \
             client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
             scgi_temp_path {d}/scgi;\n  server {{\n    {server}\n  }}\n}}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_listening(addr, &mut child, "nginx");
        Nginx {
            child,
            dir: dir.to_path_buf(),
            addr,
        }
    }

    /// Stops nginx (gracefully, so the access log is complete); its access log's lines.
    pub fn stop_and_log(mut self) -> Vec<String> {
        stop(&mut self.child, libc::SIGQUIT);
        let log = std::fs::read_to_string(self.dir.join("logs/access.log")).unwrap_or_default();
        log.lines().map(str::to_string).collect()
    }

    /// Stops nginx (gracefully, so the access log is complete) and counts its lines by status.
    pub fn stop_and_count(self) -> std::collections::BTreeMap<String, u64> {
        let mut by_status = std::collections::BTreeMap::new();
        for line in self.stop_and_log() {
            // `... "GET / HTTP/1.1" 200 6 "-" "-"`: the status follows the quoted request.
            let status = line
                .split('"')
                .nth(2)
                .and_then(|s| s.split_whitespace().next());
            *by_status
                .entry(status.unwrap_or("?").to_string())
                .or_default() += 1;
        }
        by_status
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop(&mut self.child, libc::SIGTERM);
    }
}

/// redis-server without persistence on 127.0.0.1, `args` saying on which `port` it listens
/// (and how); returns once it accepts connections there.
pub fn spawn_redis(port: u16, args: &[&str]) -> Child {
    let bin = need("redis-server", "redis-server");
    let mut child = Command::new(bin)
        .args(args)
        .args(["--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    wait_listening(
        SocketAddr::from(([127, 0, 0, 1], port)),
        &mut child,
        "redis-server",
    );
    child
}

/// redis-server without persistence.
pub struct Redis {
    child: Child,
    pub addr: SocketAddr,
}

impl Redis {
    pub fn start() -> Redis {
        let port = free_port();
        let child = spawn_redis(port, &["--port", &port.to_string()]);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Redis { child, addr }
    }

    /// Sends one command (RESP) and returns the raw reply.
    pub fn command(&self, args: &[&str]) -> String {
        let mut s = TcpStream::connect(self.addr).unwrap();
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// `INFO stats`' total_commands_processed (the INFO itself included).
    pub fn commands_processed(&self) -> u64 {
        commands_processed(&self.command(&["INFO", "stats"]))
    }
}

/// total_commands_processed in what `INFO stats` answered.
pub fn commands_processed(info: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO has no total_commands_processed: {info}"))
}

impl Drop for Redis {
    fn drop(&mut self) {
        stop(&mut self.child, libc::SIGTERM);
    }
}

/// Debian's python3 (it sees python3-websockets; another python on PATH may not).
pub fn python() -> PathBuf {
    let p = PathBuf::from("/usr/bin/python3");
    let ok = Command::new(&p)
        .args(["-c", "import websockets"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "/usr/bin/python3 cannot import websockets: install python3-websockets (scripts/test.sh does)"
    );
    p
}

/// A script under driver/tests/peers/ (from the driver's tests, or the server's, which start
/// these peers too: both crates sit side by side in the workspace).
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../driver/tests/peers")
        .join(name)
}

/// The python3-websockets echo server (driver/tests/peers/ws_echo.py).
pub struct WsEcho {
    child: Child,
    pub addr: SocketAddr,
}

impl WsEcho {
    pub fn start() -> WsEcho {
        WsEcho::spawn(&[])
    }

    /// Runs ws_echo.py with `args` after the script (`0 CERT KEY` for wss://).
    pub fn spawn(args: &[&std::ffi::OsStr]) -> WsEcho {
        let mut child = Command::new(python())
            .arg(script("ws_echo.py"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ws_echo.py");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("ws_echo.py said {line:?}"));
        WsEcho {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// Stops it; the messages it echoed, by its own count.
    pub fn stop_and_count(mut self) -> u64 {
        stop(&mut self.child, libc::SIGTERM);
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out.lines()
            .find_map(|l| l.strip_prefix("messages "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("ws_echo.py said {out:?}"))
    }
}

impl Drop for WsEcho {
    fn drop(&mut self) {
        stop(&mut self.child, libc::SIGKILL);
    }
}

/// driver/tests/peers/leaky_echo.py in `mode` (`memory`: 16 bytes kept per byte echoed;
/// `fds`: a descriptor kept per read), and its port.
pub fn leaky_echo(mode: &str) -> (Child, u16) {
    let mut child = Command::new(python())
        .arg(script("leaky_echo.py"))
        .arg(mode)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start leaky_echo.py");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout piped"))
        .read_line(&mut line)
        .expect("read leaky_echo.py's port");
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("leaky_echo.py said {line:?}"));
    (child, port)
}
