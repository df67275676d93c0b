//! The audit key: identifier values in audited queries are kept only as a keyed hash, so the
//! trail holds no patient data while an auditor holding the key can still ask "who searched for
//! this patient" by hashing the NHS number the same way.

use std::path::Path;

use aws_lc_rs::hmac;
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Search parameters whose values name organisations, resources, statuses or paging, never a
/// person: kept as sent. Every other value is hashed.
const PLAIN_PARAMETERS: &[&str] = &[
    "_count",
    "_offset",
    "_sort",
    "_lastUpdated",
    "_id",
    "status",
    "owner",
    "requester",
    "performer",
    "focus",
    "part-of",
    "based-on",
    "intent",
];

/// Hex digits of the HMAC kept: 128 bits, enough to match one patient among any population.
const HASH_HEX_DIGITS: usize = 32;

/// The HMAC-SHA256 key audited identifier values are hashed with.
pub struct AuditKey(hmac::Key);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// Why the audit key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    /// Reading or writing the key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The file does not hold at least 32 bytes of hex.
    #[error("{0}: the audit key must be at least 64 hexadecimal digits")]
    Malformed(String),
    /// The system random source failed.
    #[error("no random source for a new audit key")]
    Random,
}

impl AuditKey {
    /// A key from raw bytes (tests, and the file's decoded content).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// Reads the hex key at `path`, creating a random one (mode 0600) if there is none.
    pub fn load_or_create(path: &Path) -> Result<Self, AuditKeyError> {
        let io = |source| AuditKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(io)?;
            let bytes = decode_hex(text.trim())
                .filter(|b| b.len() >= 32)
                .ok_or_else(|| AuditKeyError::Malformed(path.display().to_string()))?;
            return Ok(Self::from_bytes(&bytes));
        }
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| AuditKeyError::Random)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        crate::auth::write_private(path, &format!("{}\n", encode_hex(&bytes))).map_err(io)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// `hmac:` and the first 32 hex digits of HMAC-SHA256(key, value).
    pub fn hash(&self, value: &str) -> String {
        let tag = hmac::sign(&self.0, value.as_bytes());
        let mut hex = encode_hex(tag.as_ref());
        hex.truncate(HASH_HEX_DIGITS);
        format!("hmac:{hex}")
    }

    /// A search as audited: `Type?name=value&...` in the order sent, each parameter name kept,
    /// each value of a parameter that may name a person replaced by its keyed hash (a token's
    /// system is kept: `subject:identifier=https://fhir.nhs.uk/Id/nhs-number|hmac:...`).
    /// Values are hashed percent-decoded, so every spelling of one NHS number hashes alike.
    pub fn search_target(&self, resource_type: &str, raw_query: &str) -> String {
        let pairs: Vec<String> = raw_query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
                let name = decode(raw_name);
                let base = name.split(':').next().unwrap_or_default();
                let value = decode(raw_value);
                let shown = if PLAIN_PARAMETERS.contains(&base) {
                    value
                } else {
                    value
                        .split(',')
                        .map(|one| self.hash_token(one))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                format!("{}={}", encode(&name), encode(&shown))
            })
            .collect();
        format!("{resource_type}?{}", pairs.join("&"))
    }

    fn hash_token(&self, value: &str) -> String {
        match value.rsplit_once('|') {
            Some((_, "")) => value.to_owned(),
            Some((system, code)) => format!("{system}|{}", self.hash(code)),
            None if value.is_empty() => String::new(),
            None => self.hash(value),
        }
    }
}

fn decode(text: &str) -> String {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-encodes what a query value cannot hold, keeping `|`, `:` and `/` readable.
fn encode(text: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
        .remove(b'|')
        .remove(b':')
        .remove(b'/')
        .remove(b'.')
        .remove(b'-')
        .remove(b'_');
    utf8_percent_encode(text, KEEP).to_string()
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::from_bytes(b"an audit key for the unit tests, 32+ bytes")
    }

    #[test]
    fn identifier_values_are_hashed_and_the_shape_is_kept() {
        let key = key();
        let audited = key.search_target(
            "ServiceRequest",
            "subject:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919&status=active&_count=5",
        );
        assert!(!audited.contains("9434765919"), "{audited}");
        assert_eq!(
            audited,
            format!(
                "ServiceRequest?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{}&status=active&_count=5",
                key.hash("9434765919")
            )
        );
    }

    #[test]
    fn every_spelling_of_one_value_hashes_alike_and_other_keys_differ() {
        let key = key();
        let a = key.search_target("ServiceRequest", "identifier=sys%7C9434765919");
        let b = key.search_target("ServiceRequest", "identifier=sys|9434765919");
        assert_eq!(a, b);
        let other = AuditKey::from_bytes(b"another audit key, also 32 bytes long!!")
            .search_target("ServiceRequest", "identifier=sys|9434765919");
        assert_ne!(a, other);
    }

    #[test]
    fn unknown_parameters_and_bare_values_are_hashed_too() {
        let audited = key().search_target("Task", "patient=9434765919,9876543210&owner=VCS001");
        assert!(!audited.contains("9434765919") && !audited.contains("9876543210"));
        assert!(audited.ends_with("&owner=VCS001"), "{audited}");
    }

    #[test]
    fn the_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/audit-key");
        let first = AuditKey::load_or_create(&path).expect("created").hash("x");
        let again = AuditKey::load_or_create(&path).expect("read").hash("x");
        assert_eq!(first, again);
        std::fs::write(&path, "not hex").expect("write");
        assert!(matches!(
            AuditKey::load_or_create(&path),
            Err(AuditKeyError::Malformed(_))
        ));
    }
}
