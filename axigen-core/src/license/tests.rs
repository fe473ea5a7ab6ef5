use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey};

use super::file::decode_fixed;
use super::*;
use crate::model::AccountId;

const NOW: u64 = 1_700_000_000;

fn license(edition: Edition, seats: &[(Feature, u32)]) -> License {
    License {
        id: "LIC-0001".into(),
        licensee: "Example Ltd".into(),
        edition,
        issued_at: NOW - 86_400,
        expires_at: Some(NOW + 86_400),
        max_accounts: Some(100),
        seats: seats.iter().copied().collect(),
    }
}

fn licensing_at(license: Option<License>, now: u64) -> Licensing {
    Licensing::with_clock(
        Arc::new(StaticLicenseProvider(license)),
        Arc::new(MemorySeatStore::new()),
        Arc::new(move || now),
    )
}

fn licensing(license: License) -> Licensing {
    licensing_at(Some(license), NOW)
}

const A1: AccountId = AccountId(1);
const A2: AccountId = AccountId(2);
const A3: AccountId = AccountId(3);

#[test]
fn names_round_trip() {
    for f in Feature::ALL {
        assert_eq!(f.to_string().parse::<Feature>().unwrap(), f);
        assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
    }
    for e in Edition::ALL {
        assert_eq!(e.to_string().parse::<Edition>().unwrap(), e);
        assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
    }
    assert_eq!(Feature::ActiveSync.to_string(), "activesync");
    assert_eq!(" ActiveSync ".parse::<Feature>().unwrap(), Feature::ActiveSync);
    assert!("exchange".parse::<Feature>().is_err());
    assert!("gold".parse::<Edition>().is_err());
}

#[test]
fn feature_matrix() {
    for f in Feature::ALL {
        assert!(Edition::Business.offers(f));
        assert!(Edition::Enterprise.offers(f));
        assert_eq!(Edition::Trial.offers(f), f != Feature::ActiveSync);
        assert_eq!(Edition::Office.offers(f), f != Feature::ActiveSync && f != Feature::Clustering);
    }
}

#[test]
fn license_json_and_helpers() {
    let lic = license(Edition::Business, &[(Feature::ActiveSync, 2)]);
    let json = serde_json::to_value(&lic).unwrap();
    assert_eq!(json["edition"], "business");
    assert_eq!(json["seats"]["activesync"], 2);
    assert_eq!(lic.seat_limit(Feature::ActiveSync), Some(2));
    assert_eq!(lic.seat_limit(Feature::Webmail), None);
    assert!(!lic.is_expired(NOW));
    assert!(lic.is_expired(NOW + 86_400));
    let forever = License { expires_at: None, ..lic };
    assert!(!forever.is_expired(u64::MAX));
}

#[test]
fn sign_verify_round_trip() {
    let (secret, public) = generate_vendor_keypair();
    assert_eq!(BASE64.decode(&secret).unwrap().len(), 32);
    assert_eq!(BASE64.decode(&public).unwrap().len(), 32);
    let lic = license(Edition::Enterprise, &[(Feature::ActiveSync, 50)]);
    let text = sign_license(&lic, &secret).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], 1);
    let payload = BASE64.decode(doc["payload"].as_str().unwrap()).unwrap();
    assert_eq!(serde_json::from_slice::<License>(&payload).unwrap(), lic);
    assert_eq!(BASE64.decode(doc["signature"].as_str().unwrap()).unwrap().len(), 64);
    assert_eq!(verify_license(&text, &public).unwrap(), lic);
}

#[test]
fn tampered_payload_fails() {
    let (secret, public) = generate_vendor_keypair();
    let lic = license(Edition::Office, &[]);
    let text = sign_license(&lic, &secret).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let forged = License { edition: Edition::Enterprise, ..lic };
    doc["payload"] = BASE64.encode(serde_json::to_vec(&forged).unwrap()).into();
    let forged_text = doc.to_string();
    assert_eq!(verify_license(&forged_text, &public), Err(LicenseError::BadSignature));
}

#[test]
fn wrong_key_fails() {
    let (secret, _) = generate_vendor_keypair();
    let (_, other_public) = generate_vendor_keypair();
    let text = sign_license(&license(Edition::Business, &[]), &secret).unwrap();
    let err = verify_license(&text, &other_public).unwrap_err();
    assert_eq!(err, LicenseError::BadSignature);
    assert!(err.to_string().contains("does not verify with the configured public key"));
}

