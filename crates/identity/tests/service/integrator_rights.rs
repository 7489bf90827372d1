//! Integrators hold admin rights minus the admin-only powers: `Authorize`
//! refuses them every capability-backed right, the handlers of those powers
//! refuse them, and neither they nor admins can widen anyone past that
//! through roles.

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
    // The capability-backed rights, a security area under a business prefix,
    // and Keyholder's own rights outside the delegates' allowlist.
    for (entity, action) in [
        ("security.totp", "disable"),
        ("identity.users", "set_admin"),
        ("settings.security", "edit"),
        ("mfa", "disable"),
        ("identity.admins", "change"),
        ("identity.tenants", "transfer_ownership"),
        ("owner", "change"),
        ("security.2fa.settings", "change"),
        ("support_access", "change"),
        ("support_access.requests", "approve"),
        ("crm.security", "read"),
        ("identity.sessions", "revoke"),
    ] {
        let d = authorize(
            &s,
            &t.admin_token,
            &t.tenant_id,
            &integ.user_id,
            entity,
            action,
        )
        .await;
        assert!(!d.allowed, "{entity}:{action}");
        assert!(
            d.rule.starts_with(&format!(
                "integrators may not be authorized for {entity}:{action}: "
            )) && d.rule.contains("admin-only"),
            "{}",
            d.rule
        );
    }
    // Respelled, the names are not names at all.
    for (entity, action) in [
        ("Security.TOTP", "disable"),
        ("mfa", "Disable"),
        ("mf\u{0430}", "disable"),
        ("security..totp", "disable"),
    ] {
        refused(
            s.identity()
                .authorize(bearer(
                    pb::AuthorizeRequest {
                        tenant_id: t.tenant_id.clone(),
                        principal_id: integ.user_id.clone(),
                        entity: entity.into(),
                        action: action.into(),
                    },
                    &t.admin_token,
                ))
                .await,
            Code::InvalidArgument,
            "lowercase",
        );
    }
    for (entity, action) in [("crm.deal", "delete"), ("identity.users", "read")] {
        let d = authorize(
            &s,
            &t.admin_token,
            &t.tenant_id,
            &integ.user_id,
            entity,
            action,
        )
        .await;
        assert!(d.allowed, "{}", d.rule);
        assert_eq!(
            d.rule,
            format!("role integrator grants {entity}:{action} (held by every integrator)")
        );
    }
    // An admin employee still reaches them.
    for (entity, action) in [("identity.admins", "change"), ("security.totp", "disable")] {
        let d = authorize(
            &s,
            &t.admin_token,
            &t.tenant_id,
            &t.chief_admin_id,
            entity,
            action,
        )
        .await;
        assert!(d.allowed, "{}", d.rule);
    }
}

#[tokio::test]
async fn integrators_may_not_use_the_admin_only_powers() {
    let s = suite().await;
    let t = s.create_tenant("Acme", 5).await;
    let ann = s.create_employee(&t, "ann@acme.example", true).await;
    let bob = s.create_employee(&t, "bob@acme.example", false).await;
    s.register_partner("Integra", &["integra.example"]).await;
    let integ = s.invite_integrator(&t, "ivan@integra.example").await;

    for (user, admin) in [(&bob.user_id, true), (&ann.user_id, false)] {
        refused(
            s.identity()
                .set_admin(bearer(
                    pb::SetAdminRequest {
                        request_id: rid(),
                        user_id: user.clone(),
                        admin,
                    },
                    &integ.token,
                ))
                .await,
            Code::PermissionDenied,
            "integrators may not appoint or dismiss administrators",
        );
    }
    refused(
        s.identity()
            .disable_totp(bearer(
                pb::DisableTotpRequest {
                    request_id: rid(),
                    user_id: bob.user_id.clone(),
                },
                &integ.token,
            ))
            .await,
        Code::PermissionDenied,
        "integrators may not turn off two-factor authentication",
    );
    refused(
        s.identity()
            .transfer_ownership(bearer(
                pb::TransferOwnershipRequest {
                    request_id: rid(),
                    tenant_id: t.tenant_id.clone(),
                    new_chief_admin_id: ann.user_id.clone(),
                },
                &integ.token,
            ))
            .await,
        Code::PermissionDenied,
        "integrators may not transfer ownership",
    );
    // The same calls by an employee administrator go through.
    s.identity()
        .set_admin(bearer(
            pb::SetAdminRequest {
                request_id: rid(),
                user_id: bob.user_id.clone(),
                admin: true,
            },
            &t.admin_token,
        ))
        .await
        .unwrap();
    s.identity()
        .transfer_ownership(bearer(
            pb::TransferOwnershipRequest {
                request_id: rid(),
                tenant_id: t.tenant_id.clone(),
                new_chief_admin_id: ann.user_id.clone(),
            },
            &t.admin_token,
        ))
        .await
        .unwrap();
}
