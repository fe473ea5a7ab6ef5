//! Shared by the end-to-end tests: start the reference server binary as a
//! user would, find its listeners, and talk to it with real clients.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod licensed;

/// `target/debug/examples/server`, built by `cargo test` before the tests run.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join("server");
    assert!(bin.exists(), "{} not built (cargo test builds examples)", bin.display());
    bin
}

/// `examples/tests/clients/NAME`.
pub fn client_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("clients").join(name)
}

pub struct Server {
    pub child: Child,
    stdout: mpsc::Receiver<String>,
    /// Listener name to `host:port`.
    pub listeners: HashMap<String, String>,
}

impl Server {
    /// Starts the server with this config (which must use JSON logs) and
    /// waits until every listener named in `expect` is accepting.
    pub fn start(config: &Path, expect: &[&str]) -> Server {
        let mut child = Command::new(server_binary())
            .args(["--config", config.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (out_tx, out_rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        });
        let (addr_tx, addr_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // JSON logs: {"fields":{"message":"listening","listener":"http","addr":"127.0.0.1:N",...}}
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        let f = &v["fields"];
                        if f["message"] == "listening" && f["addr"].is_string() {
                            let name = f["listener"].as_str().unwrap_or("").to_owned();
                            let _ = addr_tx.send((name, f["addr"].as_str().unwrap().to_owned()));
                        }
                    }
                    Err(_) => eprintln!("server: {line}"),
                }
            }
        });
        let mut listeners = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !expect.iter().all(|n| listeners.contains_key(*n)) {
            let left = deadline.saturating_duration_since(Instant::now());
            let (name, addr) = addr_rx.recv_timeout(left).expect("server did not start listening");
            listeners.insert(name, addr);
        }
        Server { child, stdout: out_rx, listeners }
    }

    /// `http://host:port` of a listener.
    pub fn url(&self, listener: &str, scheme: &str) -> String {
        format!("{scheme}://{}", self.listeners[listener])
    }

    /// (host, port) of a listener.
    pub fn host_port(&self, listener: &str) -> (String, String) {
        let (h, p) = self.listeners[listener].rsplit_once(':').unwrap();
        (h.to_owned(), p.to_owned())
    }

    /// The admin password printed on first start, if this start printed one.
    pub fn admin_password(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Ok(line) = self.stdout.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if let Some(rest) = line.strip_prefix("First start: admin API credential is user `admin`, password `") {
                return Some(rest.trim_end_matches('`').to_owned());
            }
        }
        None
    }

    /// SIGTERM, then the exit code.
    pub fn terminate(mut self) -> i32 {
        send_signal(self.child.id(), "TERM");
        let status = self.child.wait().unwrap();
        status.code().unwrap_or(-1)
    }

    /// SIGKILL: a crash.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A test that fails half-way still stops the server it started.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn send_signal(pid: u32, signal: &str) {
    let ok = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill -{signal} {pid}");
}

/// One request with curl; returns (status, JSON body).
pub fn curl(method: &str, url: &str, user: &str, body: Option<&str>) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-k", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-u", user, url]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    let out = cmd.output().expect("curl is installed");
    let text = String::from_utf8(out.stdout).unwrap();
    let (json, code) = text.rsplit_once('\n').unwrap();
    let value =
        if json.is_empty() { Value::Null } else { serde_json::from_str(json).unwrap_or(Value::String(json.into())) };
    (code.parse().unwrap(), value)
}

/// Runs the server binary with arguments (a subcommand) and returns stdout.
pub fn run_cli(args: &[&str]) -> String {
    let out = Command::new(server_binary()).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
