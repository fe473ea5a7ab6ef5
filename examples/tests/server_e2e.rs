//! End to end: the reference server binary, started as a user would, driven
//! over real sockets with `curl` as the HTTP client.
//!
//! Covers the foundation's "done when": a domain, a class with ActiveSync set
//! explicitly, accounts whose effective setting is inherited from the class;
//! a Business licence with 2 ActiveSync seats (issued with the server's own
//! `license` subcommands) that grants two accounts and refuses the third.

mod common;

use std::process::Command;

use common::{Server, curl, run_cli, server_binary};

#[test]
fn admin_api_inheritance_and_licence_seats_over_real_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Vendor key pair and a Business licence with 2 ActiveSync seats.
    run_cli(&["license", "keygen", "--out", d.join("vendor").to_str().unwrap()]);
    let public_key = std::fs::read_to_string(d.join("vendor/vendor-public.key")).unwrap();
    run_cli(&[
        "license",
        "issue",
        "--signing-key",
        d.join("vendor/vendor-signing.key").to_str().unwrap(),
        "--edition",
        "business",
        "--licensee",
        "e2e test",
        "--seats",
        "activesync=2",
        "--expires",
        "30d",
        "--out",
        d.join("license.json").to_str().unwrap(),
    ]);

    let config = d.join("server.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "data"
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

[[directory.domain]]
name = "declared.org"
settings = {{ "quota.messages" = 500 }}
[[directory.class]]
domain = "declared.org"
name = "staff"
settings = {{ "rpop.permitted" = true }}
[[directory.account]]
address = "john@declared.org"
password = "from the config"
class = "staff"
[[directory.alias]]
address = "sales@declared.org"
account = "john@declared.org"
"#,
            public_key.trim()
        ),
    )
    .unwrap();

    let server = Server::start(&config, &["http", "https"]);
    let password = server.admin_password().expect("first start prints the admin credential");
    let user = format!("admin:{password}");
    let api = format!("{}/api/v1", server.url("http", "http"));

    assert_eq!(curl("GET", &format!("{api}/domains"), "admin:wrong", None).0, 401);
    assert_eq!(curl("POST", &format!("{api}/domains"), &user, Some(r#"{"name":"example.com"}"#)).0, 201);
    assert_eq!(curl("POST", &format!("{api}/domains/example.com/classes"), &user, Some(r#"{"name":"mobile"}"#)).0, 201);
    let (code, class) = curl(
        "PATCH",
        &format!("{api}/domains/example.com/classes/mobile/settings"),
        &user,
        Some(r#"{"activesync.enabled": true}"#),
    );
    assert_eq!(code, 200, "{class}");
    assert_eq!(class["settings"]["activesync.enabled"], true);
    for name in ["ann", "bob", "cid"] {
        let body = format!(r#"{{"local_part":"{name}","password":"pw-{name}","class":"mobile"}}"#);
        let (code, v) = curl("POST", &format!("{api}/domains/example.com/accounts"), &user, Some(&body));
        assert_eq!(code, 201, "{v}");
        assert!(v.get("password_hash").is_none(), "hash leaked: {v}");
    }

    // The effective setting is inherited from the class.
    let (code, eff) = curl("GET", &format!("{api}/accounts/ann@example.com/effective"), &user, None);
    assert_eq!(code, 200, "{eff}");
    assert_eq!(eff["settings"]["activesync.enabled"]["value"], true, "{eff}");
    assert_eq!(eff["settings"]["activesync.enabled"]["source"]["level"], "class", "{eff}");
    assert_eq!(eff["settings"]["activesync.enabled"]["source"]["name"], "mobile", "{eff}");
    assert_eq!(eff["settings"]["quota.messages"]["source"]["level"], "default", "{eff}");

    // Business licence, 2 seats: ann and bob get one, cid is refused with the reason.
    for name in ["ann", "bob"] {
        let (code, v) = curl("POST", &format!("{api}/accounts/{name}@example.com/seats/activesync"), &user, None);
        assert_eq!(code, 200, "{name}: {v}");
    }
    let (code, v) = curl("POST", &format!("{api}/accounts/cid@example.com/seats/activesync"), &user, None);
    assert_eq!(code, 403, "{v}");
    let reason = v["error"].as_str().unwrap();
    assert!(reason.contains("2 activesync seats"), "{reason}");
    let (_, eff) = curl("GET", &format!("{api}/accounts/cid@example.com/effective"), &user, None);
    assert_eq!(eff["activesync"]["enabled"], false, "{eff}");
    assert!(eff["activesync"]["reason"].as_str().unwrap().contains("seats"), "{eff}");

    // Same API over the implicit-TLS listener with the development certificate.
    let (code, v) = curl("GET", &format!("{}/api/v1/license", server.url("https", "https")), &user, None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["license"]["edition"], "business", "{v}");

    // The declarative directory from the config file was applied.
    let (code, john) = curl("GET", &format!("{api}/accounts/john@declared.org/effective"), &user, None);
    assert_eq!(code, 200, "{john}");
    assert_eq!(john["settings"]["rpop.permitted"]["source"]["name"], "staff", "{john}");
    assert_eq!(john["settings"]["quota.messages"]["value"], 500, "{john}");
    let (_, aliases) = curl("GET", &format!("{api}/domains/declared.org/aliases"), &user, None);
    assert!(aliases.to_string().contains("sales@declared.org"), "{aliases}");

    // Graceful shutdown on SIGTERM, and everything is still there after a restart.
    assert_eq!(server.terminate(), 0, "clean exit on SIGTERM");
    let server = Server::start(&config, &["http", "https"]);
    assert_eq!(server.admin_password(), None, "the admin credential is printed only once");
    let api = format!("{}/api/v1", server.url("http", "http"));
    let (code, eff) = curl("GET", &format!("{api}/accounts/bob@example.com/effective"), &user, None);
    assert_eq!(code, 200, "{eff}");
    assert_eq!(eff["activesync"]["enabled"], true, "{eff}");
    // Applying the same declarative directory again changed nothing.
    let (_, john_again) = curl("GET", &format!("{api}/accounts/john@declared.org/effective"), &user, None);
    assert_eq!(john_again["id"], john["id"]);
    assert_eq!(john_again["settings"], john["settings"]);
    assert_eq!(server.terminate(), 0);

    // The store is consistent.
    let out = run_cli(&["--config", config.to_str().unwrap(), "check", "--deep"]);
    assert!(out.contains("store is consistent"), "{out}");
}

#[test]
fn a_bad_config_names_the_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[[listener]]\nservice = \"smpt\"\nbind = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(server_binary()).args(["--config", config.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listener[0].service"), "{err}");
}
