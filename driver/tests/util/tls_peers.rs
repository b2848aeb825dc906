//! The real peers of peers.rs speaking TLS with the test certificates (certs.rs): nginx with
//! `ssl` (session cache and tickets on, so resumption works), redis-server on `--tls-port`
//! only, and the python3-websockets echo over wss://. Each can serve any certificate of the set
//! (the expired or wrong-name one for verification failures), ask for client certificates
//! (mutual TLS) and, for nginx and Redis, hold to some TLS versions.
//!
//! Three TLS stacks nines did not write (OpenSSL under nginx, Redis' own OpenSSL binding, and
//! Python's ssl) so a handshake that works against all of them is not one rustls agrees with
//! itself about. Tests elsewhere include this file beside peers.rs and certs.rs (`#[path]`), as
//! siblings: it reaches them as `super::peers` and `super::certs`.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::certs::{Certs, Pem};
use super::peers::{commands_processed, free_port, need, spawn_redis, stop, Nginx, WsEcho};

/// What `/` of the TLS nginx answers (a fixed body from its config).
pub const NGINX_BODY: &str = "hello\n";
/// A small static file the TLS nginx serves from disk, and its content.
pub const NGINX_STATIC_PATH: &str = "/static/hello.txt";
pub const NGINX_STATIC_BODY: &str = "static hello over tls\n";

/// How a TLS peer serves: the certificate it presents, the CA behind the set, and options.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The set's CA: clients verify `cert` with it; client certificates must be signed by it.
    pub ca: PathBuf,
    /// Refuse clients without a certificate signed by `ca` (mutual TLS).
    pub client_auth: bool,
    /// The TLS versions allowed, as OpenSSL names them: "TLSv1.2", "TLSv1.3" or both
    /// space-separated; `None` allows 1.2 and 1.3 (Redis' default; nginx 1.22's own default
    /// lacks 1.3, so its peer is told).
    pub protocols: Option<String>,
}

impl ServerTls {
    /// The valid server certificate (localhost, 127.0.0.1, ::1), no client certificates asked.
    pub fn new(certs: &Certs) -> ServerTls {
        ServerTls {
            cert: certs.server.cert.clone(),
            key: certs.server.key.clone(),
            ca: certs.ca.clone(),
            client_auth: false,
            protocols: None,
        }
    }

    /// Presents `pem` instead (e.g. `certs.expired`, `certs.wrong_name`, `certs.self_signed`).
    pub fn presenting(mut self, pem: &Pem) -> ServerTls {
        self.cert = pem.cert.clone();
        self.key = pem.key.clone();
        self
    }

    /// Requires a client certificate signed by the CA.
    pub fn client_auth(mut self) -> ServerTls {
        self.client_auth = true;
        self
    }

    /// Allows only `versions` ("TLSv1.2", "TLSv1.3", or both space-separated).
    pub fn protocols(mut self, versions: &str) -> ServerTls {
        self.protocols = Some(versions.to_string());
        self
    }
}

/// nginx with `ssl` on a free port, one worker, files under `dir`: HTTP/1.1 keep-alive (nginx's
/// default 1,000 requests a connection, as the plain peer), `/` answers 200 [`NGINX_BODY`],
/// [`NGINX_STATIC_PATH`] is a file on disk, anything else 404. A shared session cache and
/// session tickets make resumption work; a client refused for want of a certificate (mutual
/// TLS) gets nginx's 400. `stop_and_count()` counts the access log by status as for plain HTTP.
pub fn nginx_tls(dir: &Path, tls: &ServerTls) -> Nginx {
    let html = dir.join("html");
    std::fs::create_dir_all(html.join("static")).unwrap();
    std::fs::write(html.join(&NGINX_STATIC_PATH[1..]), NGINX_STATIC_BODY).unwrap();
    let port = free_port();
    let mut server = format!(
        "listen 127.0.0.1:{port} ssl;\n    \
         ssl_certificate {cert};\n    ssl_certificate_key {key};\n    \
         ssl_session_cache shared:SSL:10m;\n    ssl_session_tickets on;\n    \
         location = / {{ return 200 \"{body}\"; }}\n    \
         location /static/ {{ root {html}; }}\n    location / {{ return 404; }}\n",
        cert = tls.cert.display(),
        key = tls.key.display(),
        body = NGINX_BODY.escape_default(),
        html = html.display(),
    );
    if tls.client_auth {
        server.push_str(&format!(
            "    ssl_verify_client on;\n    ssl_client_certificate {};\n",
            tls.ca.display()
        ));
    }
    let versions = tls.protocols.as_deref().unwrap_or("TLSv1.2 TLSv1.3");
    server.push_str(&format!("    ssl_protocols {versions};\n"));
    Nginx::start_with(dir, port, &server)
}

/// redis-server listening on TLS only (`--port 0 --tls-port PORT`).
pub struct RedisTls {
    child: Child,
    pub addr: SocketAddr,
    /// The CA redis-cli verifies the server with.
    pub ca: PathBuf,
}

impl RedisTls {
    pub fn start(tls: &ServerTls) -> RedisTls {
        let port = free_port();
        let port_arg = port.to_string();
        let mut args = vec!["--port", "0", "--tls-port", &port_arg];
        let files = [
            ("--tls-cert-file", &tls.cert),
            ("--tls-key-file", &tls.key),
            ("--tls-ca-cert-file", &tls.ca),
        ];
        for (flag, path) in &files {
            args.extend([*flag, path.to_str().expect("UTF-8 temp path")]);
        }
        args.extend([
            "--tls-auth-clients",
            if tls.client_auth { "yes" } else { "no" },
        ]);
        if let Some(versions) = &tls.protocols {
            args.extend(["--tls-protocols", versions]);
        }
        RedisTls {
            child: spawn_redis(port, &args),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            ca: tls.ca.clone(),
        }
    }

    /// Runs `redis-cli --tls` (verifying with the CA, presenting `client` when given) with
    /// `args`; its output, whatever it exits with.
    pub fn cli(&self, client: Option<&Pem>, args: &[&str]) -> Output {
        let bin = need("redis-cli", "redis-tools");
        let mut cmd = Command::new(bin);
        cmd.args([
            "--tls",
            "-h",
            "127.0.0.1",
            "-p",
            &self.addr.port().to_string(),
        ])
        .arg("--cacert")
        .arg(&self.ca);
        if let Some(pem) = client {
            cmd.arg("--cert").arg(&pem.cert).arg("--key").arg(&pem.key);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli")
    }

    /// `INFO stats`' total_commands_processed (the INFO itself not yet counted).
    pub fn commands_processed(&self, client: Option<&Pem>) -> u64 {
        let out = self.cli(client, &["INFO", "stats"]);
        commands_processed(&String::from_utf8_lossy(&out.stdout))
    }
}

impl Drop for RedisTls {
    fn drop(&mut self) {
        stop(&mut self.child, libc::SIGTERM);
    }
}

/// The python3-websockets echo server (driver/tests/peers/ws_echo.py) over wss:// with
/// `tls`'s certificate; `addr` and `stop_and_count()` as for ws://. Python's ssl module takes
/// no client certificate or version options here: `client_auth` and `protocols` must be unset.
pub fn wss_echo(tls: &ServerTls) -> WsEcho {
    assert!(
        !tls.client_auth && tls.protocols.is_none(),
        "ws_echo.py serves a certificate only"
    );
    WsEcho::spawn(&[OsStr::new("0"), tls.cert.as_os_str(), tls.key.as_os_str()])
}
