//! Tenants' ownership (transfer by the chief), contacts and seat usage.

use crate::*;

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
