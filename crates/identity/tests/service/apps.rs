//! Apps, access lists and Authorize.

use crate::*;

#[tokio::test]
async fn apps_and_their_access_lists() {
    let s = suite().await;
    let a = s.create_tenant("A", 5).await;
    let b = s.create_tenant("B", 5).await;
    let emp = s.create_employee(&a, "bob@a.example", false).await;
    let other = s.create_employee(&a, "eve@a.example", false).await;
    let install = |code: &str, tok: &str| {
        call!(
            s,
            install_app,
            bearer(
                pb::InstallAppRequest {
                    request_id: rid(),
                    tenant_id: a.tenant_id.clone(),
                    code: code.into()
                },
                tok
            )
        )
    };
    refused(
        install("chatapp", &emp.token).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        install("chatapp", &b.admin_token).await,
        Code::PermissionDenied,
        "not a member",
    );
    refused(
        install("Chat App", &a.admin_token).await,
        Code::InvalidArgument,
        "code \"Chat App\" is not valid",
    );
    let (_, backend) = s
        .create_service_account("crm", &["identity.authorize"])
        .await;
    let d = authorize(
        &s,
        &backend,
        &a.tenant_id,
        &emp.user_id,
        "app.chatapp",
        "use",
    )
    .await;
    assert_eq!(
        (d.allowed, d.rule.as_str()),
        (false, "app chatapp is not installed in this tenant")
    );
    let app = install("chatapp", &a.admin_token)
        .await
        .unwrap()
        .into_inner()
        .app
        .unwrap();
    assert_eq!(app.installed_by, a.chief_admin_id);
    refused(
        install("chatapp", &a.admin_token).await,
        Code::AlreadyExists,
        "already installed",
    );
    let d = authorize(
        &s,
        &backend,
        &a.tenant_id,
        &emp.user_id,
        "app.chatapp",
        "use",
    )
    .await;
    assert!(d.allowed);
    assert_eq!(
        d.rule,
        "app chatapp has an empty access list: every employee may use it"
    );
    let set = |access: Vec<pb::RoleSubject>, tok: &str| {
        call!(
            s,
            set_app_access,
            bearer(
                pb::SetAppAccessRequest {
                    request_id: rid(),
                    tenant_id: a.tenant_id.clone(),
                    code: "chatapp".into(),
                    access
                },
                tok
            )
        )
    };
    refused(
        set(vec![user_subject(&emp.user_id)], &emp.token).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        set(vec![user_subject("nobody")], &a.admin_token).await,
        Code::NotFound,
        "user",
    );
    let updated = set(vec![user_subject(&emp.user_id)], &a.admin_token)
        .await
        .unwrap()
        .into_inner()
        .app
        .unwrap();
    assert_eq!(updated.access, vec![user_subject(&emp.user_id)]);
    assert!(
        authorize(
            &s,
            &backend,
            &a.tenant_id,
            &emp.user_id,
            "app.chatapp",
            "use"
        )
        .await
        .allowed
    );
    let d = authorize(
        &s,
        &backend,
        &a.tenant_id,
        &other.user_id,
        "app.chatapp",
        "use",
    )
    .await;
    assert!(!d.allowed && d.rule.contains("does not include"));
    let apps = s
        .identity()
        .list_apps(bearer(
            pb::ListAppsRequest {
                tenant_id: a.tenant_id.clone(),
                ..Default::default()
            },
            &emp.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .apps;
    assert_eq!(apps.len(), 1);
    refused(
        s.identity()
            .list_apps(bearer(
                pb::ListAppsRequest {
                    tenant_id: a.tenant_id.clone(),
                    ..Default::default()
                },
                &b.admin_token,
            ))
            .await,
        Code::PermissionDenied,
        "not a member",
    );
    // Back to an empty list: everyone again.
    set(vec![], &a.admin_token).await.unwrap();
    assert!(
        authorize(
            &s,
            &backend,
            &a.tenant_id,
            &other.user_id,
            "app.chatapp",
            "use"
        )
        .await
        .allowed
    );
}

#[tokio::test]
async fn authorize_callers_principals_and_tenants() {
    let s = suite().await;
    let a = s.create_tenant("A", 5).await;
    let b = s.create_tenant("B", 5).await;
    let emp = s.create_employee(&a, "bob@a.example", false).await;
    let agent = s.create_agent("Alice").await;
    let d = authorize(
        &s,
        &a.admin_token,
        &a.tenant_id,
        &a.chief_admin_id,
        "crm.deal",
        "delete",
    )
    .await;
    assert!(d.allowed && d.rule.starts_with("role admin grants crm.deal:delete"));
    let d = authorize(
        &s,
        &a.admin_token,
        &a.tenant_id,
        &agent.agent_id,
        "crm.deal",
        "read",
    )
    .await;
    assert!(!d.allowed && d.rule.contains("support-access grant"));
    let d = authorize(
        &s,
        &a.admin_token,
        &a.tenant_id,
        "nobody",
        "crm.deal",
        "read",
    )
    .await;
    assert!(!d.allowed);
    // B's user checked in A's tenant: denied without B's details.
    let d = authorize(
        &s,
        &a.admin_token,
        &a.tenant_id,
        &b.chief_admin_id,
        "crm.deal",
        "read",
    )
    .await;
    assert_eq!(
        (d.allowed, d.rule.as_str()),
        (false, "the principal is not a member of this tenant")
    );
    let req = |tenant: &str| pb::AuthorizeRequest {
        tenant_id: tenant.into(),
        principal_id: emp.user_id.clone(),
        entity: "crm.deal".into(),
        action: "read".into(),
    };
    refused(
        s.identity()
            .authorize(bearer(req(&a.tenant_id), &emp.token))
            .await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        s.identity()
            .authorize(bearer(req(&a.tenant_id), &b.admin_token))
            .await,
        Code::PermissionDenied,
        "not a member",
    );
    refused(
        s.identity().authorize(anon(req(&a.tenant_id))).await,
        Code::Unauthenticated,
        "missing",
    );
    let mut bad = req(&a.tenant_id);
    bad.entity = "CRM Deal".into();
    refused(
        s.identity().authorize(bearer(bad, &a.admin_token)).await,
        Code::InvalidArgument,
        "entity",
    );
    s.identity()
        .deactivate_user(bearer(
            pb::DeactivateUserRequest {
                request_id: rid(),
                user_id: emp.user_id.clone(),
            },
            &a.admin_token,
        ))
        .await
        .unwrap();
    let d = authorize(
        &s,
        &a.admin_token,
        &a.tenant_id,
        &emp.user_id,
        "profile",
        "read",
    )
    .await;
    assert_eq!(
        (d.allowed, d.rule.as_str()),
        (false, "the user is deactivated")
    );
}
