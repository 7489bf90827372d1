//! A support agent's TOTP secret is stored once, on the agent: the
//! idempotency record of CreateSupportAgent holds the answer without it.

use crate::*;
use keyholder_kit::config::ServiceName;
use sea_orm::{ConnectionTrait, Statement};

#[tokio::test]
async fn create_support_agent_keeps_no_second_copy_of_the_secret() {
    let s = suite().await;
    let op = s.operator_token().await;
    let req = pb::CreateSupportAgentRequest {
        request_id: rid(),
        email: "alice@vendor.example".into(),
        display_name: "Alice".into(),
        password: "long-enough-password".into(),
    };
    let first = s
        .identity()
        .create_support_agent(bearer(req.clone(), &op))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.totp_secret.is_empty());
    assert!(first.otpauth_uri.contains(&first.totp_secret));

    let db = keyholder_kit::db::connect(&s.config.database_url(ServiceName::Identity))
        .await
        .unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT response FROM identity_request_ids WHERE rpc = 'CreateSupportAgent'",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let stored: Vec<u8> = rows[0].try_get("", "response").unwrap();
    assert!(!stored.is_empty(), "the answer was stored");
    let secret = first.totp_secret.as_bytes();
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret),
        "the idempotency record holds the TOTP secret"
    );

    // A retry returns the same agent, without the secret.
    let again = s
        .identity()
        .create_support_agent(bearer(req, &op))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.user, first.user);
    assert_eq!(again.totp_secret, "");
    assert_eq!(again.otpauth_uri, "");
}
