//! Employees and users.

use crate::*;

fn emp_req(tenant: &str, email: &str) -> pb::CreateEmployeeRequest {
    pb::CreateEmployeeRequest {
        request_id: rid(),
        tenant_id: tenant.into(),
        email: email.into(),
        display_name: "Someone".into(),
        password: "long-enough-password".into(),
        department_ids: vec![],
    }
}

#[tokio::test]
async fn create_employee_checks_seats_and_input() {
    let s = suite().await;
    let a = s.create_tenant("A", 2).await;
    let b = s.create_tenant("B", 5).await;
    let emp = s.create_employee(&a, "bob@a.example", false).await;
    let create = |req, tok: &str| call!(s, create_employee, bearer(req, tok));
    refused(
        create(emp_req(&a.tenant_id, "c@a.example"), &a.admin_token).await,
        Code::FailedPrecondition,
        "seat limit reached: 2 of 2",
    );
    // Integrators don't take seats and are not blocked by the limit.
    s.register_partner("P", &["p.example"]).await;
    let integ = s.invite_integrator(&a, "ivan@p.example").await;
    refused(
        create(emp_req(&a.tenant_id, "c@a.example"), &integ.token).await,
        Code::FailedPrecondition,
        "seat limit",
    );
    refused(
        create(emp_req(&a.tenant_id, "c@a.example"), &emp.token).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        create(emp_req(&a.tenant_id, "c@a.example"), &b.admin_token).await,
        Code::PermissionDenied,
        "not a member",
    );
    refused(
        s.identity()
            .create_employee(anon(emp_req(&a.tenant_id, "c@a.example")))
            .await,
        Code::Unauthenticated,
        "missing",
    );
    refused(
        create(emp_req(&b.tenant_id, "bad"), &b.admin_token).await,
        Code::InvalidArgument,
        "e-mail",
    );
    let mut short = emp_req(&b.tenant_id, "c@b.example");
    short.password = "short".into();
    refused(
        create(short, &b.admin_token).await,
        Code::InvalidArgument,
        "at least 12",
    );
    let mut unknown_dept = emp_req(&b.tenant_id, "c@b.example");
    unknown_dept.department_ids = vec!["nope".into()];
    refused(
        create(unknown_dept, &b.admin_token).await,
        Code::NotFound,
        "department",
    );
    let u = create(emp_req(&b.tenant_id, "C@B.example"), &b.admin_token)
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(u.email, "c@b.example");
    assert_eq!(u.kind, pb::PrincipalKind::Employee as i32);
    assert!(!u.admin && u.active);
    refused(
        create(emp_req(&b.tenant_id, "c@b.example"), &b.admin_token).await,
        Code::AlreadyExists,
        "already exists",
    );
    // The same e-mail may exist in another tenant.
    s.create_employee(&b, "bob@a.example", false).await;
}

