use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn a_stale_device_is_slowed_and_nobody_else_behind_its_address() {
    let throttle = LoginThrottle::default();
    let (nat, t0) = (ip("198.51.100.7"), Instant::now());
    let mut holds = Vec::new();
    for i in 0..20 {
        let now = t0 + s(i * 10);
        assert_eq!(throttle.admit_at(nat, "ann@example.com", now), Admission::Proceed, "attempt {i}");
        holds.push(throttle.failed_at(nat, "Ann@Example.com", "old password", now));
    }
    // The answers to the stale device wait longer and longer.
    assert_eq!(&holds[..5], &[Duration::ZERO, Duration::ZERO, Duration::ZERO, s(1), s(2)]);
    assert_eq!(holds[19], s(30));
    let now = t0 + s(200);
    // Ann's other device, with the new password, is not held up...
    assert_eq!(throttle.admit_at(nat, "ann@example.com", now), Admission::Proceed);
    // ... nor anyone else behind the same address.
    for n in 0..50 {
        assert_eq!(throttle.admit_at(nat, &format!("user{n}@example.com"), now), Admission::Proceed);
    }
    let report = throttle.report_at(now);
    assert!(report.addresses.is_empty() && report.logins.is_empty());
    assert_eq!(report.pairs.len(), 1);
    assert_eq!(report.pairs[0].state, "answers_delayed");
    assert_eq!((report.pairs[0].count, report.pairs[0].failures), (1, 20));
    // A success forgets the pair.
    throttle.succeeded_at(nat, "ann@example.com", now);
    assert!(throttle.report_at(now).pairs.is_empty());
}

#[test]
fn guessing_one_account_is_delayed_then_refused_for_that_account_only() {
    // An hour's window, so that a guess a minute stays counted.
    let throttle = LoginThrottle::new(ThrottlePolicy { window: s(3600), ..Default::default() });
    let (a, t0) = (ip("192.0.2.1"), Instant::now());
    let mut verdicts = Vec::new();
    for i in 0..11u64 {
        let now = t0 + s(i * 60);
        verdicts.push(throttle.admit_at(a, "bob@example.com", now));
        throttle.failed_at(a, "bob@example.com", &format!("guess {i}"), now);
    }
    let g = Reason::Guessing;
    assert_eq!(
        verdicts,
        vec![
            Admission::Proceed,
            Admission::Proceed,
            Admission::Proceed,
            Admission::Delay(s(1), g),
            Admission::Delay(s(2), g),
            Admission::Delay(s(4), g),
            Admission::Delay(s(8), g),
            Admission::Delay(s(16), g),
            Admission::Delay(s(30), g),
            Admission::Delay(s(30), g),
            Admission::Refuse(g),
        ]
    );
    let now = t0 + s(600);
    assert_eq!(throttle.admit_at(a, "carol@example.com", now), Admission::Proceed);
    assert_eq!(throttle.admit_at(ip("192.0.2.2"), "bob@example.com", now), Admission::Proceed);
    // Failures leave the window: the oldest guesses are forgotten first.
    assert_eq!(throttle.admit_at(a, "bob@example.com", t0 + s(3600 + 6 * 60 + 1)), Admission::Delay(s(1), g));
    assert_eq!(throttle.admit_at(a, "bob@example.com", t0 + s(3600 + 7 * 60 + 1)), Admission::Proceed);
}

#[test]
fn spraying_is_delayed_then_refused_for_every_login_of_the_address() {
    let throttle = LoginThrottle::new(ThrottlePolicy { window: s(3600), ..Default::default() });
    let (a, t0) = (ip("203.0.113.9"), Instant::now());
    let mut verdicts = Vec::new();
    for i in 0..30u64 {
        let now = t0 + s(i * 60);
        let login = format!("user{i}@example.com");
        let verdict = throttle.admit_at(a, &login, now);
        verdicts.push(verdict);
        if verdict != Admission::Refuse(Reason::Spraying) {
            throttle.failed_at(a, &login, "Winter2026!", now);
        }
    }
    assert!(verdicts[..5].iter().all(|v| *v == Admission::Proceed));
    assert_eq!(verdicts[5], Admission::Delay(s(1), Reason::Spraying));
    assert_eq!(verdicts[6], Admission::Delay(s(2), Reason::Spraying));
    assert!(verdicts[5..15].iter().all(|v| matches!(v, Admission::Delay(_, Reason::Spraying))));
    assert!(verdicts[15..].iter().all(|v| *v == Admission::Refuse(Reason::Spraying)));
    // Even a login that would succeed is refused from there.
    assert_eq!(throttle.admit_at(a, "owner@example.com", t0 + s(2000)), Admission::Refuse(Reason::Spraying));
    let report = throttle.report_at(t0 + s(2000));
    assert_eq!(report.addresses.len(), 1);
    assert_eq!((report.addresses[0].state, report.addresses[0].count), ("refused", 15));
    // The administrator clears the address.
    assert!(throttle.clear_address(a));
    assert_eq!(throttle.admit_at(a, "owner@example.com", t0 + s(2000)), Admission::Proceed);
    assert!(!throttle.clear_address(a));
}

