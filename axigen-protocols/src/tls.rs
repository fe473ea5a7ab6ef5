//! TLS for listeners and sessions: the [`TlsMode`] of a listener, loading a
//! rustls [`ServerConfig`] from PEM files, a self-signed development
//! certificate, and the server-side handshake used both for implicit TLS
//! listeners and for STARTTLS upgrades inside a protocol session.
//!
//! rustls is always used with the *ring* crypto provider, TLS 1.2 and 1.3.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::listener::Connection;

pub use rustls::ServerConfig;
/// The tokio-rustls server acceptor: `TlsAcceptor::from(Arc<ServerConfig>)`,
/// then `acceptor.accept(stream).await`. Prefer [`accept`] or [`starttls`],
/// which add the handshake timeout.
pub use tokio_rustls::TlsAcceptor;
/// The stream type a server-side handshake yields; it is itself a
/// [`Connection`].
pub use tokio_rustls::server::TlsStream as ServerTlsStream;

/// How long a server-side TLS handshake may take before the connection is
/// dropped (implicit TLS listeners and [`starttls`]).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// File name of the development certificate written by [`ensure_dev_certificate`].
pub const DEV_CERT_FILE: &str = "dev-cert.pem";
/// File name of the development private key written by [`ensure_dev_certificate`].
pub const DEV_KEY_FILE: &str = "dev-key.pem";

/// TLS mode of a listener (`tls = "..."` in a `[[listener]]` table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// `"none"`: plain TCP only; STARTTLS is not offered.
    #[default]
    None,
    /// `"starttls"`: plain TCP; the service may upgrade the connection with
    /// its protocol's STARTTLS (or STLS) command.
    StartTls,
    /// `"implicit"`: the TLS handshake is done as soon as the connection is
    /// accepted, before the service sees it (SMTPS 465, IMAPS 993, POP3S 995,
    /// HTTPS).
    Implicit,
}

impl TlsMode {
    /// The configuration spelling of this mode (`"none"`, `"starttls"`, `"implicit"`).
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::StartTls => "starttls",
            TlsMode::Implicit => "implicit",
        }
    }
}

impl std::fmt::Display for TlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors from loading or generating certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file is not valid PEM.
    #[error("{}: invalid PEM ({what}): {message}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was being read ("certificate" or "private key").
        what: &'static str,
        /// The parser's message.
        message: String,
    },
    /// A certificate file holds no `CERTIFICATE` block.
    #[error("{}: no PEM \"CERTIFICATE\" block found", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A key file holds no private key block.
    #[error(
        "{}: no private key found (expected a PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block)",
        path.display()
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls rejected the certificate chain or key (unsupported key type,
    /// key not matching the certificate, ...).
    #[error(
        "certificate {} with key {} rejected: {source}",
        cert.display(),
        key.display()
    )]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
    /// Generating the development certificate failed.
    #[error("cannot generate a self-signed certificate for {names:?}: {source}")]
    Generate {
        /// The subject alternative names asked for.
        names: Vec<String>,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// Writing the development certificate or key failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file (or directory).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

fn pem_error(path: &Path, what: &'static str, err: pem::Error) -> TlsError {
    TlsError::Pem { path: path.to_path_buf(), what, message: err.to_string() }
}

/// Reads the PEM certificate chain (leaf first) from `path`.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, "certificate", e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_path_buf() });
    }
    Ok(certs)
}

/// Reads the first PEM private key (PKCS#8, PKCS#1 or SEC1) from `path`.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read_file(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey { path: path.to_path_buf() },
        e => pem_error(path, "private key", e),
    })
}

/// Builds a server configuration (ring provider, TLS 1.2 and 1.3, no client
/// authentication) from a PEM certificate chain and a PEM private key.
///
/// The key must match the leaf certificate. Errors name the offending file.
pub fn load_server_config(
    cert_pem_path: impl AsRef<Path>,
    key_pem_path: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_path = cert_pem_path.as_ref();
    let key_path = key_pem_path.as_ref();
    let certs = load_certificates(cert_path)?;
    let key = load_private_key(key_path)?;
    let rejected = |source| TlsError::Rejected { cert: cert_path.to_path_buf(), key: key_path.to_path_buf(), source };
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(rejected)?;
    Ok(Arc::new(config))
}

/// Makes sure a self-signed development certificate exists in `dir`.
///
/// If `dir/dev-cert.pem` and `dir/dev-key.pem` both exist they are returned
/// unchanged with `false`. Otherwise a new key pair and a certificate for
/// `hostnames` (default: `localhost` and the IP address `127.0.0.1`; names
/// that parse as IP addresses become IP SANs) are generated, written (the key
/// with mode 0600), and returned with `true`. `dir` is created if needed.
///
/// Returns `(certificate path, key path, generated)`.
pub fn ensure_dev_certificate(dir: &Path, hostnames: &[String]) -> Result<(PathBuf, PathBuf, bool), TlsError> {
    let cert_path = dir.join(DEV_CERT_FILE);
    let key_path = dir.join(DEV_KEY_FILE);
    if cert_path.is_file() && key_path.is_file() {
        return Ok((cert_path, key_path, false));
    }

    let names: Vec<String> =
        if hostnames.is_empty() { vec!["localhost".to_owned(), "127.0.0.1".to_owned()] } else { hostnames.to_vec() };
    let generate = |source| TlsError::Generate { names: names.clone(), source };
    let key_pair = rcgen::KeyPair::generate().map_err(generate)?;
    let mut params = rcgen::CertificateParams::new(names.clone()).map_err(generate)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, names[0].as_str());
    dn.push(rcgen::DnType::OrganizationName, "axigen development");
    params.distinguished_name = dn;
    let cert = params.self_signed(&key_pair).map_err(generate)?;

    fs::create_dir_all(dir).map_err(|source| TlsError::Write { path: dir.to_path_buf(), source })?;
    // Write both to temporary names first and rename the certificate last,
    // so a crash never leaves a pair that looks complete but is not.
    let key_tmp = dir.join(format!("{DEV_KEY_FILE}.tmp"));
    let cert_tmp = dir.join(format!("{DEV_CERT_FILE}.tmp"));
    write_file(&key_tmp, key_pair.serialize_pem().as_bytes(), true)?;
    write_file(&cert_tmp, cert.pem().as_bytes(), false)?;
    rename(&key_tmp, &key_path)?;
    rename(&cert_tmp, &cert_path)?;
    Ok((cert_path, key_path, true))
}