#[test]
fn malformed_files_are_named() {
    let (secret, public) = generate_vendor_keypair();
    let text = sign_license(&license(Edition::Business, &[]), &secret).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();

    assert!(matches!(verify_license("not json", &public), Err(LicenseError::BadJson(_))));
    let mut v2 = doc.clone();
    v2["format"] = 2.into();
    assert_eq!(verify_license(&v2.to_string(), &public), Err(LicenseError::UnsupportedFormat(2)));
    let mut no_sig = doc.clone();
    no_sig.as_object_mut().unwrap().remove("signature");
    assert_eq!(verify_license(&no_sig.to_string(), &public), Err(LicenseError::MissingField("signature")));
    let mut bad_payload = doc.clone();
    bad_payload["payload"] = "%%%".into();
    assert!(matches!(
        verify_license(&bad_payload.to_string(), &public),
        Err(LicenseError::BadBase64 { field: "payload", .. })
    ));
    let mut short_sig = doc.clone();
    short_sig["signature"] = BASE64.encode([0u8; 10]).into();
    assert_eq!(
        verify_license(&short_sig.to_string(), &public),
        Err(LicenseError::BadLength { field: "signature", expected: 64, actual: 10 })
    );
    assert!(matches!(verify_license(&text, "abc!"), Err(LicenseError::BadBase64 { field: "public key", .. })));
    // A signed payload that is not a licence is reported as such.
    let signing = SigningKey::from_bytes(&decode_fixed::<32>("signing key", &secret).unwrap());
    let junk = br#"{"id":"x"}"#;
    let junk_file = serde_json::json!({
        "format": 1,
        "payload": BASE64.encode(junk),
        "signature": BASE64.encode(signing.sign(junk).to_bytes()),
    });
    assert!(matches!(verify_license(&junk_file.to_string(), &public), Err(LicenseError::BadPayload(_))));
}

#[test]
fn signed_provider_reloads() {
    let (secret, public) = generate_vendor_keypair();
    let office = license(Edition::Office, &[]);
    let business = license(Edition::Business, &[(Feature::ActiveSync, 3)]);
    let provider = SignedLicenseProvider::new(&sign_license(&office, &secret).unwrap(), &public).unwrap();
    assert_eq!(provider.current(), Some(office.clone()));

    // A file signed by someone else is rejected and the licence stays.
    let (other_secret, _) = generate_vendor_keypair();
    let forged = sign_license(&business, &other_secret).unwrap();
    assert_eq!(provider.reload_from(&forged), Err(LicenseError::BadSignature));
    assert_eq!(provider.current(), Some(office));

    let good = sign_license(&business, &secret).unwrap();
    assert_eq!(provider.reload_from(&good).unwrap(), business);
    assert_eq!(provider.current(), Some(business.clone()));

    let path = std::env::temp_dir().join(format!("axigen-license-test-{}-{}.json", std::process::id(), NOW));
    std::fs::write(&path, &good).unwrap();
    let from_file = SignedLicenseProvider::from_file(&path, &public).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(from_file.current(), Some(business));
    assert!(matches!(SignedLicenseProvider::from_file(&path, &public), Err(LicenseError::Io { .. })));

    let empty = SignedLicenseProvider::without_license(&public).unwrap();
    assert_eq!(empty.current(), None);
}

#[tokio::test]
async fn no_license_refuses() {
    let l = licensing_at(None, NOW);
    assert_eq!(l.authorize(A1, Feature::Webmail).await, Err(LicenseRefusal::NoLicense));
    assert_eq!(l.check_account_count(0), Err(LicenseRefusal::NoLicense));
    assert_eq!(LicenseRefusal::NoLicense.to_string(), "no licence is installed");
}

#[tokio::test]
async fn expiry_honoured_with_fixed_clock() {
    let lic = license(Edition::Business, &[]);
    let end = lic.expires_at.unwrap();
    let before = licensing_at(Some(lic.clone()), end - 1);
    assert!(before.authorize(A1, Feature::Webmail).await.is_ok());
    assert_eq!(before.check_account_count(0), Ok(()));

    let after = licensing_at(Some(lic), end);
    let refusal = after.authorize(A1, Feature::Webmail).await.unwrap_err();
    assert_eq!(refusal, LicenseRefusal::Expired { expired_at: end });
    // 1_700_086_400 is 2023-11-15T22:13:20Z.
    assert_eq!(refusal.to_string(), "the licence expired on 2023-11-15T22:13:20Z");
    assert_eq!(after.check_account_count(0), Err(refusal));
    assert_eq!(
        LicenseRefusal::Expired { expired_at: u64::MAX }.to_string(),
        format!("the licence expired on unix time {}", u64::MAX)
    );
}

