//! Where alerts may be sent. A project's admin chooses the address, but the
//! server sends the request: by default only to public addresses, so that
//! an alert rule cannot make the server post into its own machine or
//! network (its loopback, the cloud's metadata address at 169.254.169.254,
//! private ranges). An operator whose receivers are internal allows them
//! with `--alert-private-receivers`.
//!
//! Checked twice: an address written as an IP (in any of the forms a URL
//! parser accepts, `0x7f000001` included) or `localhost` when the rule is
//! set and before each delivery; a name when it is resolved, for each
//! delivery, so a name that points inside later is refused then too. With
//! an `HTTPS_PROXY`/`HTTP_PROXY` in the environment the proxy resolves
//! names, so only the literal addresses are checked: the proxy's own rules
//! decide the rest.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Which addresses receivers may have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Receivers {
    /// Public addresses only (the default).
    #[default]
    PublicOnly,
    /// Any address, private and loopback too (`--alert-private-receivers`).
    Any,
}

/// Why a receiver's URL is refused, when it is.
pub fn refusal(url: &reqwest::Url, allowed: Receivers) -> Option<String> {
    if allowed == Receivers::Any {
        return None;
    }
    // The parser writes an IP host in its one normal form (`0x7f000001`
    // becomes 127.0.0.1; IPv6 within brackets).
    let host = url.host_str()?;
    let internal = match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => is_internal(ip),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    internal.then(|| INTERNAL.to_string())
}

const INTERNAL: &str = "points inside this server's machine or network (a loopback, link-local, private or unspecified address); \
                        an operator can allow such receivers with --alert-private-receivers";

/// Loopback, unspecified, link-local (the cloud metadata address among
/// them), private and unique-local, shared (CGNAT), benchmarking, reserved,
/// broadcast and multicast addresses, and IPv6 addresses that carry an IPv4
/// one (mapped, compatible, NAT64, 6to4) whose IPv4 is any of those: none
/// is a public receiver.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_link_local()
                || v4.is_private()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let v4_at = |hi: u16, lo: u16| IpAddr::V4(std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
            let carried = if let Some(v4) = v6.to_ipv4_mapped() {
                Some(IpAddr::V4(v4))
            } else if (s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified())
                || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
                || s[..3] == [0x64, 0xff9b, 1]
                || s[..6] == [0, 0, 0, 0, 0xffff, 0]
            {
                // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d and
                // the local-use 64:ff9b:1::/48), SIIT (::ffff:0:a.b.c.d).
                Some(v4_at(s[6], s[7]))
            } else if s[0] == 0x2002 {
                Some(v4_at(s[1], s[2])) // 6to4
            } else {
                None
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unicast_link_local()
                || v6.is_unique_local()
                || v6.is_multicast()
                || (s[0] & 0xffc0) == 0xfec0 // site-local, deprecated but routed by some
                || carried.is_some_and(is_internal)
        }
    }
}

/// The HTTP client deliveries use: no redirects (a receiver could send
/// the request on anywhere), and names resolved to public addresses only
/// unless any are allowed.
pub fn client(allowed: Receivers, timeout: Duration) -> reqwest::Client {
    let builder = reqwest::Client::builder().timeout(timeout).redirect(reqwest::redirect::Policy::none());
    let builder = match allowed {
        Receivers::Any => builder,
        Receivers::PublicOnly => builder.dns_resolver(Arc::new(PublicAddresses)),
    };
    builder.build().expect("an HTTP client")
}

/// A resolver that keeps only the public addresses of a name.
struct PublicAddresses;

impl reqwest::dns::Resolve for PublicAddresses {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.iter().copied().filter(|a| !is_internal(a.ip())).collect();
            if public.is_empty() && !found.is_empty() {
                return Err(format!("{} {INTERNAL}", name.as_str()).into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> bool {
        refusal(&reqwest::Url::parse(url).unwrap(), Receivers::PublicOnly).is_some()
    }

    #[test]
    fn internal_addresses_in_any_spelling_are_refused_and_public_ones_kept() {
        for url in [
            "http://127.0.0.1:8080/x",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://localhost:9/",
            "http://api.localhost/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://10.1.2.3/",
            "http://192.168.0.10/",
            "http://172.16.5.4/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b:1::7f00:1]/",
            "http://[::ffff:0:a9fe:a9fe]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://[fec0::1]/",
            "http://198.18.0.1/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
        ] {
            assert!(refused(url), "{url}");
        }
        for url in ["https://hooks.slack.com/services/x", "http://93.184.216.34/", "http://[2606:4700::1111]/", "https://172.32.0.1/",
                    "http://[64:ff9b::5db8:d822]/", "http://[2002:5db8:d822::]/"] {
            assert!(!refused(url), "{url}");
        }
        let loopback = reqwest::Url::parse("http://127.0.0.1/").unwrap();
        assert_eq!(refusal(&loopback, Receivers::Any), None, "allowed by the operator");
    }
}