#[test]
fn an_account_attacked_from_many_addresses_stays_open_to_its_known_addresses() {
    let throttle = LoginThrottle::default();
    let t0 = Instant::now();
    let home = ip("192.0.2.50");
    throttle.succeeded_at(home, "dan@example.com", t0);
    for i in 0..12u64 {
        throttle.failed_at(ip(&format!("198.51.100.{}", i + 1)), "dan@example.com", "guess", t0 + s(i));
    }
    let now = t0 + s(20);
    assert_eq!(throttle.admit_at(home, "dan@example.com", now), Admission::Proceed);
    assert_eq!(
        throttle.admit_at(ip("203.0.113.1"), "dan@example.com", now),
        Admission::Delay(s(4), Reason::UnderAttack)
    );
    // Other accounts are not concerned.
    assert_eq!(throttle.admit_at(ip("203.0.113.1"), "erin@example.com", now), Admission::Proceed);
    let report = throttle.report_at(now);
    assert_eq!(report.logins.len(), 1);
    assert_eq!((report.logins[0].login.as_deref(), report.logins[0].count), (Some("dan@example.com"), 12));
    assert!(throttle.clear_login("DAN@example.com"));
    assert_eq!(throttle.admit_at(ip("203.0.113.2"), "dan@example.com", now), Admission::Proceed);
}

#[test]
fn delayed_attempts_take_turns_and_a_long_queue_is_refused() {
    let throttle = LoginThrottle::default();
    let (a, now) = (ip("192.0.2.77"), Instant::now());
    for i in 0..3 {
        throttle.failed_at(a, "fay@example.com", &format!("guess {i}"), now);
    }
    // Many connections at once: each waits a delay after the one before.
    let waits: Vec<Admission> = (0..6).map(|_| throttle.admit_at(a, "fay@example.com", now)).collect();
    let g = Reason::Guessing;
    assert_eq!(
        waits,
        vec![
            Admission::Delay(s(1), g),
            Admission::Delay(s(2), g),
            Admission::Delay(s(3), g),
            Admission::Delay(s(4), g),
            Admission::Delay(s(5), g),
            Admission::Delay(s(6), g),
        ]
    );
    let policy = ThrottlePolicy { max_delay: s(2), first_delay: s(1), ..Default::default() };
    let throttle = LoginThrottle::new(policy);
    for i in 0..3 {
        throttle.failed_at(a, "fay@example.com", &format!("guess {i}"), now);
    }
    let verdicts: Vec<Admission> = (0..10).map(|_| throttle.admit_at(a, "fay@example.com", now)).collect();
    assert_eq!(verdicts.iter().filter(|v| matches!(v, Admission::Delay(..))).count(), 8);
    assert_eq!(verdicts[8], Admission::Refuse(g));
}

#[test]
fn addresses_and_logins_are_normalised() {
    let throttle = LoginThrottle::default();
    let now = Instant::now();
    for i in 1..=3 {
        throttle.failed_at(ip(&format!("2001:db8:1:2::{i}")), "CORP\\Gil@Example.com", &format!("p{i}"), now);
    }
    assert!(matches!(throttle.admit_at(ip("2001:db8:1:2:ffff::9"), "gil@example.com", now), Admission::Delay(..)));
    assert_eq!(throttle.admit_at(ip("2001:db8:1:3::1"), "gil@example.com", now), Admission::Proceed);
    for i in 1..=3 {
        throttle.failed_at(ip("::ffff:192.0.2.1"), "hal@example.com", &format!("p{i}"), now);
    }
    assert!(matches!(throttle.admit_at(ip("192.0.2.1"), " HAL@example.com", now), Admission::Delay(..)));
}

#[test]
fn tracking_is_bounded_and_expires() {
    let throttle = LoginThrottle::new(ThrottlePolicy { max_tracked: 2, ..Default::default() });
    let now = Instant::now();
    for i in 1..=5 {
        throttle.failed_at(ip(&format!("192.0.2.{i}")), &format!("u{i}@example.com"), "x", now);
    }
    assert_eq!(throttle.tracked(), (2, 2, 2));
    // Once the failures leave the window, new keys are tracked again.
    throttle.failed_at(ip("192.0.2.9"), "u9@example.com", "x", now + s(301));
    assert_eq!(throttle.tracked(), (1, 1, 1));
}

#[test]
fn policy_validation_names_the_field() {
    let bad = ThrottlePolicy { guess_refuse: 2, guess_free: 3, ..Default::default() };
    assert!(bad.validate().unwrap_err().contains("guess_refuse"));
    assert!(ThrottlePolicy::default().validate().is_ok());
}
