//! Slows down key guessing, for every front end alike (REST, web, MCP,
//! OTLP/gRPC): too many failed authentications from one client address,
//! or against one key prefix, and further failing requests are refused
//! until the window passes. The front ends ask and tell; this keeps count.
//!
//! Why two counters: an attacker guessing one key rotates addresses, and
//! one address may guess many keys. The prefix is the public `fl_<id>` part
//! of a Flightlog key, or the first 12 characters of any other string.
//! They act differently:
//! - a blocked *address* is refused before anything is checked, so its
//!   guesses stop being answered at all;
//! - a blocked *prefix* still has its requests checked, and only a failing
//!   one is refused: a key's owner is not locked out by someone who knows
//!   its public id.
//!
//! Memory is bounded: both tables hold at most `capacity` entries and evict
//! the least used, since the client chooses how many addresses and prefixes
//! it presents. IPv6 clients are counted by their /64, which one client
//! usually owns whole.

use ipnet::{IpNet, Ipv4Net};
use quick_cache::unsync::Cache;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The limits; a limit of 0 turns that counter off.
#[derive(Clone, Debug)]
pub struct FailureLimits {
    pub per_address: u32,
    pub per_prefix: u32,
    pub window: Duration,
    /// Entries kept per table.
    pub capacity: usize,
    /// Proxies in front of the server (a TLS terminator, a load
    /// balancer): a request from one is counted by the client address its
    /// `X-Forwarded-For` names, not by the proxy's, which every client
    /// shares. Empty: the header is ignored, since a client can send any.
    pub trusted_proxies: Vec<ProxyRange>,
}

/// Proxies trusted to name their client: one address, or a range of them
/// in CIDR notation (`10.0.0.0/24`, `2001:db8::/64`), as a pool of load
/// balancers needs. Every address in it may write `X-Forwarded-For`, so it
/// must hold proxies only, never clients.
#[derive(Clone, Debug)]
pub struct ProxyRange(IpNet);

impl ProxyRange {
    /// Compared in canonical form: a dual-stack socket reports an IPv4
    /// peer as `::ffff:a.b.c.d`, and ranges are kept in IPv4 form. So an
    /// IPv6 range never holds an IPv4 peer.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl std::str::FromStr for ProxyRange {
    type Err = String;

    /// An address or a range; an IPv4 range written as IPv4-mapped IPv6
    /// (`::ffff:10.0.0.0/104`) is that IPv4 range, since peers are compared
    /// in their canonical form. Refused: a range with host bits set (more
    /// likely a typo than a wish), and one of every address (`/0`), which
    /// would let any client name itself, or count every client as one.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let net = match text.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => text.parse::<IpNet>().map_err(|_| format!("{text:?} is neither an IP address nor a range like 10.0.0.0/8"))?,
        };
        if net.trunc() != net {
            return Err(format!("{text:?} has bits set past its prefix; did you mean {}?", net.trunc()));
        }
        let net = match net {
            IpNet::V6(v6) if v6.prefix_len() >= 96 => match (v6.addr().to_ipv4_mapped(), v6.prefix_len() - 96) {
                (Some(v4), prefix) => Ipv4Net::new(v4, prefix).map_or(net, IpNet::V4),
                (None, _) => net,
            },
            _ => net,
        };
        if net.prefix_len() == 0 {
            return Err(format!("{text:?} holds every address, clients too; name the proxies' own addresses or range"));
        }
        Ok(Self(net))
    }
}

impl std::fmt::Display for ProxyRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Default for FailureLimits {
    fn default() -> Self {
        Self { per_address: 20, per_prefix: 10, window: Duration::from_secs(60), capacity: 10_000, trusted_proxies: Vec::new() }
    }
}

/// The shared counters. Cheap to clone; clones count together.
#[derive(Clone)]
pub struct AuthFailures {
    limits: Arc<FailureLimits>,
    by_address: Arc<Mutex<Cache<IpAddr, Window>>>,
    by_prefix: Arc<Mutex<Cache<String, Window>>>,
}

