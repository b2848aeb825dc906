//! Certificates made at test time (rcgen; no private key is ever committed): a throwaway CA, a
//! server certificate it signs for `localhost` and 127.0.0.1, and the ones that must fail —
//! self-signed, expired, for another name — plus a client certificate for mutual TLS.
//!
//! Everything is written as PEM into one temporary directory, removed on drop, so real peers
//! (nginx, redis-server, python3-websockets, curl, openssl) read the same files as nines.

#![allow(dead_code)] // Each test binary uses its own part.

use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct Pem {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A set of test certificates in a temporary directory.
#[derive(Debug)]
pub struct Certs {
    pub dir: PathBuf,
    /// The CA that signs `server`, `wrong_name`, `expired` and `client`.
    pub ca: PathBuf,
    /// For `localhost` and 127.0.0.1 (and ::1), signed by `ca`.
    pub server: Pem,
    /// Signed by `ca`, for `elsewhere.invalid` only.
    pub wrong_name: Pem,
    /// Signed by `ca`, for `localhost`, valid only in 2020.
    pub expired: Pem,
    /// For `localhost`, signed by itself.
    pub self_signed: Pem,
    /// A client certificate signed by `ca` (mutual TLS).
    pub client: Pem,
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn localhost_names() -> Vec<String> {
    vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ]
}

fn write(dir: &Path, name: &str, cert: &str, key: &KeyPair) -> Pem {
    let pem = Pem {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&pem.cert, cert).unwrap();
    std::fs::write(&pem.key, key.serialize_pem()).unwrap();
    pem
}

fn leaf(names: Vec<String>, usage: ExtendedKeyUsagePurpose) -> CertificateParams {
    let mut p = CertificateParams::new(names).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "nines test leaf");
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![usage];
    p
}

impl Certs {
    /// Makes a fresh set under the system temp directory.
    pub fn new() -> Certs {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nines-certs-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "nines test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, ca_cert.pem()).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let signed = |name: &str, params: CertificateParams| {
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            write(&dir, name, &cert.pem(), &key)
        };
        let server = signed(
            "server",
            leaf(localhost_names(), ExtendedKeyUsagePurpose::ServerAuth),
        );
        let wrong_name = signed(
            "wrong-name",
            leaf(
                vec!["elsewhere.invalid".to_string()],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
        );
        let mut old = leaf(localhost_names(), ExtendedKeyUsagePurpose::ServerAuth);
        old.not_before = date_time_ymd(2020, 1, 1);
        old.not_after = date_time_ymd(2020, 12, 31);
        let expired = signed("expired", old);
        let client = signed(
            "client",
            leaf(
                vec!["nines-client".to_string()],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        );
        let self_key = KeyPair::generate().unwrap();
        let self_cert = leaf(localhost_names(), ExtendedKeyUsagePurpose::ServerAuth)
            .self_signed(&self_key)
            .unwrap();
        let self_signed = write(&dir, "self-signed", &self_cert.pem(), &self_key);
        Certs {
            dir,
            ca: ca_path,
            server,
            wrong_name,
            expired,
            self_signed,
            client,
        }
    }
}
