//! Integrators hold admin rights minus the admin-only areas; neither they nor
//! admins can widen anyone past that through roles.

use crate::*;

fn create_role(name: &str, rights: &[&str]) -> pb::CreateRoleRequest {
    pb::CreateRoleRequest {
        request_id: rid(),
        tenant_id: String::new(),
        name: name.into(),
        rights: rights.iter().map(|r| right(r)).collect(),
    }
}

#[tokio::test]
async fn roles_cannot_widen_past_the_integrator_restrictions() {
    let s = suite().await;
    let t = s.create_tenant("Acme", 5).await;
    let emp = s.create_employee(&t, "bob@acme.example", false).await;
    s.register_partner("Integra", &["integra.example"]).await;
    let integ = s.invite_integrator(&t, "ivan@integra.example").await;
    let roles = s
        .identity()
        .list_roles(bearer(
            pb::ListRolesRequest {
                tenant_id: t.tenant_id.clone(),
                ..Default::default()
            },
            &t.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .roles;
    let role_id = |name: &str| {
        roles
            .iter()
            .find(|r| r.name == name)
            .unwrap()
            .role_id
            .clone()
    };
    let assign = |role: String, token: &str| {
        call!(
            s,
            assign_role,
            bearer(
                pb::AssignRoleRequest {
                    request_id: rid(),
                    role_id: role,
                    subject: Some(user_subject(&emp.user_id)),
                },
                token
            )
        )
    };
    let create = |name: &str, rights: &[&str], token: &str| {
        let mut req = create_role(name, rights);
        req.tenant_id = t.tenant_id.clone();
        call!(s, create_role, bearer(req, token))
    };

    // Nobody hands out the built-in integrator role (it is `*:*`).
    for token in [&t.admin_token, &integ.token] {
        refused(
            assign(role_id("integrator"), token).await,
            Code::FailedPrecondition,
            "the integrator role comes only with an integrator invitation",
        );
    }

    // Integrators may not create roles reaching every entity or admin-only areas.
    for wide in [
        "*:*",
        "*:read",
        "identity.*:read",
        "identity.admins:change",
        "support_access:edit",
    ] {
        refused(
            create("wide", &[wide], &integ.token).await,
            Code::PermissionDenied,
            &format!("integrators may not hand out the right {wide}"),
        );
    }
    let narrow = create("crm", &["crm.*:*"], &integ.token)
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    // …nor widen one afterwards.
    refused(
        s.identity()
            .update_role(bearer(
                pb::UpdateRoleRequest {
                    request_id: rid(),
                    role_id: narrow.role_id.clone(),
                    rights: vec![right("crm.*:*"), right("security.2fa:edit")],
                },
                &integ.token,
            ))
            .await,
        Code::PermissionDenied,
        "security.2fa:edit",
    );
    assign(narrow.role_id.clone(), &integ.token).await.unwrap();

    // A wide role an admin made: only an admin employee may assign it.
    let everything = create("everything", &["*:*"], &t.admin_token)
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    refused(
        assign(everything.role_id.clone(), &integ.token).await,
        Code::PermissionDenied,
        "integrators may not hand out the right *:*",
    );
    refused(
        assign(role_id("support_read_only"), &integ.token).await,
        Code::PermissionDenied,
        "*:read",
    );
    assign(everything.role_id, &t.admin_token).await.unwrap();
}

#[tokio::test]
async fn integrators_are_denied_admin_only_areas() {
    let s = suite().await;
    let t = s.create_tenant("Acme", 5).await;
    s.register_partner("Integra", &["integra.example"]).await;
    let integ = s.invite_integrator(&t, "ivan@integra.example").await;
    for entity in [
        "identity.admins",
        "owner",
        "security.2fa.settings",
        "support_access",
    ] {
        let d = authorize(
            &s,
            &t.admin_token,
            &t.tenant_id,
            &integ.user_id,
            entity,
            "change",
        )
        .await;
        assert!(!d.allowed, "{entity}");
        assert_eq!(
            d.rule,
            format!(
                "{entity} is an admin-only area: integrators may not manage admins or the owner, 2FA settings or support-access settings"
            )
        );
    }
    let d = authorize(
        &s,
        &t.admin_token,
        &t.tenant_id,
        &integ.user_id,
        "crm.deal",
        "delete",
    )
    .await;
    assert!(
        d.allowed && d.rule.starts_with("role integrator grants"),
        "{}",
        d.rule
    );
    // An admin employee still reaches them.
    let d = authorize(
        &s,
        &t.admin_token,
        &t.tenant_id,
        &t.chief_admin_id,
        "identity.admins",
        "change",
    )
    .await;
    assert!(d.allowed, "{}", d.rule);
}
