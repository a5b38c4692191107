//! What a finding becomes in the text: a mask such as `[EMAIL]`, or a keyed
//! pseudonym such as `[EMAIL:7f3a2c]`.

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::detect::ip_canonical;
use crate::kind::{BuiltinKind, Kind};
use crate::policy::{MIN_SECRET_LEN, PolicyError, Replacement};

pub(crate) enum Replacer {
    Mask,
    /// The keyed HMAC, ready to be cloned for each value.
    Pseudonym(Hmac<Sha256>),
}

/// The whole value of a field on a drop path.
pub(crate) const DROPPED: &str = "[DROPPED]";

impl Replacer {
    pub(crate) fn new(replacement: &Replacement) -> Result<Replacer, PolicyError> {
        match replacement {
            Replacement::Mask => Ok(Replacer::Mask),
            Replacement::Pseudonym { secret } => {
                let key = secret.0.as_bytes();
                if key.len() < MIN_SECRET_LEN {
                    return Err(PolicyError::SecretTooShort { len: key.len() });
                }
                let mac =
                    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
                Ok(Replacer::Pseudonym(mac))
            }
        }
    }

    pub(crate) fn token(&self, kind: &Kind, value: &str) -> String {
        let label = kind.label();
        match self {
            Replacer::Mask => format!("[{label}]"),
            Replacer::Pseudonym(keyed) => {
                let mut mac = keyed.clone();
                // The kind is part of the message, so the same digits seen as
                // a phone and as a card do not share a token.
                mac.update(kind.to_string().as_bytes());
                mac.update(&[0]);
                mac.update(normalise(kind, value).as_bytes());
                let digest = mac.finalize().into_bytes();
                format!("[{label}:{}]", &hex::encode(&digest[..3]))
            }
        }
    }
}

/// The form of a value that decides its pseudonym: the ways of writing one
/// address, card or number all give the same token.
fn normalise<'v>(kind: &Kind, value: &'v str) -> Cow<'v, str> {
    let Kind::Builtin(builtin) = kind else {
        return Cow::Borrowed(value);
    };
    let digits_only = || {
        value
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    };
    match builtin {
        BuiltinKind::Email => Cow::Owned(value.to_lowercase()),
        BuiltinKind::Card | BuiltinKind::NationalId => Cow::Owned(digits_only()),
        BuiltinKind::Phone => {
            // `(0)` is a trunk prefix that is written but not dialled.
            let without_trunk = value.replace("(0)", "");
            let digits: String = without_trunk.chars().filter(char::is_ascii_digit).collect();
            Cow::Owned(if value.starts_with('+') {
                format!("+{digits}")
            } else {
                digits
            })
        }
        BuiltinKind::Iban => Cow::Owned(
            value
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_uppercase(),
        ),
        BuiltinKind::Ip => ip_canonical(value).map_or(Cow::Borrowed(value), Cow::Owned),
        BuiltinKind::Secret => Cow::Borrowed(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PseudonymSecret;

    fn pseudonym(secret: &str) -> Replacer {
        Replacer::new(&Replacement::Pseudonym {
            secret: PseudonymSecret(secret.to_owned()),
        })
        .unwrap()
    }

    #[test]
    fn masks_name_the_kind() {
        assert_eq!(
            Replacer::Mask.token(&Kind::Builtin(BuiltinKind::Card), "4111"),
            "[CARD]"
        );
        assert_eq!(
            Replacer::Mask.token(&Kind::Custom("order_ref".into()), "x"),
            "[CUSTOM:order_ref]"
        );
    }

    #[test]
    fn one_value_written_differently_gets_one_pseudonym() {
        let replacer = pseudonym("project-secret-0123456789");
        let email = Kind::Builtin(BuiltinKind::Email);
        let card = Kind::Builtin(BuiltinKind::Card);
        let ip = Kind::Builtin(BuiltinKind::Ip);
        assert_eq!(
            replacer.token(&email, "Jane@Example.com"),
            replacer.token(&email, "jane@example.com")
        );
        assert_eq!(
            replacer.token(&card, "4111 1111 1111 1111"),
            replacer.token(&card, "4111-1111-1111-1111")
        );
        assert_eq!(
            replacer.token(&ip, "2001:DB8:0::1"),
            replacer.token(&ip, "2001:db8::1")
        );
        assert_ne!(
            replacer.token(&email, "jane@example.com"),
            replacer.token(&email, "john@example.com")
        );
    }

    #[test]
    fn a_short_secret_is_refused() {
        let result = Replacer::new(&Replacement::Pseudonym {
            secret: PseudonymSecret("short".into()),
        });
        assert!(matches!(
            result,
            Err(PolicyError::SecretTooShort { len: 5 })
        ));
    }
}
