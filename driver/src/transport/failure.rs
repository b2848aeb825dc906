//! What went wrong in a TLS handshake: counted by kind (`tls_certificate`, `tls_handshake`),
//! and told in one line that says what to do about it.

use std::io;

use rustls::{CertificateError, Error};

use crate::errors::ErrorKind;

/// The two ways a handshake fails, as reports count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The server's certificate did not verify (untrusted issuer, expired, another name).
    Certificate,
    /// Anything else: no TLS at the other end, an alert, a stall, a close mid-handshake.
    Handshake,
}

impl FailureKind {
    /// The error kind reports count it as.
    pub fn error_kind(self) -> ErrorKind {
        match self {
            FailureKind::Certificate => ErrorKind::TlsCertificate,
            FailureKind::Handshake => ErrorKind::TlsHandshake,
        }
    }
}

/// A failed handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// How reports count it.
    pub kind: FailureKind,
    /// One line: what failed, and what to do.
    pub detail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl Failure {
    fn handshake(detail: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Handshake,
            detail: detail.into(),
        }
    }

    /// A rustls error, in the words a user acts on.
    pub fn from_rustls(e: &Error) -> Failure {
        match e {
            Error::InvalidCertificate(c) => Failure {
                kind: FailureKind::Certificate,
                detail: certificate(c),
            },
            Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => Failure::handshake(
                format!("the server's answer is not TLS ({e}): is this a plain-text port? load it with http://, ws://, redis:// or without --tls"),
            ),
            Error::AlertReceived(alert) => Failure::handshake(format!(
                "the server refused the handshake (alert: {alert:?}){}",
                alert_hint(*alert)
            )),
            Error::PeerIncompatible(why) => Failure::handshake(format!(
                "the server and nines share no TLS version or cipher ({why:?}); try --tls-version 1.2 or 1.3"
            )),
            other => Failure::handshake(format!("TLS handshake failed: {other}")),
        }
    }

    /// A socket error during the handshake.
    pub fn io(e: &io::Error) -> Failure {
        Failure::of(e).unwrap_or_else(|| Failure::handshake(format!("TLS handshake failed: {e}")))
    }

    /// The TLS failure a read or write error carries, if it is one (an alert from the server
    /// after the handshake, such as a refused client certificate, arrives with a read).
    pub fn of(e: &io::Error) -> Option<Failure> {
        e.get_ref()
            .and_then(|i| i.downcast_ref::<Error>())
            .map(Failure::from_rustls)
    }

    /// A refusal from the server on an open connection: an alert (a client certificate refused
    /// after a TLS 1.3 handshake, say), counted as a failed handshake. Other TLS errors there
    /// (a record that does not decrypt) are I/O errors, not handshakes.
    pub fn refusal(e: &io::Error) -> Option<Failure> {
        match e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
            Some(r @ Error::AlertReceived(_)) => Some(Failure::from_rustls(r)),
            _ => None,
        }
    }

    /// The server closed the connection before the handshake was done.
    pub fn closed_mid_handshake() -> Failure {
        Failure::handshake(
            "the server closed the connection during the TLS handshake (a plain-text port, or a server refusing this client?)",
        )
    }

    /// The handshake did not finish within the connect timeout.
    pub fn timed_out(after: std::time::Duration) -> Failure {
        Failure::handshake(format!(
            "the TLS handshake did not finish within {after:?} (--connect-timeout): the server stalls mid-handshake, or is not speaking TLS"
        ))
    }
}

fn certificate(c: &CertificateError) -> String {
    let what = match c {
        CertificateError::UnknownIssuer => {
            "is not signed by a CA nines trusts (self-signed, or a private CA): give the CA with --cacert FILE, or --insecure to skip verification".to_string()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "has expired: renew it on the server, or --insecure to skip verification".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "is not valid yet (check both clocks), or --insecure to skip verification".to_string()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "is not for the name nines asked for: connect by a name it is for, or give it with --sni NAME".to_string()
        }
        CertificateError::Revoked => "has been revoked".to_string(),
        CertificateError::BadSignature
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "does not chain to a CA nines trusts (its signature does not verify against one): if it is self-signed or from a private CA, give that CA with --cacert FILE, or --insecure to skip verification".to_string()
        }
        other => format!(
            "does not verify ({}): if it is self-signed or from a private CA, give that CA with --cacert FILE, or --insecure to skip verification",
            short(other)
        ),
    };
    format!("the server's certificate {what}")
}

/// A certificate error's name without its context fields.
fn short(e: &CertificateError) -> String {
    let full = format!("{e:?}");
    full.split([' ', '(', '{'])
        .next()
        .unwrap_or(&full)
        .to_string()
}

fn alert_hint(alert: rustls::AlertDescription) -> &'static str {
    use rustls::AlertDescription as A;
    match alert {
        A::CertificateRequired | A::BadCertificate | A::UnknownCA => {
            ": it wants a client certificate it trusts (--cert FILE --key FILE)"
        }
        A::ProtocolVersion => ": try --tls-version 1.2 or 1.3",
        A::HandshakeFailure => {
            ": no cipher, group or version in common, or it wants a client certificate (--cert FILE --key FILE)"
        }
        _ => "",
    }
}
