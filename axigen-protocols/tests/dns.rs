//! MX resolution against a real DNS server: Debian's dnsmasq, started on a
//! loopback port with the zone `test` as its only (local) data. Covers MX
//! preference order with equal-preference shuffling, the implicit MX (A
//! records only), a null MX (RFC 7505), a domain that does not exist, an MX
//! host without address, and a name server that does not answer.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use axigen_protocols::dns::{DnsConfig, MxResolver, RouteError};

#[path = "peers/mod.rs"]
mod peers;

use peers::{Peer, dnsmasq};

/// The test zone.
const RECORDS: &[&str] = &[
    // Two hosts at preference 10, one at 20, listed out of order.
    "--mx-host=multi.test,backup.multi.test,20",
    "--mx-host=multi.test,mx1.multi.test,10",
    "--mx-host=multi.test,mx2.multi.test,10",
    "--host-record=mx1.multi.test,127.0.0.11",
    "--host-record=mx2.multi.test,127.0.0.12",
    "--host-record=backup.multi.test,127.0.0.13,::1",
    // No MX: the domain's own address.
    "--host-record=plain.test,127.0.0.20",
    // RFC 7505 null MX: preference 0, exchange the root (raw RDATA).
    "--dns-rr=nullmx.test,15,000000",
    // An MX whose host has no address, next to one that has.
    "--mx-host=halfway.test,ghost.halfway.test,5",
    "--mx-host=halfway.test,real.halfway.test,10",
    "--host-record=real.halfway.test,127.0.0.30",
];

fn zone(port: u16) -> Option<Peer> {
    dnsmasq(port, RECORDS)
}

fn resolver(port: u16, timeout: u64) -> MxResolver {
    let config = DnsConfig {
        nameservers: vec![format!("127.0.0.1:{port}")],
        timeout_seconds: timeout,
        attempts: 1,
        ..DnsConfig::default()
    };
    MxResolver::new(&config).unwrap()
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

#[tokio::test]
async fn mx_order_fallbacks_and_failures_from_a_real_dns_server() {
    let port = peers::free_port();
    let Some(_server) = zone(port) else { return };
    let dns = resolver(port, 2);

    // Preference order; the two hosts at 10 come in both orders over runs.
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let hosts = dns.route("multi.test").await.unwrap();
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names.len(), 3, "{hosts:?}");
        assert_eq!(names[2], "backup.multi.test", "{hosts:?}");
        assert_eq!(hosts.iter().map(|h| h.preference).collect::<Vec<_>>(), [10, 10, 20]);
        firsts.insert(names[0].to_owned());
        let mx1 = hosts.iter().find(|h| h.name == "mx1.multi.test").unwrap();
        assert_eq!(mx1.addresses, [ip(11)]);
        let backup = &hosts[2];
        assert_eq!(backup.addresses, [ip(13), "::1".parse::<IpAddr>().unwrap()]);
    }
    assert_eq!(firsts.len(), 2, "equal preferences are shuffled: {firsts:?}");

    // Case and a trailing dot do not matter.
    assert_eq!(dns.route("MULTI.test.").await.unwrap().len(), 3);

    // No MX: the domain itself.
    let plain = dns.route("plain.test").await.unwrap();
    assert_eq!(plain.len(), 1);
    assert_eq!((plain[0].name.as_str(), plain[0].preference), ("plain.test", 0));
    assert_eq!(plain[0].addresses, [ip(20)]);

    // Null MX and a missing domain: permanent.
    match dns.route("nullmx.test").await {
        Err(RouteError::Permanent(why)) => assert!(why.contains("null MX"), "{why}"),
        other => panic!("null MX: {other:?}"),
    }
    match dns.route("missing.test").await {
        Err(RouteError::Permanent(why)) => assert!(why.contains("does not exist"), "{why}"),
        other => panic!("missing domain: {other:?}"),
    }

    // An MX host without address is kept in order, with no address; the
    // delivery moves on to the next.
    let halfway = dns.route("halfway.test").await.unwrap();
    assert_eq!(halfway.len(), 2, "{halfway:?}");
    assert_eq!(halfway[0].name, "ghost.halfway.test");
    assert!(halfway[0].addresses.is_empty());
    assert_eq!(halfway[1].addresses, [ip(30)]);
}

#[tokio::test]
async fn a_silent_name_server_is_a_temporary_failure() {
    // A bound UDP socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dns = resolver(port, 1);
    let started = Instant::now();
    match dns.route("example.test").await {
        Err(RouteError::Temporary(_)) => {}
        other => panic!("expected a temporary failure, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn config_errors_name_the_entry() {
    let config = DnsConfig { nameservers: vec!["10.0.0.1".into(), "bogus".into()], ..DnsConfig::default() };
    let err = MxResolver::new(&config).unwrap_err();
    assert!(err.contains("dns.nameservers") && err.contains("bogus"), "{err}");
    let parsed: DnsConfig = toml::from_str("nameservers = [\"127.0.0.1:5353\", \"::1\"]\ntimeout_seconds = 3").unwrap();
    assert_eq!(parsed.servers().unwrap().len(), 2);
    assert_eq!(parsed.timeout_seconds, 3);
    assert_eq!(parsed.attempts, 2);
    assert!(toml::from_str::<DnsConfig>("nameserver = []").is_err(), "unknown keys are refused");
}
