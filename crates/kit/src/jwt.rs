//! JWT signing and verification per RFC 8725: one algorithm (EdDSA) bound to
//! every key, explicit `typ` so one kind of token cannot stand in for another,
//! and `iss`, `aud`, `exp`, `nbf` always checked. `alg: none` cannot even be
//! parsed by `jsonwebtoken`, and any other algorithm is refused before a key
//! is looked up, which closes algorithm confusion.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The only signing algorithm Keyholder accepts.
pub const ALGORITHM: Algorithm = Algorithm::EdDSA;
/// Its name in key sets.
pub const ALGORITHM_NAME: &str = "EdDSA";
/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 5;

/// Why a token was refused or could not be made.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Not a JWT, or an algorithm `jsonwebtoken` does not know (`none`).
    #[error("token is malformed")]
    Malformed,
    /// A JWT with an algorithm outside the allow-list.
    #[error("token algorithm {0} is not allowed")]
    AlgorithmNotAllowed(String),
    /// `typ` is not the one expected here.
    #[error("token type {} is not {expected}", found.as_deref().unwrap_or("(none)"))]
    WrongType {
        /// What was required.
        expected: String,
        /// What the header said.
        found: Option<String>,
    },
    /// The header has `crit`: no extension is understood here, so per
    /// RFC 7515 §4.1.11 such a token is refused.
    #[error("token has critical header parameters, which are not supported")]
    CriticalHeader,
    /// No `kid` in the header.
    #[error("token has no key id")]
    MissingKeyId,
    /// No published key has this `kid`.
    #[error("token key {0} is unknown")]
    UnknownKey(String),
    /// Past `exp`.
    #[error("token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iss` mismatch.
    #[error("token issuer is wrong")]
    WrongIssuer,
    /// `aud` mismatch.
    #[error("token audience is wrong")]
    WrongAudience,
    /// Signature does not verify, or claims are missing or malformed.
    #[error("token signature or claims are invalid")]
    Invalid,
    /// Key generation or signing failed.
    #[error("could not sign token: {0}")]
    Signing(String),
}

/// A fresh Ed25519 key: PKCS#8 private document and raw 32-byte public key.
pub fn generate_ed25519() -> Result<(Vec<u8>, Vec<u8>), JwtError> {
    let rng = SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| JwtError::Signing(e.to_string()))?;
    let public = public_key_of(doc.as_ref())?;
    Ok((doc.as_ref().to_vec(), public))
}

/// The raw public key of a PKCS#8 Ed25519 private key.
pub fn public_key_of(pkcs8: &[u8]) -> Result<Vec<u8>, JwtError> {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|e| JwtError::Signing(e.to_string()))?;
    Ok(pair.public_key().as_ref().to_vec())
}

/// A verification key from a raw Ed25519 public key.
pub fn decoding_key(public_key: &[u8]) -> DecodingKey {
    DecodingKey::from_ed_der(public_key)
}

/// Signs `claims` with header `{alg: EdDSA, typ, kid}`.
pub fn sign<C: Serialize>(
    claims: &C,
    typ: &str,
    kid: &str,
    pkcs8: &[u8],
) -> Result<String, JwtError> {
    let mut header = Header::new(ALGORITHM);
    header.typ = Some(typ.to_string());
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(pkcs8))
        .map_err(|e| JwtError::Signing(e.to_string()))
}

/// First step of verification, before any key is looked up: checks the
/// algorithm allow-list and the type, and returns the `kid`.
pub fn key_id(token: &str, expected_typ: &str) -> Result<String, JwtError> {
    if has_crit(token)? {
        return Err(JwtError::CriticalHeader);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
    if header.alg != ALGORITHM {
        return Err(JwtError::AlgorithmNotAllowed(format!("{:?}", header.alg)));
    }
    if header.typ.as_deref() != Some(expected_typ) {
        return Err(JwtError::WrongType {
            expected: expected_typ.to_string(),
            found: header.typ,
        });
    }
    header.kid.ok_or(JwtError::MissingKeyId)
}

/// Whether the (undecoded) header names a `crit` parameter; `jsonwebtoken`
/// ignores it, so it is looked for in the raw JSON.
fn has_crit(token: &str) -> Result<bool, JwtError> {
    use base64::Engine;
    let head = token.split('.').next().ok_or(JwtError::Malformed)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| JwtError::Malformed)?;
    let value: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| JwtError::Malformed)?;
    Ok(value.get("crit").is_some())
}

/// Claims with a validity window (`nbf` to `exp`, Unix seconds).
pub trait Window {
    /// Expiry.
    fn exp(&self) -> i64;
    /// Not before.
    fn nbf(&self) -> i64;
}

