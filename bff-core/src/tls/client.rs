//! Outgoing TLS: trusted roots and the rustls `ClientConfig` built on them.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use rustls::{
    client::ResolvesClientCert, sign::CertifiedKey, ClientConfig, RootCertStore, SignatureScheme,
};

use super::{certified_key, certs_from_pem, provider, read, TlsError, ALPN};

/// The roots every outgoing TLS connection trusts: the system's (read once
/// per process; `SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured) plus the PEM
/// file of `BFF_TLS_CA_FILE`. Cheap to clone.
#[derive(Clone)]
pub struct ClientTls {
    roots: Arc<RootCertStore>,
    ca_pem: Option<Arc<[u8]>>,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("roots", &self.roots.len())
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The system's roots, loaded once.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            if !found.errors.is_empty() || ignored > 0 {
                tracing::debug!(
                    added,
                    ignored,
                    errors = found.errors.len(),
                    "some system root certificates could not be used"
                );
            }
            if added == 0 {
                tracing::warn!(
                    "no system root certificate found (install ca-certificates, or trust \
                     the services' CA with BFF_TLS_CA_FILE)"
                );
            }
            Arc::new(roots)
        })
        .clone()
}

impl ClientTls {
    /// The system's roots only.
    pub fn system() -> ClientTls {
        ClientTls {
            roots: system_roots(),
            ca_pem: None,
            ca_file: None,
        }
    }

    /// The system's roots plus every certificate of the PEM file `ca_file`
    /// (`BFF_TLS_CA_FILE`), when given.
    pub fn new(ca_file: Option<&Path>) -> Result<ClientTls, TlsError> {
        let Some(path) = ca_file else {
            return Ok(Self::system());
        };
        const WHAT: &str = "tls.ca_file (BFF_TLS_CA_FILE)";
        let pem = read(WHAT, path)?;
        let mut roots = (*system_roots()).clone();
        for cert in certs_from_pem(WHAT, path, &pem)? {
            roots.add(cert).map_err(|source| TlsError::Rustls {
                what: format!("{WHAT} {}", path.display()),
                source,
            })?;
        }
        Ok(ClientTls {
            roots: Arc::new(roots),
            ca_pem: Some(pem.into()),
            ca_file: Some(path.to_path_buf()),
        })
    }

    /// The PEM text of `BFF_TLS_CA_FILE` as read at start (`None` when
    /// unset), for clients that take extra roots as PEM (Redis `rediss://`).
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }

    /// Every trusted root (system and `BFF_TLS_CA_FILE`).
    pub fn roots(&self) -> Arc<RootCertStore> {
        self.roots.clone()
    }

    /// A rustls client config: TLS 1.2+, these roots, ALPN `h2` then
    /// `http/1.1`, and the client certificate of `identity` (mTLS) when
    /// given as `(certificate chain PEM file, key PEM file)`.
    pub fn rustls_config(
        &self,
        identity: Option<(&Path, &Path)>,
    ) -> Result<ClientConfig, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                what: "the TLS client".into(),
                source,
            })?
            .with_root_certificates(self.roots.clone());
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let key = certified_key("tls_cert_file", cert, "tls_key_file", key)?;
                builder.with_client_cert_resolver(Arc::new(Identity(Arc::new(key))))
            }
        };
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    /// A reqwest client builder that speaks TLS with [`ClientTls::rustls_config`]
    /// (HTTP/2 where the server offers it by ALPN, HTTP/1.1 otherwise; plain
    /// `http://` URLs are unaffected).
    pub fn reqwest_builder(
        &self,
        identity: Option<(&Path, &Path)>,
    ) -> Result<reqwest::ClientBuilder, TlsError> {
        Ok(reqwest::Client::builder().tls_backend_preconfigured(self.rustls_config(identity)?))
    }

    /// Like [`ClientTls::reqwest_builder`], for reqwest's blocking client.
    pub fn reqwest_blocking_builder(&self) -> Result<reqwest::blocking::ClientBuilder, TlsError> {
        Ok(reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(self.rustls_config(None)?))
    }
}

/// A client certificate presented to every server that asks for one.
#[derive(Debug)]
struct Identity(Arc<CertifiedKey>);

impl ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