fn rename(from: &Path, to: &Path) -> Result<(), TlsError> {
    fs::rename(from, to).map_err(|source| TlsError::Write { path: to.to_path_buf(), source })
}

fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), TlsError> {
    let wrap = |source| TlsError::Write { path: path.to_path_buf(), source };
    let _ = fs::remove_file(path);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(wrap)?;
    file.write_all(contents).map_err(wrap)?;
    file.sync_all().map_err(wrap)?;
    Ok(())
}

/// Performs the server side of a TLS handshake on `stream`, failing with
/// [`io::ErrorKind::TimedOut`] if it takes longer than `timeout`.
pub async fn accept<IO: Connection>(
    config: Arc<ServerConfig>,
    stream: IO,
    timeout: Duration,
) -> io::Result<ServerTlsStream<IO>> {
    match tokio::time::timeout(timeout, TlsAcceptor::from(config).accept(stream)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
    }
}

/// Upgrades an accepted plain connection to TLS (STARTTLS / STLS), with the
/// [`HANDSHAKE_TIMEOUT`].
///
/// Call it right after writing the protocol's "go ahead" reply, with the
/// `tls` configuration the listener passed to the service. The caller must
/// first make sure that no plaintext the client sent after the STARTTLS
/// command is still buffered (e.g. `BufReader::buffer().is_empty()`); such
/// data must be discarded or the command refused, never processed after the
/// upgrade (command injection, CVE-2011-0411).
pub async fn starttls(conn: Box<dyn Connection>, config: Arc<ServerConfig>) -> io::Result<Box<dyn Connection>> {
    let stream = accept(config, conn, HANDSHAKE_TIMEOUT).await?;
    Ok(Box::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_mode_serde_spelling() {
        #[derive(Deserialize)]
        struct T {
            tls: TlsMode,
        }
        for (s, m) in [("none", TlsMode::None), ("starttls", TlsMode::StartTls), ("implicit", TlsMode::Implicit)] {
            let t: T = serde_json::from_str(&format!("{{\"tls\":\"{s}\"}}")).unwrap();
            assert_eq!(t.tls, m);
            assert_eq!(m.as_str(), s);
        }
        assert!(serde_json::from_str::<T>("{\"tls\":\"StartTls\"}").is_err());
    }

    #[test]
    fn dev_certificate_is_generated_once_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("tls");
        let (cert, key, generated) = ensure_dev_certificate(&sub, &[]).unwrap();
        assert!(generated);
        assert_eq!(cert, sub.join(DEV_CERT_FILE));
        assert_eq!(key, sub.join(DEV_KEY_FILE));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let before = fs::read(&cert).unwrap();
        let (cert2, key2, generated) = ensure_dev_certificate(&sub, &[]).unwrap();
        assert!(!generated);
        assert_eq!((cert2, key2), (cert.clone(), key.clone()));
        assert_eq!(fs::read(&cert).unwrap(), before);
        load_server_config(&cert, &key).unwrap();
    }

    #[test]
    fn load_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = ensure_dev_certificate(dir.path(), &[]).unwrap();
        let missing = dir.path().join("missing.pem");

        let err = load_server_config(&missing, &key).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }), "{err}");
        assert!(err.to_string().contains("missing.pem"), "{err}");

        // A key file given as the certificate: no CERTIFICATE block.
        let err = load_server_config(&key, &key).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        assert!(err.to_string().contains(DEV_KEY_FILE), "{err}");

        // A certificate given as the key: no private key.
        let err = load_server_config(&cert, &cert).unwrap_err();
        assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");
        assert!(err.to_string().contains(DEV_CERT_FILE), "{err}");

        // Truncated PEM.
        let broken = dir.path().join("broken.pem");
        let text = fs::read_to_string(&cert).unwrap();
        fs::write(&broken, &text[..text.len() / 2]).unwrap();
        let err = load_server_config(&broken, &key).unwrap_err();
        assert!(matches!(err, TlsError::Pem { .. }), "{err}");
        assert!(err.to_string().contains("broken.pem"), "{err}");

        // A key that does not match the certificate.
        let other = tempfile::tempdir().unwrap();
        let (_, other_key, _) = ensure_dev_certificate(other.path(), &[]).unwrap();
        let err = load_server_config(&cert, &other_key).unwrap_err();
        assert!(matches!(err, TlsError::Rejected { .. }), "{err}");
    }
}