#[tokio::test]
async fn get_and_list_users_stay_in_the_tenant() {
    let s = suite().await;
    let a = s.create_tenant("A", 5).await;
    let b = s.create_tenant("B", 5).await;
    let emp = s.create_employee(&a, "bob@a.example", false).await;
    let agent = s.create_agent("Alice").await;
    let op = s.operator_token().await;
    let get = |id: &str, tok: &str| {
        call!(
            s,
            get_user,
            bearer(pb::GetUserRequest { user_id: id.into() }, tok)
        )
    };
    assert_eq!(
        get(&a.chief_admin_id, &emp.token)
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap()
            .email,
        a.admin_email
    );
    refused(
        get(&emp.user_id, &b.admin_token).await,
        Code::NotFound,
        "not found",
    );
    refused(
        get(&agent.agent_id, &a.admin_token).await,
        Code::NotFound,
        "not found",
    );
    get(&agent.agent_id, &op).await.unwrap();
    get(&agent.agent_id, &agent.token).await.unwrap();
    refused(get("", &op).await, Code::InvalidArgument, "user_id");
    refused(
        s.identity()
            .get_user(anon(pb::GetUserRequest {
                user_id: emp.user_id.clone(),
            }))
            .await,
        Code::Unauthenticated,
        "missing",
    );
    let (_, svc) = s
        .create_service_account("reader", &["identity.users.read"])
        .await;
    get(&emp.user_id, &svc).await.unwrap();

    let list_by = |tenant: &str, email: &str, tok: &str, inactive: bool| {
        call!(
            s,
            list_users,
            bearer(
                pb::ListUsersRequest {
                    tenant_id: tenant.into(),
                    page_size: 0,
                    page_token: String::new(),
                    include_inactive: inactive,
                    email: email.into(),
                },
                tok,
            )
        )
    };
    let list = |tenant: &str, tok: &str, inactive: bool| {
        call!(
            s,
            list_users,
            bearer(
                pb::ListUsersRequest {
                    tenant_id: tenant.into(),
                    page_size: 0,
                    page_token: String::new(),
                    include_inactive: inactive,
                    email: String::new(),
                },
                tok,
            )
        )
    };
    assert_eq!(
        list(&a.tenant_id, &emp.token, false)
            .await
            .unwrap()
            .into_inner()
            .users
            .len(),
        2
    );
    refused(
        list(&a.tenant_id, &b.admin_token, false).await,
        Code::PermissionDenied,
        "not a member",
    );
    refused(
        list("", &a.admin_token, false).await,
        Code::PermissionDenied,
        "operator",
    );
    let agents = list("", &op, false).await.unwrap().into_inner().users;
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].user_id, agent.agent_id);
    // A service reading users (the broker, matching a ticket's assignee) may
    // look one agent up by e-mail, never list them all.
    let by_mail = list_by("", &agent.email.to_uppercase(), &svc, false)
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(by_mail.len(), 1);
    assert_eq!(by_mail[0].user_id, agent.agent_id);
    assert!(
        list_by("", "nobody@vendor.example", &svc, false)
            .await
            .unwrap()
            .into_inner()
            .users
            .is_empty()
    );
    refused(
        list("", &svc, false).await,
        Code::PermissionDenied,
        "operator",
    );
    refused(
        list_by("", &agent.email, &a.admin_token, false).await,
        Code::PermissionDenied,
        "operator",
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
    assert_eq!(
        list(&a.tenant_id, &op, false)
            .await
            .unwrap()
            .into_inner()
            .users
            .len(),
        1
    );
    assert_eq!(
        list(&a.tenant_id, &op, true)
            .await
            .unwrap()
            .into_inner()
            .users
            .len(),
        2
    );
}

