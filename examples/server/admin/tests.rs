//! Tests of the admin API against a real RocksDB store in a temporary
//! directory. Requests go through [`AdminApi::respond`] (no socket), except
//! for the wire tests at the end, which use an in-memory duplex stream.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use axigen_core::devices::{Device, DeviceAccess, DeviceStore, WipeState};
use axigen_core::directory::Directory;
use axigen_core::license::{
    Edition, Feature, License, Licensing, SignedLicenseProvider, StaticLicenseProvider, generate_vendor_keypair,
    sign_license,
};
use axigen_store::{Store, StoreOptions};
use base64::Engine as _;
use bytes::Bytes;
use hyper::{Method, StatusCode, header};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const ADMIN_PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Fixture {
    _dir: TempDir,
    store: Arc<Store>,
    api: AdminApi,
}

fn business_license() -> License {
    let now = axigen_core::unix_now();
    License {
        id: "LIC-TEST".into(),
        licensee: "Example Ltd".into(),
        edition: Edition::Business,
        issued_at: now - 60,
        expires_at: None,
        max_accounts: Some(3),
        seats: [(Feature::ActiveSync, 2)].into(),
    }
}

async fn open_store() -> (TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), StoreOptions::default()).unwrap());
    store.set_admin_credential("admin", "pw").await.unwrap();
    (dir, store)
}

