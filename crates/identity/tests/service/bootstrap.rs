use crate::*;
use keyholder_kit::credentials::{self, OperatorCredentials, ServiceCredentials};

#[tokio::test]
async fn bootstrap_writes_owner_only_credentials_once_and_they_work() {
    let mut s = Suite::new().await;
    s.start_identity().await;
    let op: OperatorCredentials =
        credentials::read(&s.dir.path().join("operator.credentials")).unwrap();
    assert_eq!(op.email, "operator@keyholder.local");
    assert!(op.password.len() >= 20);
    for f in [
        "operator.credentials",
        "broker.credentials",
        "audit.credentials",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let broker: ServiceCredentials =
        credentials::read(&s.dir.path().join("broker.credentials")).unwrap();
    let tok = s
        .identity()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: broker.client_id.clone(),
            client_secret: broker.client_secret.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!tok.access_token.is_empty());
    // The broker's account may read contacts; audit's may not authorize.
    let t = s.create_tenant("Acme", 2).await;
    s.identity()
        .get_tenant_contacts(bearer(
            pb::GetTenantContactsRequest {
                tenant_id: t.tenant_id.clone(),
            },
            &tok.access_token,
        ))
        .await
        .unwrap();
    let audit: ServiceCredentials =
        credentials::read(&s.dir.path().join("audit.credentials")).unwrap();
    let atok = s
        .identity()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: audit.client_id,
            client_secret: audit.client_secret,
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    refused(
        s.identity()
            .authorize(bearer(
                pb::AuthorizeRequest {
                    tenant_id: t.tenant_id.clone(),
                    principal_id: t.chief_admin_id.clone(),
                    entity: "crm.deal".into(),
                    action: "read".into(),
                },
                &atok,
            ))
            .await,
        Code::PermissionDenied,
        "not a member",
    );
    // A second start on the same data neither rewrites files nor re-creates accounts.
    let before = std::fs::read_to_string(s.dir.path().join("operator.credentials")).unwrap();
    s.start_identity().await;
    assert_eq!(
        before,
        std::fs::read_to_string(s.dir.path().join("operator.credentials")).unwrap()
    );
    s.operator_token().await;
}
