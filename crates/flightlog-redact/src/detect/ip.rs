//! IPv4 and IPv6 addresses, validated by `std::net` parsing.
//!
//! A dotted quad such as `1.2.3.4` is redacted as an address: out of
//! context it cannot be told from a four-part version number, and leaking
//! an address is worse than masking a version. It is left alone when it is
//! visibly a version: glued to a `v` (`v1.2.3.4`), or after the word
//! `version`, `release` or `build` close before it. Addresses that identify
//! no one are also left: unspecified (`0.0.0.0`, `::`), loopback
//! (`127.0.0.0/8`, `::1`) and masks starting with 255 (`255.255.255.0`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use super::Detector;
use super::context::{char_after, char_before, glued, preceded_by_word};
use crate::kind::BuiltinKind;

pub(super) const DETECTORS: &[Detector] = &[
    Detector {
        kind: BuiltinKind::Ip,
        pattern: r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}",
        anchors: &[],
        validate: validate_v4,
        priority: 35,
    },
    Detector {
        kind: BuiltinKind::Ip,
        // Eight full groups, or any form with `::` (which may end in a
        // dotted IPv4 part). Clock times such as 12:30:45 have neither.
        pattern: r"(?i:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7}|[0-9a-f:]*::[0-9a-f:]*[0-9a-f](?:\.[0-9]{1,3}){0,3})",
        anchors: &[],
        validate: validate_v6,
        priority: 40,
    },
];

const VERSION_WORDS: &[&str] = &["version", "release", "build", "ver.", "ver "];

fn validate_v4(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let address: Ipv4Addr = text[range.clone()].parse().ok()?;
    if address.is_unspecified() || address.is_loopback() || address.octets()[0] == 255 {
        return None;
    }
    if glued(text, &range) || preceded_by_word(text, range.start, 16, VERSION_WORDS) {
        return None;
    }
    Some(range)
}

fn validate_v6(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let candidate = &text[range.clone()];
    let address: Ipv6Addr = candidate.parse().ok()?;
    if address.is_unspecified() || address.is_loopback() {
        return None;
    }
    // `x[1::2]` (a slice) and `a::b` (a path) parse as addresses; real ones
    // carry a digit and more than a handful of hex digits.
    let hex_digits = candidate.bytes().filter(u8::is_ascii_hexdigit).count();
    if !candidate.bytes().any(|b| b.is_ascii_digit()) || hex_digits < 5 {
        return None;
    }
    let touching =
        |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | ':'));
    if touching(char_before(text, range.start)) || touching(char_after(text, range.end)) {
        return None;
    }
    Some(range)
}

/// The canonical text of an address, so that `2001:DB8:0::1` and
/// `2001:db8::1` get the same pseudonym.
pub(crate) fn canonical(text: &str) -> Option<String> {
    text.parse::<IpAddr>()
        .ok()
        .map(|address| address.to_string())
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::found;
    use crate::kind::BuiltinKind::Ip;

    #[test]
    fn finds_v4_and_v6_addresses() {
        for (text, ip) in [
            ("client 203.0.113.42 connected", "203.0.113.42"),
            ("the server at 198.51.100.232 is down", "198.51.100.232"),
            ("GET / from 10.1.2.3:8080", "10.1.2.3"),
            ("X-Forwarded-For: 198.51.100.7, 10.0.0.1", "198.51.100.7"),
            (
                "addr 2001:db8:85a3::8a2e:370:7334 up",
                "2001:db8:85a3::8a2e:370:7334",
            ),
            (
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            ),
            (
                "link fe80::1ff:fe23:4567:890a%eth0",
                "fe80::1ff:fe23:4567:890a",
            ),
            ("mapped ::ffff:192.0.2.128 ok", "::ffff:192.0.2.128"),
        ] {
            assert_eq!(found(Ip, text)[0], ip, "{text}");
        }
    }

    #[test]
    fn rejects_invalid_octets_versions_and_lookalikes() {
        for text in [
            "999.1.1.1",
            "256.10.10.10",
            "version 1.2.3.4",
            "release: 10.0.19041.1",
            "v1.2.3.4",
            "oid 1.3.6.1.4.1.311",
            "localhost 127.0.0.1 and 0.0.0.0 and ::1",
            "netmask 255.255.255.0",
            "at 12:30:45 UTC",
            "mac 00:1a:2b:3c:4d:5e",
            "std::vec::Vec and i32::from and a::b",
            "slice x[1::2]",
            "price 1.299.00",
        ] {
            assert!(found(Ip, text).is_empty(), "{text}: {:?}", found(Ip, text));
        }
    }
}