/// Failures seen since `started` (a fixed window per address or prefix).
#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl AuthFailures {
    pub fn new(limits: FailureLimits) -> Self {
        let capacity = limits.capacity.max(1);
        Self {
            limits: Arc::new(limits),
            by_address: Arc::new(Mutex::new(Cache::new(capacity))),
            by_prefix: Arc::new(Mutex::new(Cache::new(capacity))),
        }
    }

    /// The client a request comes from: its peer, or, when the peer is a
    /// trusted proxy, the last address of `X-Forwarded-For` (each proxy
    /// appends the address it was reached from; `forwarded_for` is the
    /// header's values in order, as bytes) that is not a trusted proxy.
    /// What a client wrote there itself comes before, and is never read. A
    /// hop that cannot be read leaves the peer.
    pub fn client_of<'h>(&self, peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'h [u8]>) -> IpAddr {
        let trusted = |ip: &IpAddr| self.limits.trusted_proxies.iter().any(|t| t.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        // Split as bytes: a value that is not UTF-8 must not hide the
        // address a proxy appended to it.
        let hops: Vec<Option<IpAddr>> = forwarded_for.into_iter().flat_map(|v| v.split(|&b| b == b',')).map(hop_address).collect();
        for hop in hops.into_iter().rev() {
            match hop {
                Some(ip) if trusted(&ip) => continue,
                Some(ip) => return ip.to_canonical(),
                None => return peer,
            }
        }
        peer
    }

    /// How long requests from `peer` stay refused, if it is blocked.
    pub fn address_blocked(&self, peer: IpAddr) -> Option<Duration> {
        self.blocked_for(&self.by_address, &client_address(peer), self.limits.per_address)
    }

    /// How long failing attempts with `key` stay refused, if its prefix is
    /// blocked.
    fn key_blocked(&self, key: &str) -> Option<Duration> {
        self.blocked_for(&self.by_prefix, &key_prefix(key), self.limits.per_prefix)
    }

    /// After an authentication failed: counts it, and says how long to
    /// refuse it instead of answering it, when its key prefix was already
    /// blocked. A blocked prefix refuses failing attempts only: the key's
    /// owner, with the right key, is never locked out by someone who knows
    /// its public id.
    pub fn refuse_failure(&self, peer: IpAddr, key: Option<&str>) -> Option<Duration> {
        let blocked = key.and_then(|k| self.key_blocked(k));
        self.failed(peer, key);
        blocked
    }

    /// Counts one failed authentication from `peer`, with the key it
    /// presented (if any); logs the moment a block starts.
    fn failed(&self, peer: IpAddr, key: Option<&str>) {
        let address = client_address(peer);
        let prefix = key.map(key_prefix);
        let window_s = self.limits.window.as_secs();
        if let Some(count) = self.count(&self.by_address, address, self.limits.per_address) {
            tracing::warn!(%address, prefix = prefix.as_deref().unwrap_or("-"), count, window_s,
                "blocking an address after failed authentications");
        }
        if let Some(prefix) = prefix
            && let Some(count) = self.count(&self.by_prefix, prefix.clone(), self.limits.per_prefix)
        {
            tracing::warn!(%address, %prefix, count, window_s, "blocking a key prefix after failed authentications");
        }
    }

    /// How long `key` stays blocked, if it has reached `limit` failures.
    fn blocked_for<K: Eq + Hash>(&self, table: &Mutex<Cache<K, Window>>, key: &K, limit: u32) -> Option<Duration> {
        let table = table.lock().unwrap_or_else(|p| p.into_inner());
        let window = table.get(key)?;
        let left = self.limits.window.checked_sub(window.started.elapsed())?;
        (limit > 0 && window.failures >= limit).then_some(left)
    }

    /// Counts one failure; returns the count when it has just reached the
    /// limit (the moment a block starts, which is logged once).
    fn count<K: Eq + Hash + Clone>(&self, table: &Mutex<Cache<K, Window>>, key: K, limit: u32) -> Option<u32> {
        if limit == 0 {
            return None;
        }
        let mut table = table.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut window = table.get(&key).copied().filter(|w| now.duration_since(w.started) < self.limits.window);
        let window = window.get_or_insert(Window { started: now, failures: 0 });
        window.failures += 1;
        let failures = window.failures;
        table.insert(key, *window);
        (failures == limit).then_some(failures)
    }
}