#[tokio::test]
async fn office_refuses_activesync() {
    // Even a seat entry cannot add a feature the edition lacks.
    let l = licensing(license(Edition::Office, &[(Feature::ActiveSync, 10)]));
    let refusal = l.authorize(A1, Feature::ActiveSync).await.unwrap_err();
    assert_eq!(refusal, LicenseRefusal::EditionLacksFeature { edition: Edition::Office, feature: Feature::ActiveSync });
    assert_eq!(refusal.to_string(), "the office edition does not offer activesync");
    assert_eq!(
        serde_json::to_value(&refusal).unwrap(),
        serde_json::json!({
            "reason": "edition_lacks_feature",
            "edition": "office",
            "feature": "activesync"
        })
    );
    assert!(l.seat_holders(Feature::ActiveSync).await.unwrap().is_empty());
    assert!(matches!(
        l.seat_state(A1, Feature::ActiveSync).await.unwrap(),
        SeatState::Refused { refusal: LicenseRefusal::EditionLacksFeature { .. }, .. }
    ));
}

#[tokio::test]
async fn business_activesync_seats() {
    let l = licensing(license(Edition::Business, &[(Feature::ActiveSync, 2)]));
    let fresh = SeatGrant { seat_limited: true, new_seat: true };
    let kept = SeatGrant { seat_limited: true, new_seat: false };

    assert_eq!(l.authorize(A1, Feature::ActiveSync).await, Ok(fresh));
    assert_eq!(l.authorize(A2, Feature::ActiveSync).await, Ok(fresh));
    let refusal = l.authorize(A3, Feature::ActiveSync).await.unwrap_err();
    assert_eq!(refusal, LicenseRefusal::NoFreeSeat { feature: Feature::ActiveSync, limit: 2 });
    assert!(refusal.to_string().contains("2 activesync seats"), "{refusal}");
    assert_eq!(
        serde_json::to_value(&refusal).unwrap(),
        serde_json::json!({"reason": "no_free_seat", "feature": "activesync", "limit": 2})
    );
    assert_eq!(
        l.seat_state(A3, Feature::ActiveSync).await.unwrap(),
        SeatState::Refused { refusal: refusal.clone(), holds_seat: false }
    );

    // Account 1 re-authorising keeps its seat without taking another.
    assert_eq!(l.authorize(A1, Feature::ActiveSync).await, Ok(kept));
    assert_eq!(l.seat_holders(Feature::ActiveSync).await.unwrap(), vec![A1, A2]);
    assert_eq!(l.seat_state(A2, Feature::ActiveSync).await.unwrap(), SeatState::HoldsSeat { limit: 2, position: 1 });

    // Releasing account 2's seat lets account 3 in.
    assert!(l.release_seat(A2, Feature::ActiveSync).await.unwrap());
    assert!(!l.release_seat(A2, Feature::ActiveSync).await.unwrap());
    assert_eq!(
        l.seat_state(A3, Feature::ActiveSync).await.unwrap(),
        SeatState::WouldBeGranted { limit: Some(2), holders: 1 }
    );
    assert_eq!(l.authorize(A3, Feature::ActiveSync).await, Ok(fresh));
    assert_eq!(l.seat_holders(Feature::ActiveSync).await.unwrap(), vec![A1, A3]);
    assert!(l.authorize(A2, Feature::ActiveSync).await.is_err());
}

