//! TLS on the clients' ports, with a certificate that follows its files.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
};

use rustls::{
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
    ServerConfig,
};

use super::{certified_key, provider, TlsError, ALPN};
use crate::file_stamp::FileStamp;

const CERT: &str = "tls.cert_file (BFF_TLS_CERT_FILE)";
const KEY: &str = "tls.key_file (BFF_TLS_KEY_FILE)";

/// The TLS side of every client listener of a process: one rustls server
/// config (TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`) whose certificate is
/// read again when its files change. Cheap to clone.
#[derive(Clone)]
pub struct ServerTls {
    resolver: Arc<Reloading>,
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert_file", &self.resolver.cert)
            .field("key_file", &self.resolver.key)
            .finish()
    }
}

impl ServerTls {
    /// Reads the certificate chain and key (PEM) and checks that they match.
    pub fn from_files(cert_file: &Path, key_file: &Path) -> Result<ServerTls, TlsError> {
        let stamp = Stamp::of(cert_file, key_file);
        let key = certified_key(CERT, cert_file, KEY, key_file)?;
        let resolver = Arc::new(Reloading {
            cert: cert_file.to_path_buf(),
            key: key_file.to_path_buf(),
            current: RwLock::new(Loaded {
                stamp,
                key: Arc::new(key),
            }),
            failed: Mutex::new(None),
        });
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                what: "the TLS listener".into(),
                source,
            })?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(ServerTls {
            resolver,
            config: Arc::new(config),
        })
    }

    /// The acceptor a listener hands each new connection to.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }

    /// Reads the certificate and key files again now, whether or not they
    /// changed (for a reload signal). On error the certificate in use stays.
    /// Connections already open keep the certificate they were made with.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.resolver
            .load(Stamp::of(&self.resolver.cert, &self.resolver.key))
    }

    /// The certificate chain new connections are given now (DER).
    pub fn current_chain(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        self.resolver.current().cert.clone()
    }
}

/// The stamps of the certificate and the key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp(Option<FileStamp>, Option<FileStamp>);

impl Stamp {
    fn of(cert: &Path, key: &Path) -> Stamp {
        Stamp(FileStamp::of(cert), FileStamp::of(key))
    }
}

struct Loaded {
    stamp: Stamp,
    key: Arc<CertifiedKey>,
}

/// Resolves every handshake to the current certificate, reading the files
/// again first when their stamps changed (two `stat` calls a handshake, a
/// small part of its cost). A version that fails to load (say, the
/// certificate replaced and its key not yet) is logged once and skipped
/// until the files change again; the last good certificate stays in use.
struct Reloading {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Loaded>,
    /// The stamp of the last version that failed to load.
    failed: Mutex<Option<Stamp>>,
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("cert", &self.cert)
            .finish()
    }
}

impl Reloading {
    fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(loaded) => loaded.key.clone(),
            Err(poisoned) => poisoned.into_inner().key.clone(),
        }
    }

    fn current_stamp(&self) -> Stamp {
        match self.current.read() {
            Ok(loaded) => loaded.stamp,
            Err(poisoned) => poisoned.into_inner().stamp,
        }
    }

    fn load(&self, stamp: Stamp) -> Result<(), TlsError> {
        let key = certified_key(CERT, &self.cert, KEY, &self.key)?;
        let mut current = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = Loaded {
            stamp,
            key: Arc::new(key),
        };
        drop(current);
        tracing::info!(cert_file = %self.cert.display(), "TLS certificate loaded");
        Ok(())
    }

    fn refresh(&self) {
        let stamp = Stamp::of(&self.cert, &self.key);
        if stamp == self.current_stamp() {
            return;
        }
        let mut failed = match self.failed.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *failed == Some(stamp) {
            return;
        }
        match self.load(stamp) {
            Ok(()) => *failed = None,
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    "the TLS certificate files changed but cannot be used; keeping the current certificate"
                );
                *failed = Some(stamp);
            }
        }
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.refresh();
        Some(self.current())
    }
}