/// One hop of `X-Forwarded-For`: an address, with a port or in brackets
/// as some proxies write it.
fn hop_address(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop.trim_ascii()).ok()?;
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// Whole seconds until `left` has passed, rounded up, so that a client
/// that waits exactly this long is let through.
pub fn retry_after_seconds(left: Duration) -> u64 {
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

/// What a refused client is told, `from` being "this address" or "this key".
pub fn refusal_message(seconds: u64, from: &str) -> String {
    format!("too many failed authentications for {from}; retry in {seconds} s")
}

/// IPv4 as is; IPv6 by its /64 (one client usually holds a whole /64).
fn client_address(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

/// What a failure is counted against, and what the log shows. A Flightlog
/// key's `fl_<12 hex>` id is public, so it is used as is. Any other string
/// may be (a typo of) a bootstrap key, so even its first 12 characters are
/// only kept as a short hash: neither logs nor memory hold key material.
fn key_prefix(key: &str) -> String {
    let id = key.strip_prefix("fl_").and_then(|rest| rest.get(..12));
    match id {
        Some(id) if id.bytes().all(|b| b.is_ascii_hexdigit()) => format!("fl_{id}"),
        _ => {
            let head: String = key.chars().take(12).collect();
            format!("other:{}", &crate::keys::hash_key(&head)[..12])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_proxy_names_its_client_and_nobody_else_does() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxies = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let failures = AuthFailures::new(FailureLimits { trusted_proxies: proxies, ..FailureLimits::default() });
        let client_of = |peer: &str, values: &[&str]| failures.client_of(ip(peer), values.iter().map(|v| v.as_bytes()));
        // A client's own header is not read.
        assert_eq!(client_of("203.0.113.9", &["198.51.100.1"]), ip("203.0.113.9"));
        // Through the proxy: what it appended, not what the client wrote.
        assert_eq!(client_of("10.0.0.1", &["1.2.3.4, 203.0.113.9"]), ip("203.0.113.9"));
        // Through two proxies, the header sent twice.
        assert_eq!(client_of("10.0.0.1", &["1.2.3.4", "203.0.113.9 ,10.0.0.2"]), ip("203.0.113.9"));
        assert_eq!(client_of("10.0.0.1", &["2001:db8::7"]), ip("2001:db8::7"));
        // Nothing readable: the proxy itself.
        assert_eq!(client_of("10.0.0.1", &[]), ip("10.0.0.1"));
        assert_eq!(client_of("10.0.0.1", &["1.2.3.4, unknown"]), ip("10.0.0.1"));
        assert_eq!(client_of("10.0.0.1", &["10.0.0.2"]), ip("10.0.0.1"));
        // Ports, brackets, and a proxy seen as an IPv4-mapped IPv6 peer.
        assert_eq!(client_of("10.0.0.1", &["203.0.113.9:5678"]), ip("203.0.113.9"));
        assert_eq!(client_of("10.0.0.1", &["[2001:db8::7]:443", "[2001:db8::8]"]), ip("2001:db8::8"));
        assert_eq!(client_of("::ffff:10.0.0.1", &["203.0.113.9"]), ip("203.0.113.9"));
        // A value that is not UTF-8 does not hide what the proxy appended.
        assert_eq!(failures.client_of(ip("10.0.0.1"), [&b"\xff, 203.0.113.9"[..]]), ip("203.0.113.9"));
        let untrusting = AuthFailures::new(FailureLimits::default());
        assert_eq!(untrusting.client_of(ip("10.0.0.1"), [&b"203.0.113.9"[..]]), ip("10.0.0.1"));
    }

    #[test]
    fn a_range_of_trusted_proxies_names_its_clients() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let ranges: Vec<ProxyRange> = ["10.0.0.0/8", "2001:db8:a::/48", "::ffff:192.168.0.0/112"].iter().map(|r| r.parse().unwrap()).collect();
        let failures = AuthFailures::new(FailureLimits { trusted_proxies: ranges, ..FailureLimits::default() });
        let client_of = |peer: &str, values: &[&str]| failures.client_of(ip(peer), values.iter().map(|v| v.as_bytes()));
        // Any proxy of the pool, and hops within it, name the client.
        assert_eq!(client_of("10.20.30.40", &["203.0.113.9, 10.1.2.3"]), ip("203.0.113.9"));
        assert_eq!(client_of("2001:db8:a:ff::1", &["203.0.113.9"]), ip("203.0.113.9"));
        // The mapped range is the IPv4 one, whichever form the peer has.
        assert_eq!(client_of("192.168.7.7", &["203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(client_of("::ffff:10.9.9.9", &["203.0.113.9"]), ip("203.0.113.9"));
        // Just outside each range: not a proxy, its header not read.
        assert_eq!(client_of("11.0.0.1", &["203.0.113.9"]), ip("11.0.0.1"));
        assert_eq!(client_of("2001:db8:b::1", &["203.0.113.9"]), ip("2001:db8:b::1"));
        assert_eq!(client_of("192.169.0.1", &["203.0.113.9"]), ip("192.169.0.1"));
        // An IPv6 range holds no IPv4 peer, mapped or not.
        let v6_only = AuthFailures::new(FailureLimits { trusted_proxies: vec!["::/1".parse().unwrap()], ..FailureLimits::default() });
        assert_eq!(v6_only.client_of(ip("::ffff:10.0.0.1"), [&b"203.0.113.9"[..]]), ip("::ffff:10.0.0.1"));
        assert_eq!(v6_only.client_of(ip("10.0.0.1"), [&b"203.0.113.9"[..]]), ip("10.0.0.1"));
        // A client inside the pool's range that a proxy names is passed over
        // like a proxy: the range says who may append.
        assert_eq!(client_of("10.0.0.1", &["203.0.113.9, 10.5.5.5"]), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_proxies_are_an_address_or_a_range_and_nothing_looser() {
        let shown = |text: &str| text.parse::<ProxyRange>().map(|t| t.to_string());
        assert_eq!(shown("10.0.0.1"), Ok("10.0.0.1/32".into()));
        assert_eq!(shown(" 10.0.0.0/8 "), Ok("10.0.0.0/8".into()));
        assert_eq!(shown("2001:db8::/32"), Ok("2001:db8::/32".into()));
        assert_eq!(shown("::ffff:10.0.0.0/104"), Ok("10.0.0.0/8".into()));
        assert_eq!(shown("::ffff:10.0.0.1"), Ok("10.0.0.1/32".into()));
        assert!(shown("10.0.0.1/8").unwrap_err().contains("did you mean 10.0.0.0/8"));
        assert!(shown("2001:db8::1/32").unwrap_err().contains("did you mean 2001:db8::/32"));
        assert!(shown("::ffff:10.0.0.1/104").unwrap_err().contains("bits set past its prefix"));
        for everyone in ["0.0.0.0/0", "::/0", "::ffff:0:0/96"] {
            assert!(shown(everyone).unwrap_err().contains("holds every address"), "{everyone}");
        }
        assert!(shown("10.0.0.0/33").unwrap_err().contains("neither an IP address nor a range"));
        assert!(shown("proxy.internal").unwrap_err().contains("neither"));
        assert!(shown("").is_err());
    }

    #[test]
    fn prefixes_keep_key_ids_and_hide_other_strings() {
        assert_eq!(key_prefix("fl_0123456789ab_secretsecret"), "fl_0123456789ab");
        let other = key_prefix("test-admin-key");
        assert!(other.starts_with("other:") && !other.contains("admin"));
        assert_eq!(other, key_prefix("test-admin-kXYZ"), "the same first 12 characters");
        assert_ne!(key_prefix("fl_zzzzzzzzzzzz_x"), "fl_zzzzzzzzzzzz");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_address(a), client_address(b));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_address(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_block_starts_at_the_limit_and_ends_with_the_window() {
        let f = AuthFailures::new(FailureLimits { window: Duration::from_millis(200), per_address: 3, ..Default::default() });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for n in 1..3 {
            f.failed(ip, None);
            assert_eq!(f.address_blocked(ip), None, "failure {n}");
        }
        f.failed(ip, None);
        assert!(f.address_blocked(ip).is_some());
        assert_eq!(f.address_blocked("10.0.0.2".parse().unwrap()), None, "other addresses are not blocked");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(f.address_blocked(ip), None);
    }

    #[test]
    fn a_key_prefix_is_blocked_from_any_address() {
        let f = AuthFailures::new(FailureLimits { per_prefix: 2, ..Default::default() });
        f.failed("10.0.0.1".parse().unwrap(), Some("fl_0123456789ab_one"));
        assert_eq!(f.key_blocked("fl_0123456789ab_two"), None);
        f.failed("10.0.0.2".parse().unwrap(), Some("fl_0123456789ab_two"));
        assert!(f.key_blocked("fl_0123456789ab_three").is_some());
        assert_eq!(f.key_blocked("fl_ba9876543210_x"), None);
    }

    #[test]
    fn tables_stay_bounded() {
        let f = AuthFailures::new(FailureLimits { capacity: 100, ..Default::default() });
        for n in 0..10_000u32 {
            f.failed(IpAddr::from(n.to_be_bytes()), None);
        }
        assert!(f.by_address.lock().unwrap().len() <= 100);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(3)), 3);
    }
}
