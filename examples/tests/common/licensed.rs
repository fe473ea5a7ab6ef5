//! A reference server with a signed licence and the listeners the
//! ActiveSync tests use: `http` (admin API), `https` (implicit TLS, where
//! ActiveSync is served), `smtp` and `imaps`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{Server, curl, run_cli};

/// The server, its directory and an admin API client.
pub struct Licensed {
    pub dir: tempfile::TempDir,
    pub server: Server,
    admin: String,
    api: String,
}

/// Issues a licence into `dir/name` with the vendor key in `dir/vendor`; its text.
pub fn issue(dir: &Path, edition: &str, seats: &str, name: &str) -> String {
    run_cli(&[
        "license",
        "issue",
        "--signing-key",
        dir.join("vendor/vendor-signing.key").to_str().unwrap(),
        "--edition",
        edition,
        "--licensee",
        "end-to-end test",
        "--seats",
        seats,
        "--expires",
        "30d",
        "--out",
        dir.join(name).to_str().unwrap(),
    ]);
    std::fs::read_to_string(dir.join(name)).unwrap()
}

impl Licensed {
    /// Starts the server with a licence of `edition` and `seats` (e.g. `activesync=3`).
    pub fn start(edition: &str, seats: &str) -> Licensed {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        run_cli(&["license", "keygen", "--out", d.join("vendor").to_str().unwrap()]);
        let public_key = std::fs::read_to_string(d.join("vendor/vendor-public.key")).unwrap();
        issue(d, edition, seats, "license.json");
        let config = d.join("server.toml");
        std::fs::write(
            &config,
            format!(
                r#"data_dir = "data"
[delivery]
# The tests read the outbound queue: nothing leaves it.
enabled = false
[log]
format = "json"
[license]
public_key = "{}"
file = "license.json"
[[listener]]
name = "http"
service = "http"
bind = "127.0.0.1:0"
[[listener]]
name = "https"
service = "http"
bind = "127.0.0.1:0"
tls = "implicit"
[[listener]]
name = "smtp"
service = "smtp"
bind = "127.0.0.1:0"
[[listener]]
name = "imaps"
service = "imap"
bind = "127.0.0.1:0"
tls = "implicit"
"#,
                public_key.trim()
            ),
        )
        .unwrap();
        let server = Server::start(&config, &["http", "https", "smtp", "imaps"]);
        let admin = format!("admin:{}", server.admin_password().unwrap());
        let api = format!("{}/api/v1", server.url("http", "http"));
        Licensed { dir, server, admin, api }
    }

    /// `host:port` of a listener.
    pub fn listener(&self, name: &str) -> String {
        self.server.listeners[name].clone()
    }

    /// The admin API's base URL (`http://host:port/api/v1`).
    pub fn api(&self) -> &str {
        &self.api
    }

    /// The admin credential for curl (`admin:password`).
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// An admin API call that must succeed; its JSON answer.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Value {
        let (code, v) = curl(method, &format!("{}{path}", self.api), &self.admin, body);
        assert!(code < 300, "{method} {path}: {code} {v}");
        v
    }

    /// Another licence issued with the same vendor key; its text.
    pub fn issue(&self, edition: &str, seats: &str, name: &str) -> String {
        issue(self.dir.path(), edition, seats, name)
    }
}

/// Whether the PyPI client pyactivesync is installed; under CI its absence
/// fails the test instead of skipping it.
pub fn pyactivesync_installed() -> bool {
    let ok = Command::new("python3").args(["-c", "import pyactivesync"]).status().is_ok_and(|s| s.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("pyactivesync is not installed (CI installs it: pip install pyactivesync)");
    }
    ok
}