#[tokio::test]
async fn lowered_limit_keeps_earliest_holders() {
    let (secret, public) = generate_vendor_keypair();
    let three = license(Edition::Enterprise, &[(Feature::ActiveSync, 3)]);
    let provider = Arc::new(SignedLicenseProvider::new(&sign_license(&three, &secret).unwrap(), &public).unwrap());
    let l = Licensing::with_clock(provider.clone(), Arc::new(MemorySeatStore::new()), Arc::new(|| NOW));
    for a in [A1, A2, A3] {
        assert!(l.authorize(a, Feature::ActiveSync).await.unwrap().new_seat);
    }

    // The administrator installs a licence with only one seat.
    let one = License { seats: [(Feature::ActiveSync, 1)].into(), ..three };
    provider.reload_from(&sign_license(&one, &secret).unwrap()).unwrap();

    let kept = SeatGrant { seat_limited: true, new_seat: false };
    let refused = LicenseRefusal::NoFreeSeat { feature: Feature::ActiveSync, limit: 1 };
    assert_eq!(l.authorize(A1, Feature::ActiveSync).await, Ok(kept));
    assert_eq!(l.authorize(A2, Feature::ActiveSync).await, Err(refused.clone()));
    assert_eq!(l.authorize(A3, Feature::ActiveSync).await, Err(refused.clone()));
    assert_eq!(refused.to_string(), "the only activesync seat of the licence is in use");
    assert_eq!(
        l.seat_state(A2, Feature::ActiveSync).await.unwrap(),
        SeatState::Refused { refusal: refused.clone(), holds_seat: true }
    );
    // Their seats are kept, not released.
    assert_eq!(l.seat_holders(Feature::ActiveSync).await.unwrap(), vec![A1, A2, A3]);

    // When account 1 leaves, account 2 moves up and regains access.
    assert!(l.release_seat(A1, Feature::ActiveSync).await.unwrap());
    assert_eq!(l.authorize(A2, Feature::ActiveSync).await, Ok(kept));
    assert_eq!(l.authorize(A3, Feature::ActiveSync).await, Err(refused));
    // A newcomer is refused while the ledger is over the limit.
    assert!(l.authorize(AccountId(4), Feature::ActiveSync).await.is_err());
}

#[tokio::test]
async fn unlimited_feature_takes_no_seat() {
    let l = licensing(license(Edition::Business, &[(Feature::ActiveSync, 1)]));
    let free = SeatGrant { seat_limited: false, new_seat: false };
    for id in 1..=50 {
        assert_eq!(l.authorize(AccountId(id), Feature::Webmail).await, Ok(free));
    }
    assert!(l.seat_holders(Feature::Webmail).await.unwrap().is_empty());
    assert_eq!(
        l.seat_state(A1, Feature::Webmail).await.unwrap(),
        SeatState::WouldBeGranted { limit: None, holders: 0 }
    );
    // Trial offers clustering, unlimited.
    let trial = licensing(license(Edition::Trial, &[]));
    assert_eq!(trial.authorize(A1, Feature::Clustering).await, Ok(free));
}

#[tokio::test]
async fn account_count_limit() {
    let l = licensing(license(Edition::Business, &[]));
    assert_eq!(l.check_account_count(99), Ok(()));
    let refusal = l.check_account_count(100).unwrap_err();
    assert_eq!(refusal, LicenseRefusal::AccountLimit { limit: 100 });
    assert_eq!(refusal.to_string(), "the licence allows at most 100 accounts");
    let unlimited = licensing(License { max_accounts: None, ..license(Edition::Business, &[]) });
    assert_eq!(unlimited.check_account_count(u32::MAX), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_acquire_is_atomic() {
    let store = Arc::new(MemorySeatStore::new());
    let mut tasks = Vec::new();
    for id in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.acquire_seat(Feature::Backup, AccountId(id), 5).await.unwrap() }));
    }
    let mut granted = 0;
    for t in tasks {
        match t.await.unwrap() {
            SeatAcquire::Granted => granted += 1,
            SeatAcquire::Full { holders } => assert_eq!(holders, 5),
            SeatAcquire::AlreadyHeld => panic!("no account asked twice"),
        }
    }
    assert_eq!(granted, 5);
    let holders = store.seat_holders(Feature::Backup).await.unwrap();
    assert_eq!(holders.len(), 5);
    let first = holders[0];
    assert_eq!(store.acquire_seat(Feature::Backup, first, 5).await.unwrap(), SeatAcquire::AlreadyHeld);
    assert!(store.seat_holders(Feature::Rpop).await.unwrap().is_empty());
    assert!(!store.release_seat(Feature::Rpop, first).await.unwrap());
}

#[test]
fn traits_are_object_safe() {
    let _: Arc<dyn LicenseProvider> = Arc::new(StaticLicenseProvider::default());
    let _: Arc<dyn SeatStore> = Arc::new(MemorySeatStore::new());
}
