//! Client key pairs for SMART Backend Services: generate, write as PEM and JWKS, load for signing.
//!
//! The key id is the RFC 7638 JWK thumbprint, so a private key file alone says which `kid` to sign with.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// Signature algorithms SMART Backend Services asks clients to support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-384 (2048-bit key).
    Rs384,
}

impl KeyAlgorithm {
    /// The JOSE `alg` name.
    pub fn jose_name(self) -> &'static str {
        match self {
            KeyAlgorithm::Es384 => "ES384",
            KeyAlgorithm::Rs384 => "RS384",
        }
    }

    /// The jsonwebtoken algorithm.
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            KeyAlgorithm::Es384 => jsonwebtoken::Algorithm::ES384,
            KeyAlgorithm::Rs384 => jsonwebtoken::Algorithm::RS384,
        }
    }
}

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The crypto library refused.
    #[error("key generation failed")]
    Generate,
    /// Not a PKCS#8 PEM private key of a supported type.
    #[error("not a PKCS#8 PEM private key for ES384 (P-384) or RS384 (RSA): {0}")]
    Unreadable(String),
}

/// A private key, its public JWK and its key id.
#[derive(Clone)]
pub struct ClientKey {
    /// ES384 or RS384.
    pub algorithm: KeyAlgorithm,
    /// PKCS#8 DER of the private key.
    pkcs8: Vec<u8>,
    /// The public JWK, with `kid`, `alg` and `use`.
    pub jwk: Value,
    /// RFC 7638 thumbprint.
    pub kid: String,
}

impl std::fmt::Debug for ClientKey {
    /// The key id only: the private key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientKey({:?}, kid {})", self.algorithm, self.kid)
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
fn thumbprint(members: &[(&str, &str)]) -> String {
    let canonical = format!(
        "{{{}}}",
        members
            .iter()
            .map(|(k, v)| format!("\"{k}\":\"{v}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
}

impl ClientKey {
    /// A fresh key pair.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let pkcs8 = match algorithm {
            KeyAlgorithm::Es384 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &SystemRandom::new())
                    .map_err(|_| KeyError::Generate)?
                    .as_ref()
                    .to_vec()
            }
            KeyAlgorithm::Rs384 => {
                aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| KeyError::Generate)?
                    .as_der()
                    .map_err(|_| KeyError::Generate)?
                    .as_ref()
                    .to_vec()
            }
        };
        Self::from_pkcs8(pkcs8)
    }

    /// Reads a `-----BEGIN PRIVATE KEY-----` PEM file's text.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = STANDARD
            .decode(body)
            .map_err(|e| KeyError::Unreadable(e.to_string()))?;
        Self::from_pkcs8(der)
    }

    fn from_pkcs8(pkcs8: Vec<u8>) -> Result<Self, KeyError> {
        if let Ok(ec) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &pkcs8) {
            // Uncompressed point: 0x04 || x || y, 48 bytes each for P-384.
            let point = ec.public_key().as_ref();
            let (x, y) = (b64(&point[1..49]), b64(&point[49..97]));
            let kid = thumbprint(&[("crv", "P-384"), ("kty", "EC"), ("x", &x), ("y", &y)]);
            let jwk = json!({"kty": "EC", "crv": "P-384", "x": x, "y": y, "kid": kid, "alg": "ES384", "use": "sig"});
            return Ok(Self {
                algorithm: KeyAlgorithm::Es384,
                pkcs8,
                jwk,
                kid,
            });
        }
        let rsa = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8)
            .map_err(|e| KeyError::Unreadable(e.to_string()))?;
        let public = rsa.public_key();
        let components = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(public);
        let strip = |b: &[u8]| {
            b.iter()
                .skip_while(|x| **x == 0)
                .copied()
                .collect::<Vec<u8>>()
        };
        let (n, e) = (b64(&strip(&components.n)), b64(&strip(&components.e)));
        let kid = thumbprint(&[("e", &e), ("kty", "RSA"), ("n", &n)]);
        let jwk = json!({"kty": "RSA", "n": n, "e": e, "kid": kid, "alg": "RS384", "use": "sig"});
        Ok(Self {
            algorithm: KeyAlgorithm::Rs384,
            pkcs8,
            jwk,
            kid,
        })
    }

    /// The private key as PEM (PKCS#8), to keep secret.
    pub fn private_pem(&self) -> String {
        let body = STANDARD.encode(&self.pkcs8);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    /// The JWKS to register with the gateway (public key only).
    pub fn jwks(&self) -> Value {
        json!({"keys": [self.jwk]})
    }

    /// A jsonwebtoken signing key.
    pub fn encoding_key(&self) -> Result<jsonwebtoken::EncodingKey, jsonwebtoken::errors::Error> {
        match self.algorithm {
            KeyAlgorithm::Es384 => Ok(jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8)),
            // jsonwebtoken signs RSA with a PKCS#1 key; its PEM reader unwraps our PKCS#8.
            KeyAlgorithm::Rs384 => {
                jsonwebtoken::EncodingKey::from_rsa_pem(self.private_pem().as_bytes())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key_id() {
        for alg in [KeyAlgorithm::Es384, KeyAlgorithm::Rs384] {
            let key = ClientKey::generate(alg).expect("generate");
            let again = ClientKey::from_pem(&key.private_pem()).expect("read back");
            assert_eq!(again.kid, key.kid);
            assert_eq!(again.algorithm, alg);
            assert_eq!(key.jwks()["keys"][0]["kid"], key.kid);
        }
    }

    #[test]
    fn signatures_verify_with_the_published_jwk() {
        for alg in [KeyAlgorithm::Es384, KeyAlgorithm::Rs384] {
            let key = ClientKey::generate(alg).expect("generate");
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(alg.jwt()),
                &serde_json::json!({"sub": "x", "exp": 4_000_000_000u64}),
                &key.encoding_key().expect("encoding key"),
            )
            .expect("sign");
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk.clone()).expect("jwk");
            let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key");
            let mut validation = jsonwebtoken::Validation::new(alg.jwt());
            validation.required_spec_claims.clear();
            jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation)
                .expect("verifies");
        }
    }

    #[test]
    fn thumbprint_matches_the_rfc_7638_example() {
        // RFC 7638 section 3.1 example RSA key.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(&[("e", "AQAB"), ("kty", "RSA"), ("n", n)]),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
