//! Turns the TLS part of the web configuration file into a rustls server configuration.
//!
//! Kept apart from the file's parsing because it reads the certificate, key and CA files, which
//! change under a running exporter (certificate rotation); `security` decides when to call it
//! again. Only TLS 1.2 and 1.3 with rustls' default cipher suites are offered, over HTTP/1.1.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use super::file::{ClientAuth, TlsPlan, TlsVersion, WebFileError};

/// Reads the files the plan names and builds an acceptor.
pub fn acceptor(plan: &TlsPlan) -> Result<TlsAcceptor, WebFileError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(TlsVersion::Tls12, &rustls::version::TLS12), (TlsVersion::Tls13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(version, _)| (plan.min_version..=plan.max_version).contains(version))
            .map(|(_, supported)| supported)
            .collect();
    let certs = read_certs(&plan.cert_file, "cert_file")?;
    let key = PrivateKeyDer::from_pem_file(&plan.key_file).map_err(|error| {
        problem(
            "key_file",
            &plan.key_file,
            format!("holds no usable private key ({error})"),
            "give the PEM file of the certificate's key",
        )
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|error| {
            WebFileError(format!("web config file: TLS versions cannot be offered ({error}); use TLS12 or TLS13"))
        })?;
    let builder = match plan.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::VerifyIfGiven | ClientAuth::Require => {
            let ca_file = plan.client_ca_file.as_deref().unwrap_or(std::path::Path::new(""));
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca_file, "client_ca_file")? {
                roots.add(cert).map_err(|error| {
                    problem(
                        "client_ca_file",
                        ca_file,
                        format!("holds an unusable CA certificate ({error})"),
                        "give PEM CA certificates",
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier =
                if plan.client_auth == ClientAuth::VerifyIfGiven { verifier.allow_unauthenticated() } else { verifier };
            let verifier = verifier.build().map_err(|error| {
                problem(
                    "client_ca_file",
                    ca_file,
                    format!("cannot verify clients ({error})"),
                    "give PEM CA certificates",
                )
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|error| {
        problem(
            "cert_file",
            &plan.cert_file,
            format!("does not go with key_file ({error})"),
            "give the certificate and its own key",
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &std::path::Path, key: &str) -> Result<Vec<CertificateDer<'static>>, WebFileError> {
    let certs =
        CertificateDer::pem_file_iter(path).and_then(|iter| iter.collect::<Result<Vec<_>, _>>()).map_err(|error| {
            problem(key, path, format!("cannot be read as PEM certificates ({error})"), "give a PEM file")
        })?;
    if certs.is_empty() {
        return Err(problem(key, path, "holds no certificate", "give a PEM file with at least one CERTIFICATE block"));
    }
    Ok(certs)
}

fn problem(key: &str, path: &std::path::Path, what: impl std::fmt::Display, fix: &str) -> WebFileError {
    WebFileError(format!("web config file: tls_server_config.{key} {} {what}; {fix}", path.display()))
}
