//! Identity access tokens as every service verifies them: algorithm
//! allow-list, type, `crit`, issuer, audience, expiry, signature.

use async_trait::async_trait;
use jsonwebtoken::DecodingKey;
use keyholder_kit::auth::{
    ACCESS_TOKEN_TYPE, AUDIENCE_BROKER, Authenticator, ISSUER, KeyResolver, bearer_in,
};
use keyholder_kit::jwt;
use std::sync::{Arc, OnceLock};

const KID: &str = "fuzz-key";

struct OneKey(DecodingKey);

#[async_trait]
impl KeyResolver for OneKey {
    async fn resolve(&self, kid: &str) -> Option<DecodingKey> {
        (kid == KID).then(|| self.0.clone())
    }
}

struct Fixture {
    private: Vec<u8>,
    valid: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (private, _) = jwt::generate_ed25519().expect("key");
        let valid = sign(&private, &claims(chrono::Utc::now().timestamp()));
        Fixture { private, valid }
    })
}

fn claims(now: i64) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER, "aud": [AUDIENCE_BROKER], "sub": "u-1",
        "exp": now + 600, "nbf": now - 5, "iat": now - 5, "jti": "j-1",
        "kind": "employee", "tid": "t-1", "adm": true, "ver": 1,
    })
}

fn sign(private: &[u8], claims: &serde_json::Value) -> String {
    jwt::sign(claims, ACCESS_TOKEN_TYPE, KID, private).expect("sign")
}

fn authenticator() -> Authenticator {
    let public = jwt::public_key_of(&fixture().private).expect("public key");
    Authenticator::new(
        Arc::new(OneKey(jwt::decoding_key(&public))),
        AUDIENCE_BROKER,
        keyholder_kit::clock::system(),
    )
}

/// Whether the claims a service accepted are ones it may accept: issued by
/// identity, for this audience, current.
fn acceptable(payload: &[u8], now: i64) -> bool {
    let Ok(c) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return false;
    };
    let aud_ok = match &c["aud"] {
        serde_json::Value::String(a) => a == AUDIENCE_BROKER,
        serde_json::Value::Array(a) => a.iter().any(|v| v == AUDIENCE_BROKER),
        _ => false,
    };
    let leeway = 60;
    c["iss"] == ISSUER
        && aud_ok
        && c["exp"]
            .as_i64()
            .is_some_and(|e| e.saturating_add(leeway) >= now)
        && c["nbf"]
            .as_i64()
            .is_some_and(|n| n.saturating_sub(leeway) <= now)
        && c["sub"].is_string()
}

/// Byte 0 picks how the rest is used:
/// - 0: the rest is the whole `authorization` value and token;
/// - 1: the rest edits a validly signed token (position, byte triples);
/// - 2: the rest is the claims JSON, signed with the real key — claims that
///   identity never issues must still be refused.
pub fn access_token(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let f = fixture();
    let token = match mode % 3 {
        0 => {
            let header = crate::text(rest);
            match bearer_in(Some(&header)) {
                Ok(t) => t.to_string(),
                Err(_) => header,
            }
        }
        1 => crate::tamper(&f.valid, rest),
        _ => match serde_json::from_slice::<serde_json::Value>(rest) {
            Ok(claims) => sign(&f.private, &claims),
            Err(_) => return,
        },
    };
    // A fresh authenticator each time: its cache must not answer for a
    // token verified before.
    let verdict = crate::runtime().block_on(authenticator().verify(&token));
    if verdict.is_ok() {
        let (head, payload) = crate::jws_parts(&token).expect("an accepted token is a JWS");
        let head: serde_json::Value = serde_json::from_slice(&head).expect("header JSON");
        assert_eq!(head["alg"], "EdDSA", "accepted alg {}", head["alg"]);
        assert_eq!(head["typ"], ACCESS_TOKEN_TYPE);
        assert!(head.get("crit").is_none(), "accepted a crit header");
        assert!(
            acceptable(&payload, now),
            "accepted claims {:?}",
            crate::text(&payload)
        );
        if mode % 3 == 1 {
            // A tampered token passes only if it still says what was signed.
            let (_, signed) = crate::jws_parts(&f.valid).expect("valid token");
            assert_eq!(payload, signed, "a tampered token was accepted");
        }
    }
}
