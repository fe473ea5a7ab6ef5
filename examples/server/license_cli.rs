//! `server license ...`: vendor key pairs and signed licences, so embedders
//! and tests can license editions.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use axigen_core::license::{Edition, Feature, License, generate_vendor_keypair, sign_license};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum LicenseCommand {
    /// Create a vendor key pair: DIR/vendor-signing.key (keep secret) and DIR/vendor-public.key.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Issue a signed licence file.
    Issue {
        /// The vendor signing key file written by `keygen`.
        #[arg(long)]
        signing_key: PathBuf,
        /// trial, office, business or enterprise.
        #[arg(long)]
        edition: String,
        /// Who the licence is for.
        #[arg(long, default_value = "unnamed licensee")]
        licensee: String,
        /// Licence identifier.
        #[arg(long)]
        id: Option<String>,
        /// Seat limits, e.g. `activesync=2,webmail=100`.
        #[arg(long, default_value = "")]
        seats: String,
        /// Maximum number of accounts on the server.
        #[arg(long)]
        max_accounts: Option<u32>,
        /// Expiry, as RFC 3339 (`2027-12-31T00:00:00Z`) or a number of days from now (`365d`).
        #[arg(long)]
        expires: Option<String>,
        /// Where to write the licence.
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: &LicenseCommand) -> ExitCode {
    match issue(cmd) {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("license: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_seats(text: &str) -> Result<BTreeMap<Feature, u32>, String> {
    let mut seats = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, n) = part.split_once('=').ok_or_else(|| format!("--seats: {part:?} is not FEATURE=COUNT"))?;
        let feature = Feature::from_str(name.trim()).map_err(|_| {
            let known: Vec<_> = Feature::ALL.iter().map(|f| f.as_str()).collect();
            format!("--seats: unknown feature {name:?} (known: {})", known.join(", "))
        })?;
        let n: u32 = n.trim().parse().map_err(|_| format!("--seats: {n:?} is not a count"))?;
        seats.insert(feature, n);
    }
    Ok(seats)
}

fn parse_expiry(text: &str, now: u64) -> Result<u64, String> {
    if let Some(days) = text.strip_suffix('d') {
        let days: u64 = days.parse().map_err(|_| format!("--expires: {text:?} is not a number of days"))?;
        return Ok(now + days * 86_400);
    }
    let t = humantime::parse_rfc3339_weak(text).map_err(|e| format!("--expires: {text:?}: {e}"))?;
    Ok(t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
}

fn issue(cmd: &LicenseCommand) -> Result<String, String> {
    match cmd {
        LicenseCommand::Keygen { out } => {
            std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
            let (secret, public) = generate_vendor_keypair();
            let secret_path = out.join("vendor-signing.key");
            let public_path = out.join("vendor-public.key");
            write_private(&secret_path, &secret)?;
            std::fs::write(&public_path, format!("{public}\n"))
                .map_err(|e| format!("{}: {e}", public_path.display()))?;
            Ok(format!(
                "wrote {} and {}\nput this in the server config:\n[license]\npublic_key = \"{public}\"",
                secret_path.display(),
                public_path.display()
            ))
        }
        LicenseCommand::Issue { signing_key, edition, licensee, id, seats, max_accounts, expires, out } => {
            let key = std::fs::read_to_string(signing_key).map_err(|e| format!("{}: {e}", signing_key.display()))?;
            let edition = Edition::from_str(edition).map_err(|_| format!("--edition: unknown edition {edition:?}"))?;
            let now = axigen_core::unix_now();
            let license = License {
                id: id.clone().unwrap_or_else(|| format!("lic-{now}")),
                licensee: licensee.clone(),
                edition,
                issued_at: now,
                expires_at: expires.as_deref().map(|e| parse_expiry(e, now)).transpose()?,
                max_accounts: *max_accounts,
                seats: parse_seats(seats)?,
            };
            let text = sign_license(&license, key.trim()).map_err(|e| e.to_string())?;
            std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))?;
            Ok(format!("wrote {} ({} edition)", out.display(), license.edition))
        }
    }
}

fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(f, "{text}").map_err(|e| format!("{}: {e}", path.display()))
}
