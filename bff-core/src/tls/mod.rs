//! TLS for everything the gateway calls and for the clients' ports, on
//! rustls with the `ring` crypto provider (no OpenSSL, no C library beyond
//! ring's own; docs/pitfalls.md #14).
//!
//! - [`ClientTls`]: one set of trusted roots per process, the system's
//!   roots plus `BFF_TLS_CA_FILE` (docs/contract.md §2), turned into the
//!   rustls `ClientConfig` of every outgoing connection: REST upstreams
//!   (with an optional client certificate per service), the JWKS fetch,
//!   the OTLP exporter. Its CA PEM is exposed for the Redis client.
//!   Certificates are always verified; there is no switch that turns
//!   verification off.
//! - [`ServerTls`]: the clients' ports when `BFF_TLS_CERT_FILE` and
//!   `BFF_TLS_KEY_FILE` are set: TLS 1.2 and 1.3, ALPN `h2` and
//!   `http/1.1`, and a certificate that is read again when its files
//!   change (checked at each handshake) or when [`ServerTls::reload`] is
//!   called.

mod client;
mod server;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
};

pub use self::{client::ClientTls, server::ServerTls};

/// ALPN protocols offered by both sides, in preference order.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A TLS setting that cannot be used: the message names the file and why.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{what} {path}: cannot be read: {source}")]
    Read {
        /// What the file is for (`BFF_TLS_CA_FILE`, ...).
        what: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM certificate or key.
    #[error("{what} {path}: {reason}")]
    Pem {
        /// What the file is for.
        what: String,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the settings (a key that does not match its
    /// certificate, an unsupported key type, ...).
    #[error("{what}: {source}")]
    Rustls {
        /// What was being built.
        what: String,
        /// rustls's reason.
        source: rustls::Error,
    },
}

/// The crypto provider of every TLS connection of the process (`ring`).
/// Also installed as the process default (once), so libraries that ask
/// rustls for the default (the Redis client, for one) use the same.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<CryptoProvider>> = std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            // rustls marks ring's provider deprecated since 0.23.48: it has
            // no post-quantum key exchange (X25519MLKEM768), which only the
            // aws-lc-rs provider offers, at the price of a large C build
            // (docs/pitfalls.md #14). Classical X25519/P-256 it is.
            #[allow(deprecated)]
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            // Fails only when another default is already installed: keep it.
            let _ = CryptoProvider::install_default((*provider).clone());
            provider
        })
        .clone()
}

/// Installs the process-wide default crypto provider (`ring`). Idempotent;
/// call it before building a `reqwest::Client` that is not configured
/// through [`ClientTls`] (reqwest is built without a provider of its own).
pub fn install_crypto_provider() {
    let _ = provider();
}

/// The rustls error somewhere in `err`'s chain of causes (a failed
/// handshake of an outgoing connection), if any.
pub fn tls_cause<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // `io::Error::source` skips the error it wraps (itself often an
        // `io::Error` around the rustls one): look inside instead.
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

fn read(what: &str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate of a PEM document (at least one).
fn certs_from_pem(
    what: &str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.to_string(),
            path: path.to_path_buf(),
            reason: format!("not a PEM certificate file ({e})"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what: what.to_string(),
            path: path.to_path_buf(),
            reason: "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Ok(certs)
}

/// The private key of a PEM document (PKCS#8, PKCS#1 or SEC1).
fn key_from_pem(what: &str, path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Pem {
        what: what.to_string(),
        path: path.to_path_buf(),
        reason: format!("holds no usable PEM private key ({e})"),
    })
}

/// A certificate chain and its key, read from two PEM files and checked
/// against each other.
fn certified_key(
    cert_what: &str,
    cert_path: &Path,
    key_what: &str,
    key_path: &Path,
) -> Result<rustls::sign::CertifiedKey, TlsError> {
    let certs = certs_from_pem(cert_what, cert_path, &read(cert_what, cert_path)?)?;
    let key = key_from_pem(key_what, key_path, &read(key_what, key_path)?)?;
    rustls::sign::CertifiedKey::from_der(certs, key, &provider()).map_err(|source| {
        TlsError::Rustls {
            what: format!(
                "{cert_what} {} with {key_what} {}",
                cert_path.display(),
                key_path.display()
            ),
            source,
        }
    })
}
