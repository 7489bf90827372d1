//! Tenants: creation, reading, listing and updates (ownership, contacts and
//! seats are in `tenants_ownership`).

use crate::*;

fn tenant_req(name: &str, seats: u32, email: &str, password: &str) -> pb::CreateTenantRequest {
    pb::CreateTenantRequest {
        request_id: rid(),
        name: name.into(),
        seat_limit: seats,
        locale: pb::Locale::Ru as i32,
        chief_admin: Some(pb::ChiefAdminSpec {
            email: email.into(),
            display_name: "Chief".into(),
            password: password.into(),
        }),
    }
}

#[tokio::test]
async fn create_tenant_operator_only_validated_and_idempotent() {
    let s = suite().await;
    let op = s.operator_token().await;
    let t = s.create_tenant("Acme", 3).await;
    let good = tenant_req(
        "Рога и копыта",
        2,
        "boss@roga.example",
        "long-enough-password",
    );
    refused(
        s.identity().create_tenant(anon(good.clone())).await,
        Code::Unauthenticated,
        "missing",
    );
    refused(
        s.identity()
            .create_tenant(bearer(good.clone(), &t.admin_token))
            .await,
        Code::PermissionDenied,
        "operator",
    );
    for (bad, words) in [
        (
            tenant_req("", 2, "boss@roga.example", "long-enough-password"),
            "name",
        ),
        (
            tenant_req("X", 0, "boss@roga.example", "long-enough-password"),
            "seat_limit",
        ),
        (
            tenant_req("X", 2, "not-an-email", "long-enough-password"),
            "e-mail",
        ),
        (
            tenant_req("X", 2, "boss@roga.example", "short"),
            "at least 12",
        ),
    ] {
        refused(
            s.identity().create_tenant(bearer(bad, &op)).await,
            Code::InvalidArgument,
            words,
        );
    }
    let first = s
        .identity()
        .create_tenant(bearer(good.clone(), &op))
        .await
        .unwrap()
        .into_inner();
    let again = s
        .identity()
        .create_tenant(bearer(good.clone(), &op))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.tenant, again.tenant,
        "a retry returns the first answer"
    );
    let tenant = first.tenant.unwrap();
    assert_eq!(tenant.locale, pb::Locale::Ru as i32);
    assert_eq!(tenant.seat_limit, 2);
    let chief = first.chief_admin.unwrap();
    assert!(chief.admin && chief.chief_admin && chief.active);
    assert_eq!(tenant.chief_admin_id, chief.user_id);
    // Built-in roles exist for the new tenant.
    let tok = s
        .sign_in(
            &tenant.tenant_id,
            "boss@roga.example",
            "long-enough-password",
            "",
        )
        .await;
    let roles = s
        .identity()
        .list_roles(bearer(
            pb::ListRolesRequest {
                tenant_id: tenant.tenant_id.clone(),
                ..Default::default()
            },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner()
        .roles;
    let find = |n: &str| roles.iter().find(|r| r.name == n).unwrap().clone();
    assert_eq!(find("admin").rights, vec![right("*:*")]);
    assert_eq!(find("support_read_only").rights, vec![right("*:read")]);
    assert!(find("employee").built_in && find("integrator").built_in);
}

#[tokio::test]
async fn get_and_list_tenants_are_confined() {
    let s = suite().await;
    let op = s.operator_token().await;
    let a = s.create_tenant("A", 3).await;
    let b = s.create_tenant("B", 3).await;
    let get = |id: &str, tok: &str| {
        call!(
            s,
            get_tenant,
            bearer(
                pb::GetTenantRequest {
                    tenant_id: id.into()
                },
                tok
            )
        )
    };
    assert_eq!(
        get(&a.tenant_id, &a.admin_token)
            .await
            .unwrap()
            .into_inner()
            .tenant
            .unwrap()
            .name,
        "A"
    );
    assert_eq!(
        get(&b.tenant_id, &op)
            .await
            .unwrap()
            .into_inner()
            .tenant
            .unwrap()
            .name,
        "B"
    );
    refused(
        get(&b.tenant_id, &a.admin_token).await,
        Code::PermissionDenied,
        "not a member",
    );
    refused(get("", &op).await, Code::InvalidArgument, "tenant_id");
    refused(
        get("missing", &op).await,
        Code::InvalidArgument,
        "tenant_id must be a UUID",
    );
    refused(
        get("0192f3a0-0000-7000-8000-000000000001", &op).await,
        Code::NotFound,
        "not found",
    );
    let page1 = s
        .identity()
        .list_tenants(bearer(
            pb::ListTenantsRequest {
                page_size: 1,
                page_token: String::new(),
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page1.tenants.len(), 1);
    let page2 = s
        .identity()
        .list_tenants(bearer(
            pb::ListTenantsRequest {
                page_size: 1,
                page_token: page1.next_page_token,
            },
            &op,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page2.tenants.len(), 1);
    assert_ne!(page1.tenants[0].tenant_id, page2.tenants[0].tenant_id);
    refused(
        s.identity()
            .list_tenants(bearer(pb::ListTenantsRequest::default(), &a.admin_token))
            .await,
        Code::PermissionDenied,
        "operator",
    );
    refused(
        s.identity()
            .list_tenants(bearer(
                pb::ListTenantsRequest {
                    page_size: -1,
                    page_token: String::new(),
                },
                &op,
            ))
            .await,
        Code::InvalidArgument,
        "page_size",
    );
}

#[tokio::test]
async fn update_tenant_admins_name_and_locale_operator_seats() {
    let s = suite().await;
    let op = s.operator_token().await;
    let a = s.create_tenant("A", 3).await;
    let b = s.create_tenant("B", 3).await;
    let e = s.create_employee(&a, "bob@a.example", false).await;
    let upd = |name: Option<&str>, seats: Option<u32>| pb::UpdateTenantRequest {
        request_id: rid(),
        tenant_id: a.tenant_id.clone(),
        name: name.map(str::to_string),
        locale: Some(pb::Locale::Ru as i32),
        seat_limit: seats,
        invitation_policy: None,
    };
    let t = s
        .identity()
        .update_tenant(bearer(upd(Some("A2"), None), &a.admin_token))
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert_eq!((t.name.as_str(), t.locale), ("A2", pb::Locale::Ru as i32));
    refused(
        s.identity()
            .update_tenant(bearer(upd(None, Some(9)), &a.admin_token))
            .await,
        Code::PermissionDenied,
        "seat limit",
    );
    refused(
        s.identity()
            .update_tenant(bearer(upd(Some("X"), None), &e.token))
            .await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        s.identity()
            .update_tenant(bearer(upd(Some("X"), None), &b.admin_token))
            .await,
        Code::PermissionDenied,
        "not a member",
    );
    refused(
        s.identity()
            .update_tenant(bearer(upd(Some(" "), None), &a.admin_token))
            .await,
        Code::InvalidArgument,
        "name",
    );
    refused(
        s.identity().update_tenant(anon(upd(Some("X"), None))).await,
        Code::Unauthenticated,
        "missing",
    );
    let t = s
        .identity()
        .update_tenant(bearer(upd(None, Some(9)), &op))
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert_eq!(t.seat_limit, 9);
    let tb = s
        .identity()
        .get_tenant(bearer(
            pb::GetTenantRequest {
                tenant_id: b.tenant_id.clone(),
            },
            &op,
        ))
        .await
        .unwrap();
    assert_eq!(tb.into_inner().tenant.unwrap().name, "B");
}
