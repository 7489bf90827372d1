use super::*;
use crate::jwt;
use async_trait::async_trait;
use jsonwebtoken::DecodingKey;
use std::sync::Arc;

struct OneKey(DecodingKey);

#[async_trait]
impl KeyResolver for OneKey {
    async fn resolve(&self, _: &str) -> Option<DecodingKey> {
        Some(self.0.clone())
    }
}

#[tokio::test]
async fn token_windows_are_judged_by_the_injected_clock() {
    let (private, public) = jwt::generate_ed25519().unwrap_or_default();
    let start = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let clock = crate::clock::ManualClock::new(start);
    let t = start.timestamp();
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": [AUDIENCE_BROKER], "sub": "svc", "exp": t + 300,
        "nbf": t, "iat": t, "jti": "j1", "kind": "service_account",
        "scp": ["broker.check_access"], "ver": 0,
    });
    let token = jwt::sign(&claims, ACCESS_TOKEN_TYPE, "k1", &private).unwrap_or_default();
    let make = || {
        Authenticator::new(
            Arc::new(OneKey(jwt::decoding_key(&public))),
            AUDIENCE_BROKER,
            clock.clone(),
        )
    };
    // Years after the wall clock says it expired, the manual clock says now.
    assert!(make().verify(&token).await.is_ok());
    clock.advance(chrono::Duration::seconds(300 + 6));
    assert!(matches!(
        make().verify(&token).await,
        Err(AuthError::InvalidToken(JwtError::Expired))
    ));
    // A cached answer also ends at `exp` by the same clock.
    let cached = make();
    clock.advance(chrono::Duration::seconds(-306));
    assert!(cached.verify(&token).await.is_ok());
    // Past `exp` and the 5 s leeway.
    clock.advance(chrono::Duration::seconds(306));
    assert!(cached.verify(&token).await.is_err());
}

fn p(kind: PrincipalKind, tenant: Option<&str>, admin: bool) -> Principal {
    Principal {
        id: "u".into(),
        kind,
        tenant_id: tenant.map(str::to_string),
        admin,
        chief_admin: false,
        scopes: vec!["broker.check_access".into()],
        mfa: false,
        display_name: String::new(),
        email: String::new(),
        version: 0,
    }
}

#[test]
fn tenant_confinement() {
    let admin_a = p(PrincipalKind::Employee, Some("A"), true);
    assert!(admin_a.require_admin_of("A").is_ok());
    assert!(
        matches!(admin_a.require_admin_of("B"), Err(AuthError::Forbidden(m)) if m.contains("not a member"))
    );
    let emp_a = p(PrincipalKind::Employee, Some("A"), false);
    assert!(emp_a.require_admin_of("A").is_err());
    let integ = p(PrincipalKind::Integrator, Some("A"), true);
    assert!(integ.require_admin_of("A").is_ok());
    assert!(integ.require_employee_admin_of("A").is_err());
    let agent = p(PrincipalKind::SupportAgent, None, false);
    assert!(!agent.is_member_of("A"));
    let svc = p(PrincipalKind::ServiceAccount, None, false);
    assert!(svc.require_scope("broker.check_access").is_ok());
    assert!(svc.require_scope("audit.events.write").is_err());
    assert!(emp_a.require_scope("broker.check_access").is_err());
}

#[test]
fn a_record_is_read_by_its_agent_or_its_tenants_admins_only() {
    let mut agent = p(PrincipalKind::SupportAgent, None, false);
    agent.id = "agent-1".into();
    assert!(agent.require_agent_or_admin_of("agent-1", "A").is_ok());
    agent.id = "agent-2".into();
    assert!(matches!(
        agent.require_agent_or_admin_of("agent-1", "A"),
        Err(AuthError::Forbidden(_))
    ));
    let admin_a = p(PrincipalKind::Employee, Some("A"), true);
    assert!(admin_a.require_agent_or_admin_of("agent-1", "A").is_ok());
    let admin_b = p(PrincipalKind::Employee, Some("B"), true);
    assert!(admin_b.require_agent_or_admin_of("agent-1", "A").is_err());
    let emp_a = p(PrincipalKind::Employee, Some("A"), false);
    assert!(emp_a.require_agent_or_admin_of("agent-1", "A").is_err());
}

#[test]
fn bearer_parsing() {
    let mut m = MetadataMap::new();
    assert_eq!(bearer(&m), Err(AuthError::MissingToken));
    m.insert(
        "authorization",
        "Basic abc"
            .parse()
            .unwrap_or_else(|_| tonic::metadata::MetadataValue::from_static("")),
    );
    assert_eq!(bearer(&m), Err(AuthError::MissingToken));
    m.insert(
        "authorization",
        tonic::metadata::MetadataValue::from_static("Bearer tok"),
    );
    assert_eq!(bearer(&m), Ok("tok"));
}
