//! The signed licence file: its JSON format, Ed25519 signing and
//! verification, and vendor key generation (see the format in the
//! [module documentation](super)).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::License;

/// The licence file format version this module reads and writes.
pub const LICENSE_FORMAT: u64 = 1;

/// The vendor's Ed25519 signing key: base64 of the 32-byte secret seed. Keep
/// it secret; it never belongs on a mail server.
pub type SigningKeyText = String;

/// The vendor's Ed25519 public key: base64 of the 32-byte key. Servers are
/// configured with it to verify licence files.
pub type PublicKeyText = String;

/// Why a licence file could not be produced, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    /// The licence file is not the expected JSON document.
    #[error("the licence file is not a valid licence document: {0}")]
    BadJson(String),
    /// The licence file has a format version this server does not read.
    #[error("licence file format {0} is not supported (this server reads format {LICENSE_FORMAT})")]
    UnsupportedFormat(u64),
    /// A required field of the licence file is missing.
    #[error("the licence file has no \"{0}\" field")]
    MissingField(&'static str),
    /// A field (or key) that must be base64 is not.
    #[error("the {field} is not valid base64: {detail}")]
    BadBase64 {
        /// Which value: "payload", "signature", "public key" or "signing key".
        field: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// A decoded key or signature has the wrong number of bytes.
    #[error("the {field} is {actual} bytes long, expected {expected}")]
    BadLength {
        /// Which value: "signature", "public key" or "signing key".
        field: &'static str,
        /// The required length.
        expected: usize,
        /// The decoded length.
        actual: usize,
    },
    /// The configured public key is not a usable Ed25519 public key.
    #[error("the configured public key is not a valid Ed25519 public key")]
    BadPublicKey,
    /// The signature does not match the payload under the configured key:
    /// the file was altered or signed by someone else.
    #[error("the licence signature does not verify with the configured public key")]
    BadSignature,
    /// The signed payload is not a valid [`License`].
    #[error("the signed licence payload is not a valid licence: {0}")]
    BadPayload(String),
    /// The licence could not be serialised for signing.
    #[error("cannot serialise the licence: {0}")]
    Serialize(String),
    /// The licence file could not be read.
    #[error("cannot read licence file {path}: {detail}")]
    Io {
        /// The file's path.
        path: String,
        /// The operating system's complaint.
        detail: String,
    },
}

/// The outer JSON document of a licence file.
#[derive(Serialize, Deserialize)]
struct LicenseFile {
    format: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

fn decode_b64(field: &'static str, text: &str) -> Result<Vec<u8>, LicenseError> {
    BASE64.decode(text.trim()).map_err(|e| LicenseError::BadBase64 { field, detail: e.to_string() })
}

pub(super) fn decode_fixed<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], LicenseError> {
    let bytes = decode_b64(field, text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| LicenseError::BadLength {
        field,
        expected: N,
        actual: bytes.len(),
    })
}

pub(super) fn parse_public_key(public_key_b64: &str) -> Result<VerifyingKey, LicenseError> {
    let bytes = decode_fixed::<32>("public key", public_key_b64)?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| LicenseError::BadPublicKey)?;
    if key.is_weak() {
        return Err(LicenseError::BadPublicKey);
    }
    Ok(key)
}

pub(super) fn verify_with_key(file_text: &str, key: &VerifyingKey) -> Result<License, LicenseError> {
    let file: LicenseFile = serde_json::from_str(file_text).map_err(|e| LicenseError::BadJson(e.to_string()))?;
    if file.format != LICENSE_FORMAT {
        return Err(LicenseError::UnsupportedFormat(file.format));
    }
    let payload_b64 = file.payload.ok_or(LicenseError::MissingField("payload"))?;
    let signature_b64 = file.signature.ok_or(LicenseError::MissingField("signature"))?;
    let payload = decode_b64("payload", &payload_b64)?;
    let signature = Signature::from_bytes(&decode_fixed::<64>("signature", &signature_b64)?);
    key.verify_strict(&payload, &signature).map_err(|_| LicenseError::BadSignature)?;
    serde_json::from_slice(&payload).map_err(|e| LicenseError::BadPayload(e.to_string()))
}

/// Creates a fresh vendor key pair from the operating system's random number
/// generator: (base64 of the 32-byte secret seed, base64 of the 32-byte
/// public key).
pub fn generate_vendor_keypair() -> (SigningKeyText, PublicKeyText) {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    (BASE64.encode(key.to_bytes()), BASE64.encode(key.verifying_key().to_bytes()))
}

/// Signs `license` with the vendor key (base64 of the 32-byte seed) and
/// returns the text of the licence file (see the
/// [format](super#signed-licence-file)).
pub fn sign_license(license: &License, signing_key_b64: &str) -> Result<String, LicenseError> {
    let seed = decode_fixed::<32>("signing key", signing_key_b64)?;
    let key = SigningKey::from_bytes(&seed);
    let payload = serde_json::to_vec(license).map_err(|e| LicenseError::Serialize(e.to_string()))?;
    let signature = key.sign(&payload);
    let file = LicenseFile {
        format: LICENSE_FORMAT,
        payload: Some(BASE64.encode(&payload)),
        signature: Some(BASE64.encode(signature.to_bytes())),
    };
    serde_json::to_string_pretty(&file).map_err(|e| LicenseError::Serialize(e.to_string()))
}

/// Verifies a licence file against the vendor public key (base64 of the
/// 32-byte key) and returns the licence it carries.
///
/// The signature is checked with Ed25519 `verify_strict` over the exact
/// decoded payload bytes before the payload is parsed. Whether the licence
/// has expired is not checked here (see [`License::is_expired`]).
pub fn verify_license(file_text: &str, public_key_b64: &str) -> Result<License, LicenseError> {
    let key = parse_public_key(public_key_b64)?;
    verify_with_key(file_text, &key)
}

/// Reads a licence file's text, naming the path on failure.
pub(super) fn read_license_file(path: &Path) -> Result<String, LicenseError> {
    std::fs::read_to_string(path)
        .map_err(|e| LicenseError::Io { path: path.display().to_string(), detail: e.to_string() })
}
