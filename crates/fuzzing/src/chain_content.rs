//! VerifyChain's cheap reading of an event's canonical content
//! (`content_scan::scan`). It may decline anything (the full parse then
//! decides), but what it reads must be exactly what a JSON parser reads:
//! it is a tamper check, and a document the two read differently would let
//! an edited filter column pass.

use keyholder_audit::domain::content_scan::scan;
use serde_json::Value;

/// The bytes are the content, as text.
pub fn chain_content(data: &[u8]) {
    let text = crate::text(data);
    let Some(read) = scan(&text) else {
        return;
    };
    let parsed: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the scan read a document JSON refuses ({e}): {text:?}"));
    let string = |key: &str| parsed.get(key).and_then(Value::as_str);
    assert_eq!(string("tenant_id"), Some(read.tenant_id), "{text:?}");
    assert_eq!(string("event_id"), Some(read.event_id), "{text:?}");
    assert_eq!(string("kind"), Some(read.kind), "{text:?}");
    assert_eq!(string("occur_time"), Some(read.occur_time), "{text:?}");
    assert_eq!(string("grant_id"), Some(read.grant_id), "{text:?}");
    assert_eq!(string("session_id"), Some(read.session_id), "{text:?}");
    assert_eq!(
        parsed.get("sequence").and_then(Value::as_i64),
        Some(read.sequence),
        "{text:?}"
    );
    let agent = match parsed.get("agent") {
        Some(Value::Null) => Some(""),
        Some(a) => a.get("id").and_then(Value::as_str),
        None => None,
    };
    assert_eq!(agent, Some(read.agent_id), "{text:?}");
}