/// Second step: verifies signature and registered claims with the key that
/// `kid` named, and decodes the claims. `now` (Unix seconds) comes from the
/// caller's clock, so services on a manual clock in tests check expiry by it.
pub fn verify<C: DeserializeOwned + Window>(
    token: &str,
    key: &DecodingKey,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<C, JwtError> {
    let mut v = Validation::new(ALGORITHM);
    // The window is checked below against `now`, not the crate's wall clock;
    // the claims must still be present.
    v.validate_exp = false;
    v.validate_nbf = false;
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    match jsonwebtoken::decode::<C>(token, key, &v) {
        Ok(data) => {
            let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
            if data.claims.exp().saturating_add(leeway) < now {
                Err(JwtError::Expired)
            } else if data.claims.nbf().saturating_sub(leeway) > now {
                Err(JwtError::NotYetValid)
            } else {
                Ok(data.claims)
            }
        }
        Err(e) => {
            use jsonwebtoken::errors::ErrorKind as K;
            Err(match e.kind() {
                K::ExpiredSignature => JwtError::Expired,
                K::ImmatureSignature => JwtError::NotYetValid,
                K::InvalidIssuer => JwtError::WrongIssuer,
                K::InvalidAudience => JwtError::WrongAudience,
                K::InvalidAlgorithm => JwtError::AlgorithmNotAllowed("mismatch".into()),
                _ => JwtError::Invalid,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct C {
        iss: String,
        aud: String,
        sub: String,
        exp: i64,
        nbf: i64,
    }

    impl Window for C {
        fn exp(&self) -> i64 {
            self.exp
        }
        fn nbf(&self) -> i64 {
            self.nbf
        }
    }

    fn claims(exp_in: i64, nbf_in: i64) -> C {
        let now = chrono::Utc::now().timestamp();
        C {
            iss: "iss".into(),
            aud: "aud".into(),
            sub: "u1".into(),
            exp: now + exp_in,
            nbf: now + nbf_in,
        }
    }

    fn check(token: &str, public: &[u8]) -> Result<C, JwtError> {
        key_id(token, "at+jwt")?;
        verify(
            token,
            &decoding_key(public),
            "iss",
            "aud",
            chrono::Utc::now().timestamp(),
        )
    }

    #[test]
    fn rfc8725_cases() -> Result<(), JwtError> {
        let (private, public) = generate_ed25519()?;
        let (other_private, _) = generate_ed25519()?;
        let good = sign(&claims(60, -1), "at+jwt", "k1", &private)?;
        assert_eq!(check(&good, &public)?.sub, "u1");
        assert_eq!(key_id(&good, "at+jwt")?, "k1");

        // alg none: header {"alg":"none"} with an empty signature.
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#);
        let body = good.split('.').nth(1).unwrap_or_default();
        assert_eq!(
            check(&format!("{none_header}.{body}."), &public),
            Err(JwtError::Malformed)
        );

        // HS256 signed with the public key bytes (algorithm confusion).
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = Some("k1".into());
        let hs = jsonwebtoken::encode(&h, &claims(60, -1), &EncodingKey::from_secret(&public))
            .map_err(|e| JwtError::Signing(e.to_string()))?;
        assert!(matches!(
            check(&hs, &public),
            Err(JwtError::AlgorithmNotAllowed(_))
        ));

        // A `crit` header is refused even with a good signature.
        let crit_header = URL_SAFE_NO_PAD
            .encode(br#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1","crit":["x"],"x":1}"#);
        let parts: Vec<&str> = good.split('.').collect();
        assert_eq!(
            check(&format!("{crit_header}.{}.{}", parts[1], parts[2]), &public),
            Err(JwtError::CriticalHeader)
        );

        let wrong_key = sign(&claims(60, -1), "at+jwt", "k1", &other_private)?;
        assert_eq!(check(&wrong_key, &public), Err(JwtError::Invalid));
        let expired = sign(&claims(-120, -200), "at+jwt", "k1", &private)?;
        assert_eq!(check(&expired, &public), Err(JwtError::Expired));
        let early = sign(&claims(600, 300), "at+jwt", "k1", &private)?;
        assert_eq!(check(&early, &public), Err(JwtError::NotYetValid));
        let refresh = sign(&claims(60, -1), "rt+jwt", "k1", &private)?;
        assert!(matches!(
            check(&refresh, &public),
            Err(JwtError::WrongType { .. })
        ));

        let mut c = claims(60, -1);
        c.aud = "someone-else".into();
        let wrong_aud = sign(&c, "at+jwt", "k1", &private)?;
        assert_eq!(check(&wrong_aud, &public), Err(JwtError::WrongAudience));
        let mut c = claims(60, -1);
        c.iss = "evil".into();
        let wrong_iss = sign(&c, "at+jwt", "k1", &private)?;
        assert_eq!(check(&wrong_iss, &public), Err(JwtError::WrongIssuer));

        // Tampered payload: swap in another subject, keep the signature.
        let parts: Vec<&str> = good.split('.').collect();
        let mut c = claims(60, -1);
        c.sub = "admin".into();
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap_or_default());
        let tampered = format!("{}.{}.{}", parts[0], forged_body, parts[2]);
        assert_eq!(check(&tampered, &public), Err(JwtError::Invalid));
        Ok(())
    }

    #[test]
    fn type_refusals_read_as_plain_words() {
        let e = JwtError::WrongType {
            expected: "at+jwt".into(),
            found: Some("support+jwt".into()),
        };
        assert_eq!(e.to_string(), "token type support+jwt is not at+jwt");
        let e = JwtError::WrongType {
            expected: "at+jwt".into(),
            found: None,
        };
        assert_eq!(e.to_string(), "token type (none) is not at+jwt");
    }
}
