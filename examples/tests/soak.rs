//! A short run of the soak with crashes (`bench/soak.py`): SMTP, IMAP,
//! POP3, ActiveSync and RPOP at once while the server binary is killed with
//! SIGKILL every few seconds; nothing acknowledged may be lost or doubled,
//! and the store must check clean. The long run's figures are in the issue
//! notes; this one keeps the property tested on every change.

mod common;

use std::path::Path;
use std::process::Command;

use common::licensed::pyactivesync_installed;
use common::server_binary;

#[test]
fn a_short_soak_with_crashes_loses_nothing() {
    assert!(pyactivesync_installed(), "the soak drives ActiveSync with pyactivesync (installed by .ci/run)");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/soak.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["--server", server_binary().to_str().unwrap()])
        .args(["--duration", "45", "--kill-min", "3", "--kill-max", "7", "--seed", "12"])
        .output()
        .expect("python3 is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(out.status.success(), "the soak found problems:\n{stdout}\n{stderr}");
    assert!(stdout.contains("\"crashes\": "), "{stdout}");
    let crashes: u32 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"crashes\": "))
        .and_then(|n| n.trim_end_matches(',').parse().ok())
        .unwrap_or(0);
    assert!(crashes >= 5, "too few crashes to mean anything: {crashes}");
}
