//! A run's TLS client settings, built once before any connection (a CA file that does not
//! parse, or a key that does not match its certificate, is one line naming the flag) and shared
//! by every connection of every thread — the session cache with it, so a reconnect resumes.
//!
//! rustls on aws-lc-rs: its AES-GCM, ChaCha20 and P-256/X25519 code is the fastest rustls can
//! use, and it builds from C with `cc` alone (no cmake, no OpenSSL to link).

use std::path::Path;
use std::sync::Arc;

use nines_common::usage::UsageError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{ClientCert, TlsOptions, TlsVersion, Verify};

/// Sessions kept for resumption: one per server name (a run has one), each holding the few
/// TLS 1.3 tickets rustls keeps per server.
const SESSIONS: usize = 64;

/// The TLS client every connection of a run shares.
#[derive(Debug, Clone)]
pub struct TlsClient {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
}

impl TlsClient {
    /// Builds the client for `host` (the target's host, unless `--sni` names another),
    /// offering `alpn` (`http/1.1` for https and wss).
    pub fn new(
        opts: &TlsOptions,
        host: &str,
        alpn: Option<&[u8]>,
    ) -> Result<TlsClient, UsageError> {
        let provider = Arc::new(provider());
        let versions: &[&rustls::SupportedProtocolVersion] = match opts.version {
            None => rustls::DEFAULT_VERSIONS,
            Some(TlsVersion::Tls12) => &[&rustls::version::TLS12],
            Some(TlsVersion::Tls13) => &[&rustls::version::TLS13],
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| UsageError::new("--tls-version", e.to_string()))?;
        let builder = match &opts.verify {
            Verify::Roots { cacert } => builder.with_root_certificates(roots(cacert)?),
            Verify::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider))),
        };
        let mut config = match &opts.client_cert {
            None => builder.with_no_client_auth(),
            Some(c) => {
                let (chain, key) = client_cert(c)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    UsageError::new(
                        "--key",
                        format!("{} does not go with --cert: {e}", c.key.display()),
                    )
                })?
            }
        };
        config.resumption = if opts.resume {
            Resumption::in_memory_sessions(SESSIONS)
        } else {
            Resumption::disabled()
        };
        config.alpn_protocols = alpn.map(|p| vec![p.to_vec()]).unwrap_or_default();
        // SSLKEYLOGFILE, as browsers and curl honour it: decrypt a capture of the run.
        config.key_log = Arc::new(rustls::KeyLogFile::new());
        let name = opts.sni.as_deref().unwrap_or(host);
        let flag = if opts.sni.is_some() {
            "--sni"
        } else {
            "TARGET"
        };
        let server_name = ServerName::try_from(name.to_string()).map_err(|_| {
            UsageError::new(flag, format!("`{name}` is not a host name TLS can verify"))
        })?;
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }
}

impl TlsClient {
    /// The same client, resuming no session and keeping none: for the connections nines
    /// makes besides the run's (the probe, reading a server's counters), so they neither make
    /// the run's first handshakes resumed nor take its tickets.
    pub fn without_resumption(&self) -> TlsClient {
        let mut config = (*self.config).clone();
        config.resumption = Resumption::disabled();
        TlsClient {
            config: Arc::new(config),
            server_name: self.server_name.clone(),
        }
    }
}

/// aws-lc-rs with AES-128-GCM (SHA-256) offered first, as browsers offer it, where rustls' own
/// order starts with AES-256-GCM-SHA384: every HKDF step of a TLS 1.3 handshake then hashes
/// with SHA-256, which x86 does in hardware (SHA-384 it does not), and records take 10 AES
/// rounds, not 14. Measured on a storm of full handshakes (docs/results/tls.md).
fn provider() -> CryptoProvider {
    use rustls::CipherSuite as C;
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    p.cipher_suites.sort_by_key(|s| {
        !matches!(
            s.suite(),
            C::TLS13_AES_128_GCM_SHA256
                | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    });
    p
}

/// The system's CA roots and the `--cacert` files.
fn roots(cacert: &[std::path::PathBuf]) -> Result<RootCertStore, UsageError> {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _) = store.add_parsable_certificates(native.certs);
    tracing::debug!(added, errors = native.errors.len(), "system CA roots");
    for path in cacert {
        let certs = pem_certs("--cacert", path)?;
        let (ok, bad) = store.add_parsable_certificates(certs);
        if ok == 0 {
            return Err(UsageError::new(
                "--cacert",
                format!(
                    "{}: {bad} certificate(s), none usable as a CA",
                    path.display()
                ),
            ));
        }
    }
    if store.is_empty() {
        return Err(UsageError::new(
            "--cacert",
            "no CA certificates: this machine has no system roots (install ca-certificates); give the server's CA with --cacert FILE, or --insecure",
        ));
    }
    Ok(store)
}

/// Every certificate in a PEM file; none is an error naming `flag`.
fn pem_certs(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, UsageError> {
    let bad = |why: String| UsageError::new(flag, format!("{}: {why}", path.display()));
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(pem_error(&e)))?
        .collect();
    let certs = certs.map_err(|e| bad(pem_error(&e)))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".to_string()));
    }
    Ok(certs)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => format!("cannot read it: {io}"),
        other => format!("not a PEM file: {other:?}"),
    }
}

/// The `--cert` chain and `--key` key.
fn client_cert(
    c: &ClientCert,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), UsageError> {
    let chain = pem_certs("--cert", &c.cert)?;
    let key = PrivateKeyDer::from_pem_file(&c.key).map_err(|e| {
        UsageError::new(
            "--key",
            format!(
                "{}: no private key read: {}",
                c.key.display(),
                pem_error(&e)
            ),
        )
    })?;
    Ok((chain, key))
}

/// `--insecure`: every certificate is taken, but the handshake's signatures are still checked
/// against the certificate presented, so the handshake costs what a real one does.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
