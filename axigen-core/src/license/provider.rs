//! Where the licence in force comes from: a fixed licence, or a vendor-signed
//! licence file that an administrator may replace at run time.

use std::path::Path;
use std::sync::RwLock;

use ed25519_dalek::VerifyingKey;

use super::License;
use super::file::{LicenseError, parse_public_key, read_license_file, verify_with_key};

/// Where the current licence comes from.
pub trait LicenseProvider: Send + Sync {
    /// The licence in force now, or `None` if none is installed.
    fn current(&self) -> Option<License>;
}

/// A provider of a licence fixed in code, for embedders and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticLicenseProvider(pub Option<License>);

impl LicenseProvider for StaticLicenseProvider {
    fn current(&self) -> Option<License> {
        self.0.clone()
    }
}

/// The reference provider: a vendor-signed licence file, verified against
/// the configured vendor public key. An administrator may install a new
/// licence at run time with [`SignedLicenseProvider::reload_from`].
#[derive(Debug)]
pub struct SignedLicenseProvider {
    public_key: VerifyingKey,
    license: RwLock<Option<License>>,
}

impl SignedLicenseProvider {
    /// Verifies `file_text` with `public_key_b64` and holds the licence.
    pub fn new(file_text: &str, public_key_b64: &str) -> Result<Self, LicenseError> {
        let public_key = parse_public_key(public_key_b64)?;
        let license = verify_with_key(file_text, &public_key)?;
        Ok(SignedLicenseProvider { public_key, license: RwLock::new(Some(license)) })
    }

    /// Reads the licence file at `path` and verifies it like [`Self::new`].
    pub fn from_file(path: impl AsRef<Path>, public_key_b64: &str) -> Result<Self, LicenseError> {
        let text = read_license_file(path.as_ref())?;
        Self::new(&text, public_key_b64)
    }

    /// A provider with no licence installed yet (every check is refused with
    /// [`LicenseRefusal::NoLicense`](super::LicenseRefusal::NoLicense) until [`Self::reload_from`] succeeds).
    pub fn without_license(public_key_b64: &str) -> Result<Self, LicenseError> {
        let public_key = parse_public_key(public_key_b64)?;
        Ok(SignedLicenseProvider { public_key, license: RwLock::new(None) })
    }

    /// Verifies a new licence file and, if it verifies, installs it in place
    /// of the current one and returns it. On error the current licence stays.
    pub fn reload_from(&self, file_text: &str) -> Result<License, LicenseError> {
        let license = verify_with_key(file_text, &self.public_key)?;
        // The guarded value is replaced whole, so a poisoned lock cannot hold
        // a half-written licence.
        let mut slot = self.license.write().unwrap_or_else(|e| e.into_inner());
        *slot = Some(license.clone());
        drop(slot);
        tracing::info!(
            license = %license.id,
            licensee = %license.licensee,
            edition = %license.edition,
            "licence installed"
        );
        Ok(license)
    }

    /// Reads the licence file at `path` and installs it like
    /// [`Self::reload_from`].
    pub fn reload_from_file(&self, path: impl AsRef<Path>) -> Result<License, LicenseError> {
        let text = read_license_file(path.as_ref())?;
        self.reload_from(&text)
    }
}
impl LicenseProvider for SignedLicenseProvider {
    fn current(&self) -> Option<License> {
        self.license.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
