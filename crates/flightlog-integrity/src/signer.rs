//! The instance's Ed25519 signing key.

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use flightlog_model::merkle::Hash;
use rand::RngCore;
use std::io::Write;
use std::path::Path;

pub struct Signer {
    key: SigningKey,
}

impl Signer {
    /// Loads the key at `path` (64 hex characters: the 32-byte seed), or
    /// creates one there, readable by its owner only, when none exists.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(text.trim())
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                rand::rng().fill_bytes(&mut seed);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut file = open_private(path)?;
                file.write_all(hex::encode(seed).as_bytes())?;
                file.sync_all()?;
                tracing::info!(path = %path.display(), "generated the checkpoint signing key");
                Ok(Self { key: SigningKey::from_bytes(&seed) })
            }
            Err(e) => Err(e),
        }
    }

    pub fn from_hex(seed_hex: &str) -> Result<Self, String> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(seed_hex, &mut seed).map_err(|_| "a signing key is 64 hex characters".to_string())?;
        Ok(Self { key: SigningKey::from_bytes(&seed) })
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }

    /// A secret for `purpose` that every process holding this key derives
    /// alike and nobody without it can: an Ed25519 signature is
    /// deterministic and unforgeable, and this message (its own prefix) is
    /// never signed for anything published. For what processes sharing a
    /// store must agree on (the web sign-in form).
    pub fn derived_secret(&self, purpose: &str) -> Vec<u8> {
        self.key.sign(format!("flightlog/derived-secret/v1\n{purpose}\n").as_bytes()).to_bytes().to_vec()
    }
}

/// Creates a file with mode 0600: the key never exists readable by others.
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// The exact bytes a checkpoint's signature covers.
pub fn checkpoint_message(tree_size: u64, root: &Hash, created_us: i64) -> Vec<u8> {
    format!("flightlog/checkpoint/v1\n{tree_size}\n{}\n{created_us}\n", hex::encode(root)).into_bytes()
}

/// The exact bytes a statement's signature covers: a domain tag (what the
/// statement is, e.g. `flightlog/expiry/v1`), then each field as
/// `<byte length>:<value>\n`, so free text with newlines in it can never
/// make two different statements read alike, nor one kind pass for another.
pub fn statement_message(domain: &str, fields: &[&str]) -> Vec<u8> {
    let mut message = format!("{domain}\n");
    for f in fields {
        message.push_str(&format!("{}:{f}\n", f.len()));
    }
    message.into_bytes()
}

/// What an expiry record's signature covers (see `schema/0015_expirations.sql`).
pub fn expiry_message(row: &flightlog_store::ExpirationRow) -> Vec<u8> {
    let positions: Vec<String> = row.log_indexes.iter().map(u64::to_string).collect();
    statement_message(
        "flightlog/expiry/v1",
        &[&row.project, &row.session_id, &row.kind, &positions.join(","), &row.last_link, &row.next_seq.to_string(), &row.policy, &row.expired_us.to_string()],
    )
}

/// What a policy row's signature covers (see `schema/0013_project_policies.sql`).
pub fn policy_message(project: &str, kind: &str, body: &str, set_us: i64, set_by: &str) -> Vec<u8> {
    statement_message("flightlog/policy/v1", &[project, kind, body, &set_us.to_string(), set_by])
}

/// What a legal hold row's signature covers (see `schema/0014_legal_holds.sql`).
pub fn hold_message(project: &str, subject: &str, id: &str, held: bool, reason: &str, at_us: i64, by_key: &str) -> Vec<u8> {
    statement_message("flightlog/legal-hold/v1", &[project, subject, id, if held { "held" } else { "released" }, reason, &at_us.to_string(), by_key])
}

/// What an erasure record's signature covers (see `schema/0027_erasures.sql`):
/// since schema/0031 also the log position its cover ends at, so that a
/// record cannot be stretched over steps logged after it.
pub fn erasure_message(r: &flightlog_store::ErasureRow) -> Vec<u8> {
    let (at, steps, fields, through) = (r.at_us.to_string(), r.steps_erased.to_string(), r.fields_erased.to_string(), r.log_through.to_string());
    let fields = [r.project.as_str(), &at, &r.session_id, &r.user_id, &r.reason, &r.by_key, &steps, &fields, &through];
    match r.log_through {
        ..0 => statement_message("flightlog/erasure/v1", &fields[..8]),
        _ => statement_message("flightlog/erasure/v2", &fields),
    }
}

/// Whether a stored checkpoint's signature verifies under the public key
/// stored with it (whether that key is the instance's is the caller's to
/// ask).
pub fn checkpoint_signature_valid(c: &flightlog_store::CheckpointRow) -> bool {
    signature_valid(&c.public_key, &checkpoint_message(c.tree_size, &c.root_hash, c.created_us), &c.signature)
}

/// Checks a hex signature by a hex public key over `message`.
pub fn signature_valid(public_key_hex: &str, message: &[u8], signature_hex: &str) -> bool {
    let (mut pk, mut sig) = ([0u8; 32], [0u8; 64]);
    if hex::decode_to_slice(public_key_hex, &mut pk).is_err() || hex::decode_to_slice(signature_hex, &mut sig).is_err() {
        return false;
    }
    let Ok(key) = VerifyingKey::from_bytes(&pk) else { return false };
    key.verify(message, &Signature::from_bytes(&sig)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_secrets_agree_for_one_key_and_differ_by_key_and_purpose() {
        let seed = "11".repeat(32);
        let (a, b) = (Signer::from_hex(&seed).unwrap(), Signer::from_hex(&seed).unwrap());
        assert_eq!(a.derived_secret("web"), b.derived_secret("web"), "replicas sharing the key agree");
        assert_ne!(a.derived_secret("web"), a.derived_secret("other"));
        assert_ne!(a.derived_secret("web"), Signer::from_hex(&"22".repeat(32)).unwrap().derived_secret("web"));
    }

    #[test]
    fn a_generated_key_is_private_persistent_and_signs_verifiably() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("integrity/signing.key");
        let a = Signer::load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let b = Signer::load_or_create(&path).unwrap();
        assert_eq!(a.public_key_hex(), b.public_key_hex(), "the same key after a restart");

        let msg = checkpoint_message(10, &[3; 32], 1_700_000_000_000_000);
        let sig = a.sign(&msg);
        assert!(signature_valid(&a.public_key_hex(), &msg, &sig));
        assert!(!signature_valid(&a.public_key_hex(), &checkpoint_message(11, &[3; 32], 1_700_000_000_000_000), &sig));
        let other = Signer::from_hex(&"11".repeat(32)).unwrap();
        assert!(!signature_valid(&other.public_key_hex(), &msg, &sig));
    }
}
