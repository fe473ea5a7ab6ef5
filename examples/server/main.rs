//! The axigen reference server: composes the library crates from a TOML
//! configuration. With no arguments it runs on the embedded default: a
//! RocksDB store in `./data` and loopback listeners on the standard ports plus
//! 10000.
//!
//! ```text
//! cargo run --example server                         # run on the embedded default
//! cargo run --example server -- --config FILE        # run with a configuration file
//! cargo run --example server -- check [--deep]       # consistency check of the store
//! cargo run --example server -- admin-password       # set a new admin password
//! cargo run --example server -- license keygen --out DIR
//! cargo run --example server -- license issue --signing-key FILE --edition business --seats activesync=2 --out FILE
//! ```

mod admin;
mod config;
mod license_cli;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "server", about = "axigen reference mail server")]
struct Cli {
    /// Configuration file (TOML); without it the embedded default is used.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Run,
    /// Verify the store: counters, UIDs, MODSEQs, blob references, change log.
    Check {
        /// Also re-hash every stored message.
        #[arg(long)]
        deep: bool,
    },
    /// Set a new random password for the admin API and print it.
    AdminPassword {
        /// Admin user name.
        #[arg(long, default_value = "admin")]
        user: String,
    },
    /// Vendor tools: key pairs and signed licences.
    License {
        #[command(subcommand)]
        command: license_cli::LicenseCommand,
    },
}

/// glibc raises its mmap threshold each time a large block is freed, after
/// which the 19 MiB argon2 buffers of password checks come from the heap
/// and stay resident (hundreds of MiB after a login storm). A fixed
/// threshold keeps every allocation above 1 MiB in its own mapping,
/// returned to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_mmap_threshold() {
    // SAFETY: mallopt only changes allocator tuning; it is called once,
    // before any thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_mmap_threshold() {}

fn main() -> ExitCode {
    fix_mmap_threshold();
    let cli = Cli::parse();
    if let Some(Command::License { command }) = &cli.command {
        return license_cli::run(command);
    }
    let config = match &cli.config {
        Some(path) => config::Config::load(path),
        None => Ok(config::Config::embedded_default()),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        None | Some(Command::Run) => run::run(config),
        Some(Command::Check { deep }) => run::check(config, deep),
        Some(Command::AdminPassword { user }) => run::admin_password(config, &user),
        Some(Command::License { .. }) => unreachable!("handled above"),
    }
}
