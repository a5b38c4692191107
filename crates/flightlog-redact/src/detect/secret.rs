//! Credentials: provider API keys and tokens with a recognisable prefix,
//! JWTs, PEM private keys, and whatever follows `Bearer`.

use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Detector;
use super::context::{char_after, char_before};
use crate::kind::BuiltinKind;

pub(super) const DETECTORS: &[Detector] = &[
    Detector {
        kind: BuiltinKind::Secret,
        // OpenAI (sk-…, sk-proj-…, sk-svcacct-…) and Anthropic (sk-ant-api03-…)
        pattern: r"sk-[A-Za-z0-9_-]{20,}",
        anchors: &["sk-"],
        validate: validate_mixed_token,
        priority: 80,
    },
    Detector {
        kind: BuiltinKind::Secret,
        // AWS access key ids: long-term (AKIA) and temporary (ASIA)
        pattern: r"(?:AKIA|ASIA)[A-Z0-9]{16}",
        anchors: &["AKIA", "ASIA"],
        validate: validate_standalone,
        priority: 80,
    },
    Detector {
        kind: BuiltinKind::Secret,
        // GitHub: personal, OAuth, server, user-to-server, refresh; fine-grained PATs
        pattern: r"gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}",
        anchors: &["ghp_", "gho_", "ghs_", "ghu_", "ghr_", "github_pat_"],
        validate: validate_standalone,
        priority: 80,
    },
    Detector {
        kind: BuiltinKind::Secret,
        // Slack: bot, app-level, user, refresh, legacy
        pattern: r"xox[abprs]-[A-Za-z0-9-]{10,250}",
        anchors: &["xox"],
        validate: validate_mixed_token,
        priority: 80,
    },
    Detector {
        kind: BuiltinKind::Secret,
        pattern: r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
        anchors: &["eyJ"],
        validate: validate_jwt,
        priority: 90,
    },
    Detector {
        kind: BuiltinKind::Secret,
        // A whole block, or, when the END line was cut off, the header and
        // everything that looks like key material after it.
        pattern: concat!(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----",
            r"(?:(?s:.)*?-----END[A-Z0-9 ]*PRIVATE KEY-----|[A-Za-z0-9+/=\r\n\t \\]*)",
        ),
        anchors: &["-----BEGIN"],
        validate: |_, range| Some(range),
        priority: 100,
    },
    Detector {
        kind: BuiltinKind::Secret,
        // `Authorization: Bearer <token>`, `bearer <token>`: only the token
        // is redacted, so the reader still sees what kind of header it was.
        pattern: r"(?i:bearer)[ \t]+[A-Za-z0-9._~+/=-]{16,}",
        anchors: &["bearer"],
        validate: validate_bearer,
        priority: 70,
    },
];

/// Not the tail of a longer word: `task-…` is not an `sk-` key.
fn validate_standalone(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let touching = word(char_before(text, range.start)) || word(char_after(text, range.end));
    (!touching).then_some(range)
}

/// Keys are random: they mix letters and digits. A slug such as
/// `sk-learn-is-a-python-library` has no digit.
fn validate_mixed_token(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let range = validate_standalone(text, range)?;
    if char_before(text, range.start) == Some('-') {
        return None;
    }
    mixes_letters_and_digits(&text[range.clone()]).then_some(range)
}

fn mixes_letters_and_digits(token: &str) -> bool {
    token.bytes().any(|b| b.is_ascii_digit()) && token.bytes().any(|b| b.is_ascii_alphabetic())
}

/// A JWT's first part is base64url JSON naming its signing algorithm.
fn validate_jwt(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let range = validate_standalone(text, range)?;
    let header = text[range.clone()].split('.').next()?;
    let decoded = URL_SAFE_NO_PAD.decode(header).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&decoded).ok()?;
    json.get("alg")?;
    Some(range)
}

fn validate_bearer(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    if char_before(text, range.start).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let candidate = &text[range.clone()];
    let token_start = candidate[6..].find(|c: char| c != ' ' && c != '\t')? + 6;
    let token = range.start + token_start..range.end;
    mixes_letters_and_digits(&text[token.clone()]).then_some(token)
}

#[cfg(test)]
mod tests {
    use crate::detect::testing::found;
    use crate::kind::BuiltinKind::Secret;

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

    #[test]
    fn finds_each_kind_of_credential() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4Fk\nq8Zt==\n-----END RSA PRIVATE KEY-----";
        for (text, secret) in [
            (
                "OPENAI_API_KEY=sk-proj-4fT9xQ2mZ8vL1nR7bK3wY6hJ0pD5sA",
                "sk-proj-4fT9xQ2mZ8vL1nR7bK3wY6hJ0pD5sA",
            ),
            (
                "key sk-ant-api03-Xq9Lm2Nv8Rt4Ws6Yz1Ab3Cd5Ef7Gh-QQ end",
                "sk-ant-api03-Xq9Lm2Nv8Rt4Ws6Yz1Ab3Cd5Ef7Gh-QQ",
            ),
            (
                "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
                "AKIAIOSFODNN7EXAMPLE",
            ),
            (
                "token: ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R",
                "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R",
            ),
            (
                "github_pat_11ABCDEFG0123456789_abcdefghijKLMNOP",
                "github_pat_11ABCDEFG0123456789_abcdefghijKLMNOP",
            ),
            (
                "SLACK=xoxb-1234567890-0987654321-AbCdEfGhIjKlMn",
                "xoxb-1234567890-0987654321-AbCdEfGhIjKlMn",
            ),
            (&format!("cookie session={JWT};"), JWT),
            (&format!("key:\n{pem}\nnext"), pem),
            (
                "Authorization: Bearer 9f8e7d6c5b4a3210fedcba98",
                "9f8e7d6c5b4a3210fedcba98",
            ),
        ] {
            assert_eq!(found(Secret, text), [secret], "{text}");
        }
    }

    #[test]
    fn a_cut_off_private_key_is_still_redacted_to_its_end() {
        let text = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
        assert_eq!(found(Secret, text), [text]);
    }

    #[test]
    fn leaves_lookalikes() {
        for text in [
            "pip install scikit-learn; use sk-learn-style-pipelines-everywhere",
            "task-1234567890abcdefghijk",
            "the bearer of this letter",
            "Authorization: Bearer <token>",
            "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxIn0.c2ln", // header has no alg
            "AKIA is a prefix, AKIA123 is too short",
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----",
            "git sha 3f2c1a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39",
        ] {
            assert!(
                found(Secret, text).is_empty(),
                "{text}: {:?}",
                found(Secret, text)
            );
        }
    }
}
