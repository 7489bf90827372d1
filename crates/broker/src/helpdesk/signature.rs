//! The three webhook signature schemes, checked in constant time
//! (`ring::hmac::verify`), and Standard Webhooks signing for outbound events.
//! Pure: headers, body, secret and the current time in, a verdict out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::hmac;

/// How far a signed timestamp may be from now, either way.
pub const REPLAY_WINDOW_SECS: i64 = 5 * 60;

/// Zendesk's signature header.
pub const ZENDESK_SIGNATURE: &str = "x-zendesk-webhook-signature";
/// Zendesk's timestamp header.
pub const ZENDESK_TIMESTAMP: &str = "x-zendesk-webhook-signature-timestamp";
/// Jira's signature header (`sha256=<hex>`).
pub const JIRA_SIGNATURE: &str = "x-hub-signature";
/// Jira's delivery id header.
pub const JIRA_DELIVERY: &str = "x-atlassian-webhook-identifier";
/// Standard Webhooks' id header.
pub const STANDARD_ID: &str = "webhook-id";
/// Standard Webhooks' timestamp header (Unix seconds).
pub const STANDARD_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks' signature header (`v1,<base64>`, space-separated).
pub const STANDARD_SIGNATURE: &str = "webhook-signature";
/// Prefix of a Standard Webhooks secret.
pub const WHSEC: &str = "whsec_";

/// Why a webhook was refused (answered 401, recorded, nothing changes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No connector with that id.
    #[error("unknown connector")]
    UnknownConnector,
    /// A header the scheme needs is missing or unreadable.
    #[error("missing or malformed {0}")]
    Malformed(&'static str),
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// The signed timestamp is outside the replay window.
    #[error("timestamp outside the 5-minute window")]
    Stale,
}

impl Refusal {
    /// A short word for the record.
    pub fn cause(&self) -> &'static str {
        match self {
            Refusal::UnknownConnector => "unknown-connector",
            Refusal::Malformed(_) => "malformed",
            Refusal::BadSignature => "bad-signature",
            Refusal::Stale => "stale-timestamp",
        }
    }
}

/// What a verified webhook says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The sender's delivery id, when the scheme carries one in a header.
    pub delivery_id: Option<String>,
}

/// Reads one header as text.
pub type Header<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

fn within_window(ts: i64, now_s: i64) -> Result<(), Refusal> {
    if (now_s - ts).abs() > REPLAY_WINDOW_SECS {
        return Err(Refusal::Stale);
    }
    Ok(())
}

fn verify(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> Result<(), Refusal> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    // ring recomputes the tag and compares it in constant time.
    hmac::verify(&key, &parts.concat(), tag).map_err(|_| Refusal::BadSignature)
}

/// Zendesk: base64(HMAC-SHA256(secret, timestamp + body)); the timestamp
/// (RFC 3339) must be within the window.
pub fn zendesk(
    secret: &[u8],
    header: Header<'_>,
    body: &[u8],
    now_s: i64,
) -> Result<Verified, Refusal> {
    let sig = header(ZENDESK_SIGNATURE).ok_or(Refusal::Malformed("signature"))?;
    let ts = header(ZENDESK_TIMESTAMP).ok_or(Refusal::Malformed("timestamp"))?;
    let tag = B64
        .decode(sig.trim())
        .map_err(|_| Refusal::Malformed("signature"))?;
    verify(secret, &[ts.as_bytes(), body], &tag)?;
    let when = chrono::DateTime::parse_from_rfc3339(ts.trim())
        .map_err(|_| Refusal::Malformed("timestamp"))?;
    within_window(when.timestamp(), now_s)?;
    Ok(Verified { delivery_id: None })
}

/// Jira Cloud: `sha256=<hex HMAC-SHA256(secret, body)>`. The timestamp is
/// the payload's own (checked by the caller once the body is trusted).
pub fn jira(secret: &[u8], header: Header<'_>, body: &[u8]) -> Result<Verified, Refusal> {
    let sig = header(JIRA_SIGNATURE).ok_or(Refusal::Malformed("signature"))?;
    let hex_tag = sig
        .trim()
        .strip_prefix("sha256=")
        .ok_or(Refusal::Malformed("signature"))?;
    let tag = hex::decode(hex_tag).map_err(|_| Refusal::Malformed("signature"))?;
    verify(secret, &[body], &tag)?;
    Ok(Verified {
        delivery_id: header(JIRA_DELIVERY).filter(|s| !s.trim().is_empty()),
    })
}

