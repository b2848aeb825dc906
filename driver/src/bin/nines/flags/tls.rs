//! TLS: how a TLS target's certificate is checked, a client certificate, the name sent, the
//! version, and whether sessions are resumed. A TLS target is an `https://`, `wss://` or
//! `rediss://` URL, or `host:port` with `--tls`; these flags refuse a plain-text target.

use std::path::PathBuf;

use clap::Args;
use nines_common::usage::UsageError;
use nines_driver::config::{ClientCert, TlsOptions, TlsVersion, Verify};
use nines_driver::target::url;

use super::refuse_given;

/// TLS settings.
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "TLS")]
pub struct TlsFlags {
    /// Speak TLS to a host:port target (nines or --protocol echo); URLs say it with https://,
    /// wss://, rediss://.
    #[arg(long)]
    pub tls: bool,
    /// Also trust this CA certificate (PEM) when verifying the server, besides the system's
    /// roots; repeat for more.
    #[arg(long, value_name = "FILE")]
    pub cacert: Vec<PathBuf>,
    /// Do not verify the server's certificate (any certificate is taken); the summary, the
    /// report and its manifest say so.
    #[arg(long)]
    pub insecure: bool,
    /// Client certificate chain (PEM), for servers that ask for one; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM); needs --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Server name to send (SNI) and verify the certificate against [default: the target's
    /// host].
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// Only this TLS version [default: 1.2 and 1.3, as the server chooses].
    #[arg(long, value_name = "VERSION")]
    pub tls_version: Option<TlsVersion>,
    /// Never resume a session: every connection makes a full handshake (certificate and key
    /// exchange), the cost of new clients rather than returning ones.
    #[arg(long)]
    pub no_tls_resume: bool,
}

impl TlsFlags {
    fn given(&self) -> [(&'static str, bool); 7] {
        [
            ("--cacert", !self.cacert.is_empty()),
            ("--insecure", self.insecure),
            ("--cert", self.cert.is_some()),
            ("--key", self.key.is_some()),
            ("--sni", self.sni.is_some()),
            ("--tls-version", self.tls_version.is_some()),
            ("--no-tls-resume", self.no_tls_resume),
        ]
    }

    /// The TLS settings for `target` (`None`: the embedded server), or none for plain text.
    pub fn options(&self, target: Option<&str>) -> Result<Option<TlsOptions>, Vec<UsageError>> {
        let parsed = target.and_then(|t| url::parse(t).ok());
        let scheme_tls = parsed.as_ref().is_some_and(|u| u.tls);
        let plain_url = parsed
            .as_ref()
            .is_some_and(|u| u.protocol.is_some() && !u.tls);
        if self.tls && plain_url {
            return Err(vec![UsageError::new(
                "--tls",
                "the target's URL is plain text: write https://, wss:// or rediss:// instead",
            )]);
        }
        if self.tls && target.is_none() {
            return Err(vec![UsageError::new(
                "--tls",
                "the embedded server speaks plain TCP: give a TARGET that speaks TLS (nines-server --tls-cert FILE --tls-key FILE)",
            )]);
        }
        if !(self.tls || scheme_tls) {
            let refused = refuse_given(
                &self.given(),
                "applies to TLS targets (https://, wss://, rediss://, or host:port with --tls); this target is plain text",
            );
            return if refused.is_empty() {
                Ok(None)
            } else {
                Err(refused)
            };
        }
        if self.insecure && !self.cacert.is_empty() {
            return Err(vec![UsageError::new(
                "--insecure",
                "turns verification off, so --cacert would not be used: give one or the other",
            )]);
        }
        Ok(Some(TlsOptions {
            verify: if self.insecure {
                Verify::Insecure
            } else {
                Verify::Roots {
                    cacert: self.cacert.clone(),
                }
            },
            sni: self.sni.clone(),
            client_cert: match (&self.cert, &self.key) {
                (Some(cert), Some(key)) => Some(ClientCert {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
            version: self.tls_version,
            resume: !self.no_tls_resume,
        }))
    }
}
