//! The server's TLS configuration: its certificate and key read once at start, and the choices
//! every TLS connection shares (versions, ALPN, session resumption).
//!
//! Reading is done before the server listens, so a missing, unreadable or garbled file, or a
//! key that is not the certificate's, is one error naming the file, never a failed handshake
//! later. The connections' own TLS (records in and out, the handshake) is `transport`'s; the
//! session-ticket keys, shared by every process of one server, are [`tickets`]'.

pub mod tickets;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerSessionMemoryCache;

use crate::config::Protocol;
use tickets::{SharedTicketer, TicketSeed};

/// Sessions the server remembers for resumption by id (TLS 1.2 clients without tickets). An
/// entry is a few hundred bytes, so a full cache is a few MiB: room for a storm's worth of
/// clients, bounded however many come (the oldest are forgotten first).
pub const SESSION_CACHE_ENTRIES: usize = 16 * 1024;

/// Why the TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read or holds no certificate.
    #[error("{path}: {what}")]
    Cert {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        what: String,
    },
    /// The key file could not be read or holds no private key.
    #[error("{path}: {what}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        what: String,
    },
    /// The key is not the certificate's.
    #[error("{key} is not the private key of the certificate in {cert}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the certificate, the key or a setting.
    #[error("{0}")]
    Rustls(rustls::Error),
}

impl TlsError {
    /// The flag whose file it is about.
    pub fn flag(&self) -> &'static str {
        match self {
            TlsError::Cert { .. } => "--tls-cert",
            TlsError::Key { .. } | TlsError::Mismatch { .. } | TlsError::Rustls(_) => "--tls-key",
        }
    }
}

/// Reads a certificate chain and its key (PEM) and makes the configuration every TLS
/// connection of a server serving `protocol` shares, its session tickets sealed by keys from
/// `tickets` (the same seed in every process of a server).
///
/// # Errors
/// If a file is missing, unreadable or holds no certificate (no key), or the key does not
/// match the certificate.
pub fn load(
    cert: &Path,
    key: &Path,
    protocol: Protocol,
    tickets: TicketSeed,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_error = |what| TlsError::Cert {
        path: cert.to_path_buf(),
        what,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|items| items.collect::<Result<Vec<_>, _>>())
        .map_err(|e| cert_error(pem_problem(e, "certificate")))?;
    if chain.is_empty() {
        return Err(cert_error("no PEM certificate in it".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        what: pem_problem(e, "private key"),
    })?;
    let pair_error = |error| match error {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        },
        other => TlsError::Rustls(other),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // TLS 1.3 first, 1.2 still accepted: load drivers and older clients speak it.
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(pair_error)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(pair_error)?;
    // Resumption, both ways a client may ask: a stateful cache for session ids (TLS 1.2
    // clients that send no ticket; per process), and stateless tickets (TLS 1.2 tickets, and
    // TLS 1.3 PSKs) sealed by a rotating key, which need no server memory per client and resume
    // on any worker of any process. rustls sends two TLS 1.3 tickets per handshake (its
    // default), so a client can open two resumed connections at once.
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
    config.ticketer = Arc::new(SharedTicketer::new(tickets).map_err(TlsError::Rustls)?);
    // HTTP and WebSocket (an HTTP/1.1 upgrade) say so by ALPN; a client that offers no ALPN is
    // served all the same. nines frames and raw echo have no registered ALPN name.
    if matches!(protocol, Protocol::Http | Protocol::Ws) {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Ok(Arc::new(config))
}

/// A PEM reading error in words.
fn pem_problem(e: rustls::pki_types::pem::Error, kind: &str) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => format!("no PEM {kind} in it"),
        other => format!("not a readable PEM {kind} ({other:?})"),
    }
}
