//! TLS settings of a run, as the user gave them (`https://`, `wss://`, `rediss://`, or `--tls`
//! with `host:port`): plain data, saved in every manifest, so a report says how its handshakes
//! were made — and that verification was off, when it was.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How a run speaks TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsOptions {
    /// How the server's certificate is checked.
    pub verify: Verify,
    /// The name sent (SNI) and verified (`--sni`); the target's host when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// A client certificate (`--cert`, `--key`), for servers that ask for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<ClientCert>,
    /// Only this version (`--tls-version`); both 1.2 and 1.3 when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<TlsVersion>,
    /// Whether a new connection resumes an earlier one's session (`--no-tls-resume`: never,
    /// so every handshake is a full one).
    pub resume: bool,
}

impl Default for TlsOptions {
    /// Verified against the system's roots, sessions resumed, both versions.
    fn default() -> Self {
        TlsOptions {
            verify: Verify::Roots { cacert: Vec::new() },
            sni: None,
            client_cert: None,
            version: None,
            resume: true,
        }
    }
}

impl TlsOptions {
    /// Whether certificates go unchecked (`--insecure`).
    pub fn insecure(&self) -> bool {
        self.verify == Verify::Insecure
    }
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verify {
    /// Against the system's CA roots and these CA files (`--cacert`).
    Roots {
        /// Extra CA certificates (PEM).
        cacert: Vec<PathBuf>,
    },
    /// Not at all (`--insecure`): any certificate is taken. Signatures are still checked, so
    /// the handshake costs what a verified one costs, less the chain.
    Insecure,
}

/// A client certificate chain and its private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCert {
    /// The certificate chain (`--cert`).
    pub cert: PathBuf,
    /// Its private key (`--key`).
    pub key: PathBuf,
}

/// A TLS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum TlsVersion {
    /// TLS 1.2.
    #[value(name = "1.2")]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3.
    #[value(name = "1.3")]
    #[serde(rename = "1.3")]
    Tls13,
}

nines_common::value_enum_display!(TlsVersion);
