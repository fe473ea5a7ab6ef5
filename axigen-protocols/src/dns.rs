//! DNR (seed 3.1.3): where mail for a domain goes.
//!
//! [`MxResolver::route`] answers with the hosts to try, in order:
//!
//! - the domain's MX records by preference (RFC 5321 5.1), hosts of equal
//!   preference in random order so that load spreads over them;
//! - no MX record: the domain itself (its A/AAAA addresses) as an implicit
//!   MX of preference 0;
//! - a null MX (RFC 7505: one MX, preference 0, exchange `.`): the domain
//!   accepts no mail, a permanent failure;
//! - a domain that does not exist: a permanent failure;
//! - anything else (time-out, SERVFAIL, refused): a temporary failure, the
//!   message waits for the next attempt.
//!
//! The name servers, time-out, attempts and cache size come from
//! [`DnsConfig`] (the `[dns]` section of the server's configuration); with
//! no name server configured the system's (`/etc/resolv.conf`) are used.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use rand::seq::SliceRandom;
use serde::Deserialize;

/// Resolver settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Name servers as `ip` or `ip:port` (port 53 when absent); empty: the
    /// system's.
    #[serde(default)]
    pub nameservers: Vec<String>,
    /// Seconds to wait for one answer.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Tries per query and name server.
    #[serde(default = "default_attempts")]
    pub attempts: usize,
    /// Answers kept in the cache.
    #[serde(default = "default_cache_size")]
    pub cache_size: u64,
}

fn default_timeout() -> u64 {
    5
}
fn default_attempts() -> usize {
    2
}
fn default_cache_size() -> u64 {
    4096
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            nameservers: Vec::new(),
            timeout_seconds: default_timeout(),
            attempts: default_attempts(),
            cache_size: default_cache_size(),
        }
    }
}

impl DnsConfig {
    /// The name servers as socket addresses; the error names the bad entry.
    pub fn servers(&self) -> Result<Vec<SocketAddr>, String> {
        self.nameservers
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<SocketAddr>()
                    .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| format!("{s:?} is not an IP address or IP:port"))
            })
            .collect()
    }
}

/// One host to try, with the addresses it resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    /// The host name (without the trailing dot).
    pub name: String,
    /// MX preference (0 for an implicit MX).
    pub preference: u16,
    /// Its addresses; empty when they could not be resolved now.
    pub addresses: Vec<IpAddr>,
}

/// Why no host can be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Mail cannot be delivered to this domain (bounce).
    #[error("permanent: {0}")]
    Permanent(String),
    /// Try again later.
    #[error("temporary: {0}")]
    Temporary(String),
}

/// The resolver.
#[derive(Clone)]
pub struct MxResolver {
    resolver: TokioResolver,
}

impl std::fmt::Debug for MxResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MxResolver").finish_non_exhaustive()
    }
}

impl MxResolver {
    /// A resolver with these settings.
    pub fn new(config: &DnsConfig) -> Result<MxResolver, String> {
        let servers = config.servers().map_err(|e| format!("dns.nameservers: {e}"))?;
        let mut builder = if servers.is_empty() {
            TokioResolver::builder_tokio()
                .map_err(|e| format!("dns: cannot read the system's resolver settings: {e}"))?
        } else {
            let name_servers = servers
                .iter()
                .map(|addr| {
                    let (mut udp, mut tcp) = (ConnectionConfig::udp(), ConnectionConfig::tcp());
                    udp.port = addr.port();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(name_servers),
                TokioRuntimeProvider::default(),
            )
        };
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(config.timeout_seconds.max(1));
        opts.attempts = config.attempts.max(1);
        opts.cache_size = config.cache_size;
        // Names are always absolute: no search list, no ndots games.
        opts.ndots = 0;
        *builder.options_mut() = opts;
        let resolver = builder.build().map_err(|e| format!("dns: {e}"))?;
        Ok(MxResolver { resolver })
    }

    /// The hosts that receive mail for `domain`, in the order to try them.
    pub async fn route(&self, domain: &str) -> Result<Vec<MxHost>, RouteError> {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if domain.is_empty() {
            return Err(RouteError::Permanent("empty domain".into()));
        }
        let fqdn = format!("{domain}.");
        let mut records: Vec<(u16, String)> = match self.resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                    _ => None,
                })
                .collect(),
            Err(e) if e.is_nx_domain() => {
                return Err(RouteError::Permanent(format!("domain {domain} does not exist")));
            }
            Err(e) if e.is_no_records_found() => Vec::new(),
            Err(e) => return Err(RouteError::Temporary(format!("MX lookup for {domain} failed: {e}"))),
        };
        // RFC 7505: a single MX of preference 0 pointing at the root.
        if records.len() == 1 && records[0].1.trim_end_matches('.').is_empty() {
            return Err(RouteError::Permanent(format!("{domain} accepts no mail (null MX)")));
        }
        records.retain(|(_, host)| !host.trim_end_matches('.').is_empty());
        if records.is_empty() {
            // RFC 5321 5.1: no MX, the domain is its own implicit MX.
            let addresses = self.addresses(&fqdn).await?;
            if addresses.is_empty() {
                return Err(RouteError::Permanent(format!("{domain} has no MX and no address")));
            }
            return Ok(vec![MxHost { name: domain, preference: 0, addresses }]);
        }
        records.sort_by_key(|(p, _)| *p);
        // Shuffle within each preference (the generator is not kept across
        // the lookups below: it is not Send).
        {
            let mut rng = rand::thread_rng();
            let mut start = 0;
            while start < records.len() {
                let end = records[start..]
                    .iter()
                    .position(|(p, _)| *p != records[start].0)
                    .map_or(records.len(), |n| start + n);
                records[start..end].shuffle(&mut rng);
                start = end;
            }
        }
        let mut hosts = Vec::with_capacity(records.len());
        let mut temporary = None;
        for (preference, host) in records {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            let addresses = match self.addresses(&format!("{name}.")).await {
                Ok(a) => a,
                Err(e) => {
                    temporary = Some(e);
                    Vec::new()
                }
            };
            hosts.push(MxHost { name, preference, addresses });
        }
        if hosts.iter().all(|h| h.addresses.is_empty()) {
            return Err(
                temporary.unwrap_or_else(|| RouteError::Temporary(format!("no MX host of {domain} has an address")))
            );
        }
        Ok(hosts)
    }

    /// The A and AAAA addresses of a name (IPv4 first); empty when it has none.
    async fn addresses(&self, fqdn: &str) -> Result<Vec<IpAddr>, RouteError> {
        let mut out = Vec::new();
        let mut failure: Option<NetError> = None;
        match self.resolver.ipv4_lookup(fqdn).await {
            Ok(l) => out.extend(l.answers().iter().filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            })),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => {}
            Err(e) => failure = Some(e),
        }
        match self.resolver.ipv6_lookup(fqdn).await {
            Ok(l) => out.extend(l.answers().iter().filter_map(|r| match &r.data {
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => {}
            Err(e) => failure = failure.or(Some(e)),
        }
        match failure {
            Some(e) if out.is_empty() => Err(RouteError::Temporary(format!("address lookup for {fqdn} failed: {e}"))),
            _ => Ok(out),
        }
    }
}