async fn fixture(license: Option<License>) -> Fixture {
    let (dir, store) = open_store().await;
    let licensing = Licensing::new(Arc::new(StaticLicenseProvider(license)), store.clone());
    let api = AdminApi::new(store.clone(), licensing, None, Arc::new(LoginThrottle::default()));
    Fixture { _dir: dir, store, api }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn body_of(body: Option<Value>) -> Bytes {
    body.map(|v| Bytes::from(serde_json::to_vec(&v).unwrap())).unwrap_or_default()
}

impl Fixture {
    /// An authenticated request with a JSON body.
    async fn req(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let auth = basic("admin", "pw");
        self.api.call(method, path, Some(&auth), body_of(body), ADMIN_PEER).await
    }

    /// An authenticated request with a raw body.
    async fn raw(&self, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
        let auth = basic("admin", "pw");
        self.api.call(method, path, Some(&auth), Bytes::from(body.to_owned()), ADMIN_PEER).await
    }
}

fn error_text(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_else(|| panic!("no error in {v}"))
}

fn has_password_hash(v: &Value) -> bool {
    let text = v.to_string();
    text.contains("password_hash") || text.contains("$argon2")
}

#[tokio::test]
async fn authentication_is_required_and_failures_are_throttled() {
    let f = fixture(Some(business_license())).await;
    let health = f.api.call(Method::GET, "/api/v1/health", None, Bytes::new(), ADMIN_PEER).await;
    assert_eq!(health, (StatusCode::OK, json!({"status": "ok"})));

    let no_auth = f.api.respond(&Method::GET, "/api/v1/domains", None, Bytes::new(), ADMIN_PEER).await;
    assert_eq!(no_auth.status, StatusCode::UNAUTHORIZED);
    let challenge = no_auth
        .headers
        .iter()
        .find(|(n, _)| n == header::WWW_AUTHENTICATE)
        .map(|(_, v)| v.to_str().unwrap().to_owned());
    assert_eq!(challenge.as_deref(), Some("Basic realm=\"axigen admin\""));

    for (user, password) in [("admin", "wrong"), ("root", "pw")] {
        let (status, body) =
            f.api.call(Method::GET, "/api/v1/domains", Some(&basic(user, password)), Bytes::new(), ADMIN_PEER).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{user}:{password}");
        assert_eq!(error_text(&body), "invalid credentials");
    }
    // A later success clears the count of the admin's address.
    assert_eq!(f.req(Method::GET, "/api/v1/domains", None).await.0, StatusCode::OK);

    // Another client guesses: three guesses answered at once, then each
    // waits (turns of 1 s, 2 s, ...), then 429 even with the right password.
    let attacker: IpAddr = "192.0.2.7".parse().unwrap();
    for attempt in 1..=3 {
        let wrong = basic("admin", &format!("guess {attempt}"));
        let (status, _) = f.api.call(Method::GET, "/api/v1/domains", Some(&wrong), Bytes::new(), attacker).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let started = Instant::now();
    let wrong = basic("admin", "guess 4");
    let (status, _) = f.api.call(Method::GET, "/api/v1/domains", Some(&wrong), Bytes::new(), attacker).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "the fourth guess waits");
    // The administrator sees the pair and clears the address.
    let (status, report) = f.req(Method::GET, "/api/v1/throttle", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["pairs"][0]["address"], "192.0.2.7");
    assert_eq!(report["pairs"][0]["login"], "admin");
    assert_eq!(report["pairs"][0]["state"], "delayed");
    assert_eq!(report["policy"]["guess_refuse"], 10);
    let (status, _) = f.req(Method::DELETE, "/api/v1/throttle/addresses/192.0.2.7", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(f.req(Method::DELETE, "/api/v1/throttle/addresses/192.0.2.7", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(f.req(Method::DELETE, "/api/v1/throttle/addresses/nowhere", None).await.0, StatusCode::BAD_REQUEST);
    assert!(f.req(Method::GET, "/api/v1/throttle", None).await.1["pairs"].as_array().unwrap().is_empty());
    // With a throttle that refuses at once: 429 with Retry-After.
    let strict = AdminApi::new(
        f.store.clone(),
        Licensing::new(Arc::new(StaticLicenseProvider(None)), f.store.clone()),
        None,
        Arc::new(LoginThrottle::new(axigen_core::login_throttle::ThrottlePolicy {
            guess_free: 0,
            guess_refuse: 1,
            ..Default::default()
        })),
    );
    let wrong = basic("admin", "guess");
    let (status, _) = strict.call(Method::GET, "/api/v1/domains", Some(&wrong), Bytes::new(), attacker).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let refused = strict.respond(&Method::GET, "/api/v1/domains", Some(&wrong), Bytes::new(), attacker).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused
        .headers
        .iter()
        .find(|(n, _)| n == header::RETRY_AFTER)
        .map(|(_, v)| v.to_str().unwrap().parse().unwrap())
        .expect("Retry-After");
    assert_eq!(retry_after, 300);
    let right = basic("admin", "pw");
    let (status, _) = strict.call(Method::GET, "/api/v1/domains", Some(&right), Bytes::new(), attacker).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Other clients are not affected.
    assert_eq!(f.req(Method::GET, "/api/v1/domains", None).await.0, StatusCode::OK);

    // Malformed headers count as failures too.
    let other: IpAddr = "2001:db8::1".parse().unwrap();
    for header in ["Bearer abc", "Basic !!!", "Basic YWRtaW4="] {
        let (status, _) = f.api.call(Method::GET, "/api/v1/domains", Some(header), Bytes::new(), other).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header}");
    }
}

#[tokio::test]
async fn directory_settings_and_activesync_seats() {
    let f = fixture(Some(business_license())).await;

    // Domain and class.
    let (status, domain) = f.req(Method::POST, "/api/v1/domains", Some(json!({"name": "Example.COM"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{domain}");
    assert_eq!(domain, json!({"name": "example.com", "settings": {}, "postmaster": null}));
    // The account that takes postmaster mail: a local part or an address of
    // the domain; null returns to the default (the first account).
    let (status, patched) =
        f.req(Method::PATCH, "/api/v1/domains/example.com", Some(json!({"postmaster": "hostmaster"}))).await;
    assert_eq!((status, &patched["postmaster"]), (StatusCode::OK, &json!("hostmaster")), "{patched}");
    let (status, refused) =
        f.req(Method::PATCH, "/api/v1/domains/example.com", Some(json!({"postmaster": "pm@elsewhere.example"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, patched) =
        f.req(Method::PATCH, "/api/v1/domains/example.com", Some(json!({"postmaster": null}))).await;
    assert_eq!((status, &patched["postmaster"]), (StatusCode::OK, &json!(null)), "{patched}");
    let (status, body) = f.req(Method::POST, "/api/v1/domains", Some(json!({"name": "example.com"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, list) = f.req(Method::GET, "/api/v1/domains", None).await;
    assert_eq!((status, list.as_array().unwrap().len()), (StatusCode::OK, 1));

    let (status, class) =
        f.req(Method::POST, "/api/v1/domains/example.com/classes", Some(json!({"name": "mobile"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{class}");
    let (status, class) = f
        .req(
            Method::PATCH,
            "/api/v1/domains/example.com/classes/mobile/settings",
            Some(json!({"activesync.enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{class}");
    assert_eq!(class["settings"], json!({"activesync.enabled": true}));

    // Three accounts in the class; the licence allows no fourth.
    for n in 1..=3 {
        let (status, account) = f
            .req(
                Method::POST,
                "/api/v1/domains/example.com/accounts",
                Some(json!({
                    "local_part": format!("user{n}"),
                    "password": format!("secret{n}"),
                    "class": "mobile",
                    "display_name": format!("User {n}"),
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{account}");
        assert_eq!(account["address"], format!("user{n}@example.com"));
        assert_eq!(account["class"], "mobile");
        assert!(!has_password_hash(&account), "{account}");
    }
    let (status, body) = f
        .req(
            Method::POST,
            "/api/v1/domains/example.com/accounts",
            Some(json!({"local_part": "user4", "password": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error_text(&body).contains("at most 3 accounts"), "{body}");
    assert_eq!(body["refusal"]["reason"], "account_limit");

    let (status, accounts) = f.req(Method::GET, "/api/v1/domains/example.com/accounts", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(accounts.as_array().unwrap().len(), 3);
    assert!(!has_password_hash(&accounts), "{accounts}");
    let (status, account) = f.req(Method::GET, "/api/v1/accounts/user1%40example.com", None).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["display_name"], "User 1");
    assert!(!has_password_hash(&account), "{account}");

    // Effective view: the class turns ActiveSync on.
    let (status, eff) = f.req(Method::GET, "/api/v1/accounts/user1@example.com/effective", None).await;
    assert_eq!(status, StatusCode::OK, "{eff}");
    assert_eq!(
        eff["settings"]["activesync.enabled"],
        json!({"value": true, "source": {"level": "class", "name": "mobile"}})
    );
    assert_eq!(eff["settings"]["service.imap"], json!({"value": true, "source": {"level": "default"}}));
    assert_eq!(eff["licence"]["activesync"], json!({"state": "would_be_granted", "limit": 2, "holders": 0}));
    assert_eq!(eff["activesync"]["enabled"], true);
    assert!(
        eff["activesync"]["reason"].as_str().unwrap().starts_with("enabled (inherited from class `mobile`)"),
        "{eff}"
    );
    assert!(!has_password_hash(&eff));

    // Seats: two granted, the third refused.
    for n in 1..=2 {
        let (status, grant) =
            f.req(Method::POST, &format!("/api/v1/accounts/user{n}@example.com/seats/activesync"), None).await;
        assert_eq!(status, StatusCode::OK, "{grant}");
        assert_eq!(grant["seat_limited"], true);
        assert_eq!(grant["new_seat"], true);
    }
    let (status, refusal) = f.req(Method::POST, "/api/v1/accounts/user3@example.com/seats/activesync", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refusal}");
    assert!(error_text(&refusal).contains("2 activesync seats"), "{refusal}");
    assert_eq!(refusal["refusal"], json!({"reason": "no_free_seat", "feature": "activesync", "limit": 2}));

    let (_, eff1) = f.req(Method::GET, "/api/v1/accounts/user1@example.com/effective", None).await;
    assert_eq!(
        eff1["activesync"],
        json!({"enabled": true, "reason": "enabled (inherited from class `mobile`), seat 1 of 2"})
    );
    let (_, eff3) = f.req(Method::GET, "/api/v1/accounts/user3@example.com/effective", None).await;
    assert_eq!(
        eff3["activesync"],
        json!({"enabled": false, "reason": "enabled (inherited from class `mobile`) but refused: all 2 activesync seats of the licence are in use"})
    );
    assert_eq!(eff3["licence"]["activesync"]["state"], "refused");

    let (status, licence) = f.req(Method::GET, "/api/v1/license", None).await;
    assert_eq!(status, StatusCode::OK, "{licence}");
    assert_eq!(licence["license"]["edition"], "business");
    assert_eq!(
        licence["seats"]["activesync"],
        json!({"limit": 2, "holders": ["user1@example.com", "user2@example.com"]})
    );
    assert_eq!(licence["accounts"], json!({"count": 3, "max": 3}));

    // Release user2's seat; user3 gets it.
    let path2 = "/api/v1/accounts/user2@example.com/seats/activesync";
    assert_eq!(f.req(Method::DELETE, path2, None).await.0, StatusCode::OK);
    assert_eq!(f.req(Method::DELETE, path2, None).await.0, StatusCode::NOT_FOUND);
    let (status, grant) = f.req(Method::POST, "/api/v1/accounts/user3@example.com/seats/activesync", None).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    let (_, licence) = f.req(Method::GET, "/api/v1/license", None).await;
    assert_eq!(licence["seats"]["activesync"]["holders"], json!(["user1@example.com", "user3@example.com"]));
    let (status, body) = f.req(Method::POST, "/api/v1/accounts/user1@example.com/seats/teleport", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Bad settings are refused with the key named.
    let class_settings = "/api/v1/domains/example.com/classes/mobile/settings";
    for (patch, key) in [
        (json!({"quota.messages": true}), "quota.messages"),
        (json!({"activesync.enabled": 3}), "activesync.enabled"),
        (json!({"quota.messages": "lots"}), "quota.messages"),
        (json!({"quota.messages": -1}), "quota.messages"),
        (json!({"activesync.enabeld": true}), "activesync.enabeld"),
    ] {
        let (status, body) = f.req(Method::PATCH, class_settings, Some(patch.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch} -> {body}");
        assert!(error_text(&body).contains(key), "{patch} -> {body}");
    }
    let (status, body) = f
        .req(
            Method::POST,
            "/api/v1/domains/example.com/classes",
            Some(json!({"name": "basic", "settings": {"no.such": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_text(&body).contains("no.such"), "{body}");
    let (_, class) = f.req(Method::GET, "/api/v1/domains/example.com/classes/mobile", None).await;
    assert_eq!(class["settings"], json!({"activesync.enabled": true}), "unchanged");

    // A class in use cannot be deleted.
    let (status, body) = f.req(Method::DELETE, "/api/v1/domains/example.com/classes/mobile", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Leaving the class falls back to the default; a domain setting then shows.
    let (status, account) = f
        .req(Method::PATCH, "/api/v1/accounts/user1@example.com", Some(json!({"class": null, "display_name": "First"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["class"], Value::Null);
    assert_eq!(account["display_name"], "First");
    let (_, eff) = f.req(Method::GET, "/api/v1/accounts/user1@example.com/effective", None).await;
    assert_eq!(eff["activesync"], json!({"enabled": false, "reason": "disabled: server default"}));
    let (status, domain) = f
        .req(
            Method::PATCH,
            "/api/v1/domains/example.com/settings",
            Some(json!({"activesync.enabled": false, "quota.messages": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{domain}");
    let (_, eff) = f.req(Method::GET, "/api/v1/accounts/user1@example.com/effective", None).await;
    assert_eq!(eff["activesync"]["reason"], "disabled: inherited from domain `example.com`");
    let (_, domain) = f
        .req(Method::PATCH, "/api/v1/domains/example.com/settings", Some(json!({"activesync.enabled": "inherit"})))
        .await;
    assert_eq!(domain["settings"], json!({"quota.messages": 1000}));

    // Account-level settings and a new password.
    let (status, account) = f
        .req(Method::PATCH, "/api/v1/accounts/user2@example.com/settings", Some(json!({"activesync.enabled": false})))
        .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let (_, eff) = f.req(Method::GET, "/api/v1/accounts/user2@example.com/effective", None).await;
    assert_eq!(eff["activesync"]["reason"], "disabled: set explicitly on the account");
    let (status, account) =
        f.req(Method::PATCH, "/api/v1/accounts/user2@example.com", Some(json!({"password": "new secret"}))).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["class"], "mobile", "class left unchanged");
    assert!(!has_password_hash(&account));
    assert!(f.store.authenticate("user2@example.com", "new secret").await.is_ok());
    assert!(f.store.authenticate("user2@example.com", "secret2").await.is_err());
    let (status, _) =
        f.req(Method::PATCH, "/api/v1/accounts/user2@example.com", Some(json!({"class": "nosuch"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Aliases.
    let (status, alias) =
        f.req(Method::PUT, "/api/v1/aliases/info@example.com", Some(json!({"account": "user3@example.com"}))).await;
    assert_eq!(status, StatusCode::OK, "{alias}");
    assert_eq!(alias["account"], "user3@example.com");
    let (_, aliases) = f.req(Method::GET, "/api/v1/domains/example.com/aliases", None).await;
    assert_eq!(aliases[0]["address"], "info@example.com");
    let (status, _) =
        f.req(Method::PUT, "/api/v1/aliases/user1@example.com", Some(json!({"account": "user3@example.com"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "an account's address");
    assert_eq!(f.req(Method::DELETE, "/api/v1/aliases/info@example.com", None).await.0, StatusCode::OK);
    assert_eq!(f.req(Method::DELETE, "/api/v1/aliases/info@example.com", None).await.0, StatusCode::NOT_FOUND);

    // Consistency check.
    let (status, report) = f.req(Method::POST, "/api/v1/check?deep=true", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!(report["accounts"], 3);

    // Deleting an account frees its seat and its slot.
    let (status, _) = f.req(Method::DELETE, "/api/v1/accounts/user3@example.com", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, licence) = f.req(Method::GET, "/api/v1/license", None).await;
    assert_eq!(licence["seats"]["activesync"]["holders"], json!(["user1@example.com"]));
    assert_eq!(f.req(Method::GET, "/api/v1/accounts/user3@example.com", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(f.req(Method::DELETE, "/api/v1/domains/example.com", None).await.0, StatusCode::CONFLICT);
}

#[tokio::test]
async fn request_errors() {
    let f = fixture(None).await;
    let (status, body) = f.raw(Method::POST, "/api/v1/domains", "{").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).starts_with("malformed JSON body"), "{body}");
    let (status, body) = f.req(Method::POST, "/api/v1/domains", Some(json!({"nmae": "x.org"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).contains("nmae"), "{body}");
    let (status, body) = f.req(Method::POST, "/api/v1/domains", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).contains("missing field `name`"), "{body}");
    let (status, body) = f.req(Method::POST, "/api/v1/domains", Some(json!({"name": "bad name"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let big = "x".repeat(MAX_BODY + 1);
    assert_eq!(f.raw(Method::POST, "/api/v1/domains", &big).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    for path in ["/api/v1/nothing", "/api/v2/domains", "/", "/api/v1/domains/a.org/x/y"] {
        let (status, body) = f.req(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, body) = f.req(Method::GET, "/api/v1/domains/nope.org", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = f.req(Method::GET, "/api/v1/accounts/nobody", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let reply =
        f.api.respond(&Method::DELETE, "/api/v1/settings", Some(&basic("admin", "pw")), Bytes::new(), ADMIN_PEER).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.headers.iter().any(|(n, v)| n == header::ALLOW && v == "GET"));
    assert_eq!(f.req(Method::POST, "/api/v1/health", None).await.0, StatusCode::METHOD_NOT_ALLOWED);

    let (status, catalogue) = f.req(Method::GET, "/api/v1/settings", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(catalogue.as_array().unwrap().iter().any(|s| s["name"] == "activesync.enabled" && s["default"] == false));

    // Without a licence there is no account limit, and ActiveSync is refused.
    f.req(Method::POST, "/api/v1/domains", Some(json!({"name": "a.org", "settings": {"activesync.enabled": true}})))
        .await;
    for n in 0..4 {
        let (status, body) = f
            .req(
                Method::POST,
                "/api/v1/domains/a.org/accounts",
                Some(json!({"local_part": format!("u{n}"), "password": "p"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) =
        f.req(Method::POST, "/api/v1/domains/a.org/accounts", Some(json!({"local_part": "u0", "password": "p"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, eff) = f.req(Method::GET, "/api/v1/accounts/u0@a.org/effective", None).await;
    assert_eq!(
        eff["activesync"],
        json!({"enabled": false, "reason": "enabled (inherited from domain `a.org`) but refused: no licence is installed"})
    );
    let (status, body) = f.req(Method::POST, "/api/v1/accounts/u0@a.org/seats/webmail", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["refusal"]["reason"], "no_license");
    let (status, licence) = f.req(Method::GET, "/api/v1/license", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(licence["license"], Value::Null);

    // No vendor key: licences cannot be installed.
    let (status, body) = f.raw(Method::PUT, "/api/v1/license", "{}").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(f.req(Method::POST, "/api/v1/check?deep=maybe", None).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn install_a_signed_licence() {
    let (dir, store) = open_store().await;
    let (secret, public) = generate_vendor_keypair();
    let provider = Arc::new(SignedLicenseProvider::without_license(&public).unwrap());
    let licensing = Licensing::new(provider.clone(), store.clone());
    let f = Fixture {
        _dir: dir,
        store: store.clone(),
        api: AdminApi::new(store, licensing, Some(provider), Arc::new(LoginThrottle::default())),
    };

    let (status, body) = f.raw(Method::PUT, "/api/v1/license", "not a licence").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).contains("not a valid licence document"), "{body}");
    let (other_secret, _) = generate_vendor_keypair();
    let forged = sign_license(&business_license(), &other_secret).unwrap();
    let (status, body) = f.raw(Method::PUT, "/api/v1/license", &forged).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).contains("signature"), "{body}");
    assert_eq!(f.req(Method::GET, "/api/v1/license", None).await.1["license"], Value::Null);

    let good = sign_license(&business_license(), &secret).unwrap();
    let (status, body) = f.raw(Method::PUT, "/api/v1/license", &good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["license"]["id"], "LIC-TEST");
    let (_, licence) = f.req(Method::GET, "/api/v1/license", None).await;
    assert_eq!(licence["license"]["id"], "LIC-TEST");
    assert_eq!(licence["expired"], false);
    assert_eq!(licence["seats"]["activesync"], json!({"limit": 2, "holders": []}));
}

// ---------------------------------------------------------------------------
// Over the wire
// ---------------------------------------------------------------------------

async fn exchange(api: &Arc<AdminApi>, request: &str) -> String {
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(api.clone().serve_connection(server, "127.0.0.1:40000".parse().unwrap()));
    client.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(30), client.read_to_string(&mut response))
        .await
        .expect("the server answers and closes")
        .unwrap();
    drop(client);
    task.await.unwrap();
    response
}

#[tokio::test]
async fn serves_http_over_a_connection() {
    fn assert_send<T: Send>(_: &T) {}
    let f = fixture(Some(business_license())).await;
    let api = Arc::new(f.api);
    let (_, server) = tokio::io::duplex(64);
    assert_send(&api.clone().serve_connection(server, "127.0.0.1:1".parse().unwrap()));

    let response = exchange(&api, "GET /api/v1/health HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.to_ascii_lowercase().contains("content-type: application/json"));
    assert!(response.ends_with("{\"status\":\"ok\"}\n"), "{response}");

    let response = exchange(&api, "GET /api/v1/domains HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{response}");
    assert!(response.to_ascii_lowercase().contains("www-authenticate: basic realm=\"axigen admin\""), "{response}");

    let body = r#"{"name":"wire.example"}"#;
    let response = exchange(
        &api,
        &format!(
            "POST /api/v1/domains HTTP/1.1\r\nHost: admin\r\nAuthorization: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            basic("admin", "pw"),
            body.len()
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 201 Created\r\n"), "{response}");
    assert!(response.contains("\"name\":\"wire.example\""), "{response}");

    let response = exchange(
        &api,
        "POST /api/v1/domains HTTP/1.1\r\nHost: admin\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{response}");
}

#[tokio::test]
async fn server_level_settings_can_be_read_and_set() {
    let f = fixture(None).await;
    let (status, view) = f.req(Method::GET, "/api/v1/defaults", None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["quota.messages"], json!({"value": 0, "level": "built-in"}));
    let (status, view) = f.req(Method::PATCH, "/api/v1/defaults", Some(json!({"quota.messages": 250}))).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["quota.messages"], json!({"value": 250, "level": "server"}));
    let (status, err) = f.req(Method::PATCH, "/api/v1/defaults", Some(json!({"quota.messages": true}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&err).contains("quota.messages"), "{err}");
    let (_, view) = f.req(Method::PATCH, "/api/v1/defaults", Some(json!({"quota.messages": "inherit"}))).await;
    assert_eq!(view["quota.messages"], json!({"value": 0, "level": "built-in"}));
}

/// A device as the ActiveSync endpoint would have recorded it.
fn phone(account: axigen_core::model::AccountId, id: &str, model: &str) -> Device {
    Device {
        account,
        device_id: id.into(),
        device_type: "iPhone".into(),
        model: Some(model.into()),
        friendly_name: Some("Work phone".into()),
        os: Some("iOS 17.4".into()),
        user_agent: Some("Apple-iPhone15C2/2104.90".into()),
        protocol_version: "16.1".into(),
        first_seen: 1_700_000_000,
        last_sync: 1_700_000_500,
        policy_key: 0,
        pending_policy_key: None,
        policy_digest: None,
        access: DeviceAccess::Allowed,
        wipe: WipeState::None,
    }
}

/// A fixture with `alice@example.com` (two devices, one provisioned with sync
/// state) and `bob@example.com` (none).
async fn device_fixture() -> (Fixture, axigen_core::model::AccountId) {
    let f = fixture(None).await;
    f.req(Method::POST, "/api/v1/domains", Some(json!({"name": "example.com"}))).await;
    for user in ["alice", "bob"] {
        let (status, body) = f
            .req(
                Method::POST,
                "/api/v1/domains/example.com/accounts",
                Some(json!({"local_part": user, "password": "p"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let alice = f
        .store
        .account_by_address(&axigen_core::model::Address::parse("alice@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let mut provisioned = phone(alice, "ApplF17XYZ", "iPhone15,2");
    provisioned.policy_key = 3_141_592;
    provisioned.policy_digest = Some("digest".into());
    f.store.put_device(provisioned).await.unwrap();
    f.store.put_device(phone(alice, "Andr0id1", "Pixel 8")).await.unwrap();
    f.store.put_sync_state(alice, "ApplF17XYZ", "", b"hierarchy".to_vec()).await.unwrap();
    f.store.put_sync_state(alice, "ApplF17XYZ", "5", b"inbox".to_vec()).await.unwrap();
    (f, alice)
}

const ALICE_PHONE: &str = "/api/v1/accounts/alice@example.com/devices/ApplF17XYZ";

#[tokio::test]
async fn devices_are_listed_and_shown_per_account() {
    let (f, _) = device_fixture().await;
    let (status, list) = f.req(Method::GET, "/api/v1/accounts/alice%40example.com/devices", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|d| d["device_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["Andr0id1", "ApplF17XYZ"]);
    assert_eq!(
        list[1],
        json!({
            "device_id": "ApplF17XYZ",
            "device_type": "iPhone",
            "model": "iPhone15,2",
            "friendly_name": "Work phone",
            "os": "iOS 17.4",
            "user_agent": "Apple-iPhone15C2/2104.90",
            "protocol_version": "16.1",
            "first_seen": 1_700_000_000,
            "last_sync": 1_700_000_500,
            "provisioned": true,
            "access": "allowed",
            "wipe": {"state": "none"},
        })
    );
    assert_eq!(list[0]["provisioned"], false);
    // The policy key itself is never shown.
    assert!(!list.to_string().contains("3141592") && !list.to_string().contains("digest"), "{list}");

    let (status, one) = f.req(Method::GET, ALICE_PHONE, None).await;
    assert_eq!((status, &one), (StatusCode::OK, &list[1]));
    let (status, empty) = f.req(Method::GET, "/api/v1/accounts/bob@example.com/devices", None).await;
    assert_eq!((status, empty), (StatusCode::OK, json!([])));

    // Another account's device is not found under this one.
    let (status, body) = f.req(Method::GET, "/api/v1/accounts/bob@example.com/devices/ApplF17XYZ", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_text(&body), "device ApplF17XYZ of account bob@example.com does not exist");
    for path in ["/api/v1/accounts/nobody@example.com/devices", "/api/v1/accounts/nobody@example.com/devices/Phone1"] {
        let (status, body) = f.req(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(error_text(&body), "account nobody@example.com does not exist");
    }
    let (status, body) = f.req(Method::GET, "/api/v1/accounts/alice@example.com/devices/not-valid", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_text(&body).contains("1 to 32 ASCII letters or digits"), "{body}");

    let reply = f
        .api
        .respond(
            &Method::POST,
            "/api/v1/accounts/alice@example.com/devices",
            Some(&basic("admin", "pw")),
            Bytes::new(),
            ADMIN_PEER,
        )
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.headers.iter().any(|(n, v)| n == header::ALLOW && v == "GET"));
    assert_eq!(f.req(Method::PATCH, ALICE_PHONE, None).await.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(f.req(Method::GET, &format!("{ALICE_PHONE}/access"), None).await.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(f.req(Method::PUT, &format!("{ALICE_PHONE}/wipe"), None).await.0, StatusCode::METHOD_NOT_ALLOWED);

    // The store check counts them.
    let (status, report) = f.req(Method::POST, "/api/v1/check", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!((report["clean"].clone(), report["devices"].clone()), (json!(true), json!(2)));
    assert_eq!(report["sync_states"], 2);
}

#[tokio::test]
async fn device_access_is_set_in_the_store() {
    let (f, alice) = device_fixture().await;
    let access = format!("{ALICE_PHONE}/access");
    for (value, expected) in [
        ("blocked", DeviceAccess::Blocked),
        ("quarantined", DeviceAccess::Quarantined),
        ("allowed", DeviceAccess::Allowed),
    ] {
        let (status, body) = f.req(Method::PUT, &access, Some(json!({ "access": value }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["access"], value);
        // What the ActiveSync endpoint reads at the device's next request.
        let stored = f.store.device(alice, "ApplF17XYZ").await.unwrap().unwrap();
        assert_eq!(stored.access, expected);
        // Nothing else of the record changes.
        assert_eq!((stored.policy_key, stored.last_sync), (3_141_592, 1_700_000_500));
    }

    let (status, body) = f.req(Method::PUT, &access, Some(json!({"access": "denied"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).contains("unknown variant `denied`"), "{body}");
    let (status, body) = f.req(Method::PUT, &access, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).contains("missing field `access`"), "{body}");
    let (status, body) = f
        .req(Method::PUT, "/api/v1/accounts/alice@example.com/devices/Gone1/access", Some(json!({"access": "blocked"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_text(&body), "device Gone1 of account alice@example.com does not exist");
    assert!(f.store.device(alice, "Gone1").await.unwrap().is_none(), "no record is made for an unknown device");
    assert_eq!(f.store.device(alice, "Andr0id1").await.unwrap().unwrap().access, DeviceAccess::Allowed);
}

#[tokio::test]
async fn remote_wipe_is_requested_withdrawn_and_re_armed() {
    let (f, alice) = device_fixture().await;
    let wipe = format!("{ALICE_PHONE}/wipe");
    let stored_wipe = || async { f.store.device(alice, "ApplF17XYZ").await.unwrap().unwrap().wipe };

    // The scope must be given.
    let (status, body) = f.req(Method::POST, &wipe, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).contains("missing field `account_only`"), "{body}");
    assert_eq!(stored_wipe().await, WipeState::None);
    // Nothing to withdraw yet.
    let (status, body) = f.req(Method::DELETE, &wipe, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_text(&body).contains("no remote wipe is pending"), "{body}");

    let before = axigen_core::unix_now() as i64;
    let (status, body) = f.req(Method::POST, &wipe, Some(json!({"account_only": true}))).await;
    let after = axigen_core::unix_now() as i64;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["wipe"]["state"], "pending");
    assert_eq!(body["wipe"]["account_only"], true);
    let WipeState::Pending { account_only: true, requested_at } = stored_wipe().await else {
        panic!("not pending: {:?}", stored_wipe().await)
    };
    assert!((before..=after).contains(&requested_at), "{requested_at}");
    // Asked again before the device was told: the latest scope decides.
    let (status, body) = f.req(Method::POST, &wipe, Some(json!({"account_only": false}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(matches!(stored_wipe().await, WipeState::Pending { account_only: false, .. }));
    // Withdrawn while pending.
    let (status, body) = f.req(Method::DELETE, &wipe, None).await;
    assert_eq!((status, &body["wipe"]), (StatusCode::OK, &json!({"state": "none"})), "{body}");
    assert_eq!(stored_wipe().await, WipeState::None);

    // Once the device was told, neither a new request nor a withdrawal is taken.
    f.req(Method::POST, &wipe, Some(json!({"account_only": false}))).await;
    let mut device = f.store.device(alice, "ApplF17XYZ").await.unwrap().unwrap();
    device.wipe = WipeState::Sent { account_only: false, sent_at: 1_700_003_000 };
    f.store.put_device(device.clone()).await.unwrap();
    let (status, body) = f.req(Method::POST, &wipe, Some(json!({"account_only": true}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_text(&body).contains("not acknowledged yet"), "{body}");
    let (status, body) = f.req(Method::DELETE, &wipe, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_text(&body).contains("cannot be withdrawn"), "{body}");
    assert_eq!(stored_wipe().await, device.wipe);

    // After the device confirmed, a new wipe re-arms.
    device.wipe = WipeState::Acknowledged { account_only: false, at: 1_700_003_100 };
    f.store.put_device(device.clone()).await.unwrap();
    let (status, body) = f.req(Method::GET, ALICE_PHONE, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["wipe"], json!({"state": "acknowledged", "account_only": false, "at": 1_700_003_100}));
    let (status, body) = f.req(Method::POST, &wipe, Some(json!({"account_only": true}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(matches!(stored_wipe().await, WipeState::Pending { account_only: true, .. }));

    let (status, body) = f
        .req(Method::POST, "/api/v1/accounts/alice@example.com/devices/Gone1/wipe", Some(json!({"account_only": true})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = f
        .req(
            Method::POST,
            "/api/v1/accounts/nobody@example.com/devices/Gone1/wipe",
            Some(json!({"account_only": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn removing_a_partnership_deletes_the_device_and_its_sync_state() {
    let (f, alice) = device_fixture().await;
    // A wipe in progress protects the partnership unless forced.
    f.req(Method::POST, &format!("{ALICE_PHONE}/wipe"), Some(json!({"account_only": false}))).await;
    let (status, body) = f.req(Method::DELETE, ALICE_PHONE, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_text(&body).contains("force=true"), "{body}");
    assert!(f.store.device(alice, "ApplF17XYZ").await.unwrap().is_some());
    assert_eq!(f.req(Method::DELETE, &format!("{ALICE_PHONE}?force=maybe"), None).await.0, StatusCode::BAD_REQUEST);

    let (status, body) = f.req(Method::DELETE, &format!("{ALICE_PHONE}?force=true"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"deleted": "ApplF17XYZ"})));
    assert_eq!(f.store.device(alice, "ApplF17XYZ").await.unwrap(), None);
    assert_eq!(f.store.sync_state(alice, "ApplF17XYZ", "").await.unwrap(), None);
    assert_eq!(f.store.sync_state(alice, "ApplF17XYZ", "5").await.unwrap(), None);
    let (status, body) = f.req(Method::DELETE, ALICE_PHONE, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = f.req(Method::GET, ALICE_PHONE, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Without a wipe in progress no force is needed; the other device is kept.
    f.store.put_sync_state(alice, "Andr0id1", "", b"h".to_vec()).await.unwrap();
    let (status, _) = f.req(Method::DELETE, "/api/v1/accounts/alice@example.com/devices/Andr0id1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(f.store.devices(alice).await.unwrap().is_empty());
    assert_eq!(f.store.sync_state(alice, "Andr0id1", "").await.unwrap(), None);
    let (_, report) = f.req(Method::POST, "/api/v1/check", None).await;
    assert_eq!((report["clean"].clone(), report["devices"].clone()), (json!(true), json!(0)));

    // Deleting the account through the API takes its devices too.
    f.store.put_device(phone(alice, "Phone2", "Pixel 8")).await.unwrap();
    f.store.put_sync_state(alice, "Phone2", "", b"h".to_vec()).await.unwrap();
    assert_eq!(f.req(Method::DELETE, "/api/v1/accounts/alice@example.com", None).await.0, StatusCode::OK);
    let (_, report) = f.req(Method::POST, "/api/v1/check", None).await;
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!((report["devices"].clone(), report["sync_states"].clone()), (json!(0), json!(0)));
}

#[tokio::test]
async fn the_outbound_queue_is_listed_retried_and_deleted() {
    use axigen_core::queue::{Attempt, OutboundMessage, QueueStore, RecipientState};
    let f = fixture(Some(business_license())).await;
    let message = |to: &str| OutboundMessage {
        message_id: String::new(),
        from: "ann@example.com".into(),
        recipients: vec![to.into(), "second@remote.example".into()],
        content: Bytes::from_static(b"Subject: hi\r\n\r\nhello\r\n"),
    };
    let first = f.store.enqueue(message("first@remote.example")).await.unwrap();
    let later = axigen_core::unix_now() + 3600;
    let outcomes = vec![
        ("first@remote.example".into(), RecipientState::Delivered { at: 1, reply: "250 ok".into() }),
        ("second@remote.example".into(), RecipientState::Deferred { last_error: "451 busy".into() }),
    ];
    let attempt = Attempt { outcomes, next_attempt: later, counts: true, delay_notified: false };
    f.store.record_attempt(first, attempt).await.unwrap();
    let other = f.store.enqueue(message("third@remote.example")).await.unwrap();

    let (status, list) = f.req(Method::GET, "/api/v1/queue", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["stats"], json!({"queued": 2, "deferred": 1, "delivered": 1, "failed": 0}), "{list}");
    assert_eq!(list["messages"].as_array().unwrap().len(), 2, "{list}");
    let (status, one) = f.req(Method::GET, &format!("/api/v1/queue/{}", first.0), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["recipients"][0]["state"], "delivered", "{one}");
    assert_eq!(one["recipients"][1]["state"], "deferred", "{one}");
    assert_eq!(one["recipients"][1]["last_error"], "451 busy", "{one}");
    assert_eq!(one["next_attempt"], later, "{one}");

    // Retry now: due at once.
    let (status, _) = f.req(Method::POST, &format!("/api/v1/queue/{}/retry", first.0), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, one) = f.req(Method::GET, &format!("/api/v1/queue/{}", first.0), None).await;
    assert!(one["next_attempt"].as_u64().unwrap() <= axigen_core::unix_now(), "{one}");

    // Delete; then it is gone, and bad ids are refused.
    let (status, _) = f.req(Method::DELETE, &format!("/api/v1/queue/{}", other.0), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = f.req(Method::GET, &format!("/api/v1/queue/{}", other.0), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(f.req(Method::DELETE, &format!("/api/v1/queue/{}", other.0), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(f.req(Method::POST, "/api/v1/queue/999/retry", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(f.req(Method::GET, "/api/v1/queue/abc", None).await.0, StatusCode::BAD_REQUEST);
    let (_, stats) = f.req(Method::GET, "/api/v1/queue/stats", None).await;
    assert_eq!(stats["queued"], 1, "{stats}");
}

#[tokio::test]
async fn rpop_sources_are_managed_per_account_and_follow_the_policy() {
    let f = fixture(Some(business_license())).await;
    f.req(Method::POST, "/api/v1/domains", Some(json!({"name": "example.com"}))).await;
    let (status, _) = f
        .req(Method::POST, "/api/v1/domains/example.com/accounts", Some(json!({"local_part": "ann", "password": "pw"})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let body = json!({"host": "pop.remote.test", "port": 995, "tls": "implicit", "username": "ann",
                      "password": "remote-secret", "leave_on_server": true, "interval_secs": 300});
    let path = "/api/v1/accounts/ann@example.com/rpop/work";

    // rpop.permitted is off by default: refused with the reason.
    let (status, refused) = f.req(Method::PUT, path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(error_text(&refused).contains("not permitted"), "{refused}");

    let (status, _) =
        f.req(Method::PATCH, "/api/v1/accounts/ann@example.com/settings", Some(json!({"rpop.permitted": true}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, source) = f.req(Method::PUT, path, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{source}");
    assert_eq!(source["host"], "pop.remote.test");
    assert_eq!(source["status"]["fetched"], 0);
    assert!(!source.to_string().contains("remote-secret"), "the password is never shown: {source}");

    // An update without a password keeps it; bad values name the field.
    let (status, _) = f
        .req(
            Method::PUT,
            path,
            Some(json!({"host": "pop2.remote.test", "port": 110, "tls": "stls", "username": "ann"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ann = Directory::account_by_address(&*f.store, &axigen_core::model::Address::parse("ann@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    let kept = axigen_core::rpop::RpopStore::account_rpop_sources(&*f.store, ann.id).await.unwrap();
    assert_eq!((kept[0].host.as_str(), kept[0].password.as_str()), ("pop2.remote.test", "remote-secret"));
    let (status, bad) = f.req(Method::PUT, path, Some(json!({"host": "h", "port": 0, "username": "ann"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert!(error_text(&bad).contains("port"), "{bad}");
    let (status, none) = f
        .req(
            Method::PUT,
            "/api/v1/accounts/ann@example.com/rpop/new",
            Some(json!({"host": "h", "port": 1, "username": "u"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a new source needs a password: {none}");

    let (status, list) = f.req(Method::GET, "/api/v1/accounts/ann@example.com/rpop", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(f.req(Method::DELETE, path, None).await.0, StatusCode::OK);
    assert_eq!(f.req(Method::GET, path, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(f.req(Method::DELETE, path, None).await.0, StatusCode::NOT_FOUND);
}