#[tokio::test]
async fn dismiss_and_rehire() {
    let s = suite().await;
    let a = s.create_tenant("A", 3).await;
    let b = s.create_tenant("B", 3).await;
    let admin = s.create_employee(&a, "ann@a.example", true).await;
    let emp = s.create_employee(&a, "bob@a.example", false).await;
    s.register_partner("P", &["p.example"]).await;
    let integ = s.invite_integrator(&a, "ivan@p.example").await;
    let deact = |id: &str, tok: &str| {
        call!(
            s,
            deactivate_user,
            bearer(
                pb::DeactivateUserRequest {
                    request_id: rid(),
                    user_id: id.into()
                },
                tok
            )
        )
    };
    let react = |id: &str, tok: &str| {
        call!(
            s,
            reactivate_user,
            bearer(
                pb::ReactivateUserRequest {
                    request_id: rid(),
                    user_id: id.into()
                },
                tok
            )
        )
    };
    refused(
        deact(&a.chief_admin_id, &admin.token).await,
        Code::FailedPrecondition,
        "chief admin cannot be deactivated",
    );
    refused(
        deact(&admin.user_id, &integ.token).await,
        Code::PermissionDenied,
        "integrators may not deactivate administrators",
    );
    refused(
        deact(&emp.user_id, &b.admin_token).await,
        Code::NotFound,
        "not found",
    );
    refused(
        deact(&admin.user_id, &emp.token).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        s.identity()
            .deactivate_user(anon(pb::DeactivateUserRequest {
                request_id: rid(),
                user_id: emp.user_id.clone(),
            }))
            .await,
        Code::Unauthenticated,
        "missing",
    );
    let refresh = s
        .sign_in_response(&a.tenant_id, &emp.email, &emp.password, "")
        .await
        .unwrap()
        .tokens
        .unwrap()
        .refresh_token;
    let u = deact(&emp.user_id, &integ.token)
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(!u.active);
    refused(
        s.sign_in_response(&a.tenant_id, &emp.email, &emp.password, "")
            .await,
        Code::Unauthenticated,
        "deactivated",
    );
    refused(
        s.identity()
            .refresh_token(pb::RefreshTokenRequest {
                refresh_token: refresh,
            })
            .await,
        Code::Unauthenticated,
        "revoked",
    );
    refused(
        s.identity()
            .get_tenant(bearer(
                pb::GetTenantRequest {
                    tenant_id: a.tenant_id.clone(),
                },
                &emp.token,
            ))
            .await,
        Code::Unauthenticated,
        "deactivated",
    );
    // Re-hire: the seat is taken meanwhile, so it is refused until one frees.
    let op = s.operator_token().await;
    let filler = s
        .identity()
        .create_employee(bearer(
            emp_req(&a.tenant_id, "fill@a.example"),
            &a.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    refused(
        react(&emp.user_id, &a.admin_token).await,
        Code::FailedPrecondition,
        "seat limit",
    );
    deact(&filler.user_id, &a.admin_token).await.unwrap();
    let u = react(&emp.user_id, &a.admin_token)
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(u.active);
    s.sign_in_response(&a.tenant_id, &emp.email, &emp.password, "")
        .await
        .unwrap();
    refused(
        react(&emp.user_id, &b.admin_token).await,
        Code::NotFound,
        "not found",
    );
    // Integrators can be dismissed and re-hired too; agents by the operator.
    deact(&integ.user_id, &a.admin_token).await.unwrap();
    react(&integ.user_id, &a.admin_token).await.unwrap();
    let agent = s.create_agent("Alice").await;
    refused(
        deact(&agent.agent_id, &a.admin_token).await,
        Code::NotFound,
        "not found",
    );
    deact(&agent.agent_id, &op).await.unwrap();
    react(&agent.agent_id, &op).await.unwrap();
}

#[tokio::test]
async fn set_admin_rules() {
    let s = suite().await;
    let a = s.create_tenant("A", 5).await;
    let b = s.create_tenant("B", 5).await;
    let emp = s.create_employee(&a, "bob@a.example", false).await;
    let admin = s.create_employee(&a, "ann@a.example", true).await;
    s.register_partner("P", &["p.example"]).await;
    let integ = s.invite_integrator(&a, "ivan@p.example").await;
    let set = |id: &str, on: bool, tok: &str| {
        call!(
            s,
            set_admin,
            bearer(
                pb::SetAdminRequest {
                    request_id: rid(),
                    user_id: id.into(),
                    admin: on
                },
                tok
            )
        )
    };
    refused(
        set(&emp.user_id, true, &integ.token).await,
        Code::PermissionDenied,
        "integrators may not appoint",
    );
    refused(
        set(&admin.user_id, false, &integ.token).await,
        Code::PermissionDenied,
        "integrators",
    );
    refused(
        set(&a.chief_admin_id, false, &admin.token).await,
        Code::FailedPrecondition,
        "chief admin cannot be dismissed",
    );
    refused(
        set(&emp.user_id, true, &emp.token).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        set(&emp.user_id, true, &b.admin_token).await,
        Code::NotFound,
        "not found",
    );
    refused(
        set(&integ.user_id, true, &a.admin_token).await,
        Code::FailedPrecondition,
        "only employees",
    );
    refused(
        s.identity()
            .set_admin(anon(pb::SetAdminRequest {
                request_id: rid(),
                user_id: emp.user_id.clone(),
                admin: true,
            }))
            .await,
        Code::Unauthenticated,
        "missing",
    );
    assert!(
        set(&emp.user_id, true, &admin.token)
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap()
            .admin
    );
    assert!(
        !set(&admin.user_id, false, &a.admin_token)
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap()
            .admin
    );
}
