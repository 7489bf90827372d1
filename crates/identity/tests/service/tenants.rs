//! Tenants, ownership, contacts and seats.

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

#[tokio::test]
async fn transfer_ownership_only_by_the_chief_to_an_active_admin_employee() {
    let s = suite().await;
    let a = s.create_tenant("A", 5).await;
    let b = s.create_tenant("B", 5).await;
    let admin = s.create_employee(&a, "ann@a.example", true).await;
    let emp = s.create_employee(&a, "bob@a.example", false).await;
    let b_admin = s.create_employee(&b, "zed@b.example", true).await;
    let req = |to: &str| pb::TransferOwnershipRequest {
        request_id: rid(),
        tenant_id: a.tenant_id.clone(),
        new_chief_admin_id: to.into(),
    };
    refused(
        s.identity()
            .transfer_ownership(anon(req(&admin.user_id)))
            .await,
        Code::Unauthenticated,
        "missing",
    );
    refused(
        s.identity()
            .transfer_ownership(bearer(req(&emp.user_id), &a.admin_token))
            .await,
        Code::FailedPrecondition,
        "active administrator",
    );
    refused(
        s.identity()
            .transfer_ownership(bearer(req(&b_admin.user_id), &a.admin_token))
            .await,
        Code::NotFound,
        "not found",
    );
    refused(
        s.identity()
            .transfer_ownership(bearer(req(&admin.user_id), &admin.token))
            .await,
        Code::PermissionDenied,
        "only the chief admin",
    );
    refused(
        s.identity()
            .transfer_ownership(bearer(req(&admin.user_id), &emp.token))
            .await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        s.identity()
            .transfer_ownership(bearer(req(&admin.user_id), &b.admin_token))
            .await,
        Code::PermissionDenied,
        "not a member",
    );
    s.register_partner("P", &["p.example"]).await;
    let integ = s.invite_integrator(&a, "ivan@p.example").await;
    refused(
        s.identity()
            .transfer_ownership(bearer(req(&admin.user_id), &integ.token))
            .await,
        Code::PermissionDenied,
        "integrators",
    );
    refused(
        s.identity()
            .transfer_ownership(bearer(req(&integ.user_id), &a.admin_token))
            .await,
        Code::FailedPrecondition,
        "active administrator",
    );
    let t = s
        .identity()
        .transfer_ownership(bearer(req(&admin.user_id), &a.admin_token))
        .await
        .unwrap()
        .into_inner()
        .tenant
        .unwrap();
    assert_eq!(t.chief_admin_id, admin.user_id);
    // The old chief's token said "chief": it is dead everywhere now.
    refused(
        s.identity()
            .transfer_ownership(bearer(req(&a.chief_admin_id), &a.admin_token))
            .await,
        Code::Unauthenticated,
        "sign in again",
    );
    // Signed in again, the old chief is a plain admin and can no longer
    // hand the tenant on.
    let fresh = s
        .sign_in(&a.tenant_id, &a.admin_email, &a.admin_password, "")
        .await;
    refused(
        s.identity()
            .transfer_ownership(bearer(req(&a.chief_admin_id), &fresh))
            .await,
        Code::PermissionDenied,
        "only the chief admin",
    );
    let c = s
        .identity()
        .get_tenant_contacts(bearer(
            pb::GetTenantContactsRequest {
                tenant_id: a.tenant_id.clone(),
            },
            &fresh,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.chief_admin.unwrap().user_id, admin.user_id);
}

#[tokio::test]
async fn contacts_and_seat_usage() {
    let s = suite().await;
    let a = s.create_tenant("A", 3).await;
    let b = s.create_tenant("B", 3).await;
    let admin = s.create_employee(&a, "ann@a.example", true).await;
    let emp = s.create_employee(&a, "bob@a.example", false).await;
    let (_, svc) = s
        .create_service_account("mailer", &["identity.contacts.read"])
        .await;
    let contacts = |tok: &str, id: &str| {
        call!(
            s,
            get_tenant_contacts,
            bearer(
                pb::GetTenantContactsRequest {
                    tenant_id: id.into()
                },
                tok
            )
        )
    };
    let c = contacts(&svc, &a.tenant_id).await.unwrap().into_inner();
    assert_eq!(c.tenant_name, "A");
    assert_eq!(c.chief_admin.unwrap().email, a.admin_email);
    let mut emails: Vec<_> = c.admins.iter().map(|x| x.email.clone()).collect();
    emails.sort();
    let mut want = vec![a.admin_email.clone(), admin.email.clone()];
    want.sort();
    assert_eq!(
        emails, want,
        "every active admin, the chief included, and no plain employee"
    );
    contacts(&admin.token, &a.tenant_id).await.unwrap();
    refused(
        contacts(&emp.token, &a.tenant_id).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        contacts(&b.admin_token, &a.tenant_id).await,
        Code::PermissionDenied,
        "not a member",
    );
    refused(
        contacts(&svc, "0192f3a0-0000-7000-8000-000000000001").await,
        Code::NotFound,
        "not found",
    );
    refused(
        s.identity()
            .get_tenant_contacts(anon(pb::GetTenantContactsRequest {
                tenant_id: a.tenant_id.clone(),
            }))
            .await,
        Code::Unauthenticated,
        "missing",
    );

    let seats = |tok: &str, id: &str| {
        call!(
            s,
            get_seat_usage,
            bearer(
                pb::GetSeatUsageRequest {
                    tenant_id: id.into()
                },
                tok
            )
        )
    };
    let u = seats(&a.admin_token, &a.tenant_id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!((u.used, u.limit), (3, 3));
    // Integrators and agents never take seats.
    s.register_partner("P", &["p.example"]).await;
    s.invite_integrator(&a, "ivan@p.example").await;
    s.create_agent("Alice").await;
    let u = seats(&s.operator_token().await, &a.tenant_id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(u.used, 3);
    refused(
        seats(&emp.token, &a.tenant_id).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        seats(&b.admin_token, &a.tenant_id).await,
        Code::PermissionDenied,
        "not a member",
    );
}
