//! HTTPS for the demo services: a rustls server config from PEM files.

use std::{path::Path, sync::Arc};

use anyhow::Context;
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::WebPkiClientVerifier,
    RootCertStore, ServerConfig,
};

/// A server config with the certificate chain and key of `cert` / `key`
/// (PEM), ALPN `h2` and `http/1.1`, and, when `client_ca` is given, a
/// client certificate signed by that CA required of every client (mTLS).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("{}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not PEM certificates", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("{}", key.display()))?;
    let builder = ServerConfig::builder();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in
                CertificateDer::pem_file_iter(ca).with_context(|| format!("{}", ca.display()))?
            {
                roots.add(cert?)?;
            }
            builder
                .with_client_cert_verifier(WebPkiClientVerifier::builder(Arc::new(roots)).build()?)
        }
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
