//! RFC 8725 cases against the running server.

use crate::*;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyholder_kit::auth::AccessClaims;
use keyholder_kit::clock::ManualClock;
use keyholder_kit::config::ServiceName;
use std::sync::Arc;

async fn real_private_key(s: &Suite) -> (String, Vec<u8>) {
    let db = keyholder_kit::db::connect(&s.config.database_url(ServiceName::Identity))
        .await
        .unwrap();
    let kek = keyholder_kit::kek::KekRing::from_config(&s.config).unwrap();
    let store = keyholder_identity::store::Store::new(db, kek, keyholder_kit::clock::system());
    let key = store.current_signing_key().await.unwrap().unwrap();
    // The test holds the KEK, so it can open the key an attacker could not.
    let private = store
        .kek()
        .open_str(
            keyholder_identity::store::sealed::SIGNING_KEY,
            &key.kid,
            &key.private_key,
        )
        .unwrap();
    (key.kid, STANDARD.decode(private).unwrap())
}

fn claims_of(token: &str) -> AccessClaims {
    let body = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
}

async fn get_tenant(
    s: &Suite,
    tenant: &str,
    token: &str,
) -> Result<pb::GetTenantResponse, tonic::Status> {
    s.identity()
        .get_tenant(bearer(
            pb::GetTenantRequest {
                tenant_id: tenant.into(),
            },
            token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn forged_and_misused_tokens_are_refused() {
    let s = suite().await;
    let t = s.create_tenant("Acme", 3).await;
    get_tenant(&s, &t.tenant_id, &t.admin_token).await.unwrap();
    let claims = claims_of(&t.admin_token);
    let (kid, private) = real_private_key(&s).await;
    let parts: Vec<&str> = t.admin_token.split('.').collect();

    // alg: none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#)),
        parts[1]
    );
    refused(
        get_tenant(&s, &t.tenant_id, &none).await,
        Code::Unauthenticated,
        "malformed",
    );

    // HS256 keyed with the published public key (algorithm confusion).
    let keys = s
        .identity()
        .get_key_set(pb::GetKeySetRequest {})
        .await
        .unwrap()
        .into_inner();
    let public = URL_SAFE_NO_PAD.decode(&keys.keys[0].public_key).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.typ = Some("at+jwt".into());
    h.kid = Some(kid.clone());
    let hs = jsonwebtoken::encode(
        &h,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    refused(
        get_tenant(&s, &t.tenant_id, &hs).await,
        Code::Unauthenticated,
        "not allowed",
    );

    // Another Ed25519 key claiming the real kid.
    let (other, _) = keyholder_kit::jwt::generate_ed25519().unwrap();
    let wrong_key = keyholder_kit::jwt::sign(&claims, "at+jwt", &kid, &other).unwrap();
    refused(
        get_tenant(&s, &t.tenant_id, &wrong_key).await,
        Code::Unauthenticated,
        "invalid",
    );
    // An unknown kid.
    let unknown = keyholder_kit::jwt::sign(&claims, "at+jwt", "nope", &other).unwrap();
    refused(
        get_tenant(&s, &t.tenant_id, &unknown).await,
        Code::Unauthenticated,
        "unknown",
    );

    // Wrong audience and issuer, signed with the real key.
    let mut c = claims.clone();
    c.aud = vec!["someone-else".into()];
    let tok = keyholder_kit::jwt::sign(&c, "at+jwt", &kid, &private).unwrap();
    refused(
        get_tenant(&s, &t.tenant_id, &tok).await,
        Code::Unauthenticated,
        "audience",
    );
    let mut c = claims.clone();
    c.iss = "evil".into();
    let tok = keyholder_kit::jwt::sign(&c, "at+jwt", &kid, &private).unwrap();
    refused(
        get_tenant(&s, &t.tenant_id, &tok).await,
        Code::Unauthenticated,
        "issuer",
    );

    // Tampered payload: claim chief admin of another tenant, keep the signature.
    let mut c = claims.clone();
    c.tid = Some("another-tenant".into());
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap()),
        parts[2]
    );
    refused(
        get_tenant(&s, "another-tenant", &forged).await,
        Code::Unauthenticated,
        "invalid",
    );

    // Missing token.
    refused(
        s.identity()
            .get_tenant(anon(pb::GetTenantRequest {
                tenant_id: t.tenant_id.clone(),
            }))
            .await,
        Code::Unauthenticated,
        "missing bearer",
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let mut s = Suite::new().await;
    let clock = ManualClock::new(chrono::Utc::now());
    s.start_identity_with_clock(clock.clone()).await;
    let t = s.create_tenant("Acme", 3).await;
    clock.advance(chrono::Duration::minutes(-30));
    let old = s
        .sign_in(&t.tenant_id, &t.admin_email, &t.admin_password, "")
        .await;
    clock.advance(chrono::Duration::minutes(60));
    let early = s
        .sign_in(&t.tenant_id, &t.admin_email, &t.admin_password, "")
        .await;
    clock.advance(chrono::Duration::minutes(-30));
    refused(
        get_tenant(&s, &t.tenant_id, &old).await,
        Code::Unauthenticated,
        "expired",
    );
    refused(
        get_tenant(&s, &t.tenant_id, &early).await,
        Code::Unauthenticated,
        "not valid yet",
    );
    let _ = Arc::clone(&clock);
}

#[tokio::test]
async fn access_and_refresh_tokens_cannot_stand_in_for_each_other_and_reuse_revokes_the_family() {
    let s = suite().await;
    let t = s.create_tenant("Acme", 3).await;
    let pair = s
        .sign_in_response(&t.tenant_id, &t.admin_email, &t.admin_password, "")
        .await
        .unwrap()
        .tokens
        .unwrap();
    // Refresh token as access token.
    refused(
        get_tenant(&s, &t.tenant_id, &pair.refresh_token).await,
        Code::Unauthenticated,
        "type",
    );
    // Access token as refresh token.
    refused(
        s.identity()
            .refresh_token(pb::RefreshTokenRequest {
                refresh_token: pair.access_token.clone(),
            })
            .await,
        Code::Unauthenticated,
        "type",
    );
    // Rotation: the new pair works.
    let next = s
        .identity()
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: pair.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    get_tenant(&s, &t.tenant_id, &next.access_token)
        .await
        .unwrap();
    assert_eq!(claims_of(&next.access_token).amr, vec!["pwd"]);
    // Reuse of the spent one revokes the family: the newer token dies too.
    refused(
        s.identity()
            .refresh_token(pb::RefreshTokenRequest {
                refresh_token: pair.refresh_token.clone(),
            })
            .await,
        Code::Unauthenticated,
        "already used",
    );
    refused(
        s.identity()
            .refresh_token(pb::RefreshTokenRequest {
                refresh_token: next.refresh_token.clone(),
            })
            .await,
        Code::Unauthenticated,
        "revoked",
    );
    // Sign-out ends a family.
    let pair = s
        .sign_in_response(&t.tenant_id, &t.admin_email, &t.admin_password, "")
        .await
        .unwrap()
        .tokens
        .unwrap();
    s.identity()
        .sign_out(pb::SignOutRequest {
            refresh_token: pair.refresh_token.clone(),
            everywhere: false,
        })
        .await
        .unwrap();
    refused(
        s.identity()
            .refresh_token(pb::RefreshTokenRequest {
                refresh_token: pair.refresh_token,
            })
            .await,
        Code::Unauthenticated,
        "revoked",
    );
    refused(
        s.identity()
            .refresh_token(pb::RefreshTokenRequest {
                refresh_token: "garbage".into(),
            })
            .await,
        Code::Unauthenticated,
        "malformed",
    );
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_and_publishes_both_keys() {
    let s = suite().await;
    let op = s.operator_token().await;
    let before = claims_of(&op);
    refused(
        s.identity()
            .rotate_signing_key(anon(pb::RotateSigningKeyRequest {}))
            .await,
        Code::Unauthenticated,
        "missing",
    );
    let t = s.create_tenant("Acme", 3).await;
    refused(
        s.identity()
            .rotate_signing_key(bearer(pb::RotateSigningKeyRequest {}, &t.admin_token))
            .await,
        Code::PermissionDenied,
        "operator",
    );
    let new = s
        .identity()
        .rotate_signing_key(bearer(pb::RotateSigningKeyRequest {}, &op))
        .await
        .unwrap()
        .into_inner()
        .key
        .unwrap();
    assert_eq!(new.alg, "EdDSA");
    let set = s
        .identity()
        .get_key_set(pb::GetKeySetRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.keys.len(), 2);
    assert_eq!(set.issuer, "keyholder-identity");
    assert_eq!(
        set.audience,
        "keyholder-identity keyholder-broker keyholder-audit"
    );
    let old = set.keys.iter().find(|k| k.kid != new.kid).unwrap();
    assert!(
        old.expire_time.is_some(),
        "the retired key says when it stops being published"
    );
    // The old token still works; new tokens use the new kid.
    s.identity()
        .list_tenants(bearer(pb::ListTenantsRequest::default(), &op))
        .await
        .unwrap();
    let op2 = s.operator_token().await;
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(op2.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], new.kid.as_str());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert!(before.exp - before.iat <= 15 * 60);
}