/// Jira's payload timestamp (milliseconds) against the window.
pub fn jira_timestamp(ms: Option<i64>, now_s: i64) -> Result<(), Refusal> {
    within_window(ms.ok_or(Refusal::Malformed("timestamp"))? / 1000, now_s)
}

/// The key of a Standard Webhooks secret (`whsec_<base64>`).
pub fn standard_key(secret: &str) -> Option<Vec<u8>> {
    B64.decode(secret.strip_prefix(WHSEC)?)
        .ok()
        .filter(|k| !k.is_empty())
}

/// Standard Webhooks: any of the space-separated `v1,<base64>` signatures
/// of `id.timestamp.body` matches; the timestamp is within the window.
pub fn standard(
    key: &[u8],
    header: Header<'_>,
    body: &[u8],
    now_s: i64,
) -> Result<Verified, Refusal> {
    let id = header(STANDARD_ID).ok_or(Refusal::Malformed("webhook-id"))?;
    let ts = header(STANDARD_TIMESTAMP).ok_or(Refusal::Malformed("webhook-timestamp"))?;
    let sigs = header(STANDARD_SIGNATURE).ok_or(Refusal::Malformed("webhook-signature"))?;
    let ts_num: i64 = ts
        .trim()
        .parse()
        .map_err(|_| Refusal::Malformed("webhook-timestamp"))?;
    let mut matched = false;
    for s in sigs.split(' ') {
        let Some(b64) = s.strip_prefix("v1,") else {
            continue;
        };
        let Ok(tag) = B64.decode(b64) else { continue };
        if verify(key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body], &tag).is_ok() {
            matched = true;
        }
    }
    if !matched {
        return Err(Refusal::BadSignature);
    }
    within_window(ts_num, now_s)?;
    Ok(Verified {
        delivery_id: Some(id),
    })
}

/// The `webhook-signature` value for an outbound event.
pub fn sign_standard(key: &[u8], id: &str, ts: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(format!("{id}.{ts}.").as_bytes());
    ctx.update(body);
    format!("v1,{}", B64.encode(ctx.sign().as_ref()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Sync + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    // The example from the Standard Webhooks specification's reference
    // implementation tests (secret, id, timestamp, payload, signature).
    #[test]
    fn standard_matches_the_specification_example() {
        let key = standard_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let h = headers(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,bad v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ]);
        assert_eq!(
            standard(&key, &h, body, 1614265330)
                .unwrap()
                .delivery_id
                .as_deref(),
            Some("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
        assert_eq!(
            sign_standard(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(
            standard(&key, &h, body, 1614265330 + 301),
            Err(Refusal::Stale)
        );
        assert_eq!(
            standard(&key, &h, b"{\"test\": 1}", 1614265330),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn jira_and_zendesk_refuse_a_changed_body() {
        let secret = b"It's a Secret to Everybody";
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let body = b"Hello, World!";
        let tag = hex::encode(hmac::sign(&key, body).as_ref());
        // GitHub's documented example (same X-Hub-Signature-256 scheme).
        assert_eq!(
            tag,
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let sig = format!("sha256={tag}");
        let h = headers(&[("x-hub-signature", &sig)]);
        assert!(jira(secret, &h, body).is_ok());
        assert_eq!(
            jira(secret, &h, b"Hello, World?"),
            Err(Refusal::BadSignature)
        );
        let ts = "2026-11-27T10:00:00Z";
        let mut msg = ts.as_bytes().to_vec();
        msg.extend_from_slice(body);
        let z = B64.encode(hmac::sign(&key, &msg).as_ref());
        let h = headers(&[(ZENDESK_SIGNATURE, &z), (ZENDESK_TIMESTAMP, ts)]);
        let now = chrono::DateTime::parse_from_rfc3339(ts)
            .unwrap()
            .timestamp();
        assert!(zendesk(secret, &h, body, now + 60).is_ok());
        assert_eq!(zendesk(secret, &h, body, now + 400), Err(Refusal::Stale));
        assert_eq!(zendesk(b"other", &h, body, now), Err(Refusal::BadSignature));
    }
}
