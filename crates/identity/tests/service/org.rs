//! Departments, roles, apps and Authorize.

use crate::*;

#[tokio::test]
async fn departments_tree_and_members() {
    let s = suite().await;
    let a = s.create_tenant("A", 5).await;
    let b = s.create_tenant("B", 5).await;
    let emp = s.create_employee(&a, "bob@a.example", false).await;
    let sales = department(&s, &a.admin_token, &a.tenant_id, "Sales", "").await;
    let east = department(
        &s,
        &a.admin_token,
        &a.tenant_id,
        "East",
        &sales.department_id,
    )
    .await;
    assert_eq!(east.parent_id, sales.department_id);
    let b_dept = department(&s, &b.admin_token, &b.tenant_id, "Ops", "").await;
    let create = |parent: &str, tok: &str, name: &str| {
        call!(
            s,
            create_department,
            bearer(
                pb::CreateDepartmentRequest {
                    request_id: rid(),
                    tenant_id: a.tenant_id.clone(),
                    name: name.into(),
                    parent_id: parent.into()
                },
                tok,
            )
        )
    };
    refused(
        create(&b_dept.department_id, &a.admin_token, "X").await,
        Code::NotFound,
        "department",
    );
    refused(
        create("", &emp.token, "X").await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        create("", &b.admin_token, "X").await,
        Code::PermissionDenied,
        "not a member",
    );
    refused(
        create("", &a.admin_token, "").await,
        Code::InvalidArgument,
        "name",
    );
    let list = s
        .identity()
        .list_departments(bearer(
            pb::ListDepartmentsRequest {
                tenant_id: a.tenant_id.clone(),
                ..Default::default()
            },
            &emp.token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.departments.len(), 2);
    refused(
        s.identity()
            .list_departments(bearer(
                pb::ListDepartmentsRequest {
                    tenant_id: a.tenant_id.clone(),
                    ..Default::default()
                },
                &b.admin_token,
            ))
            .await,
        Code::PermissionDenied,
        "not a member",
    );
    let add = |d: &str, u: &str, tok: &str| {
        call!(
            s,
            add_department_member,
            bearer(
                pb::AddDepartmentMemberRequest {
                    request_id: rid(),
                    department_id: d.into(),
                    user_id: u.into()
                },
                tok
            )
        )
    };
    add(&east.department_id, &emp.user_id, &a.admin_token)
        .await
        .unwrap();
    refused(
        add(&east.department_id, &emp.user_id, &emp.token).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        add(&east.department_id, &emp.user_id, &b.admin_token).await,
        Code::NotFound,
        "department",
    );
    refused(
        add(&b_dept.department_id, &emp.user_id, &b.admin_token).await,
        Code::NotFound,
        "user",
    );
    let u = s
        .identity()
        .get_user(bearer(
            pb::GetUserRequest {
                user_id: emp.user_id.clone(),
            },
            &emp.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(u.department_ids, vec![east.department_id.clone()]);
    s.identity()
        .remove_department_member(bearer(
            pb::RemoveDepartmentMemberRequest {
                request_id: rid(),
                department_id: east.department_id.clone(),
                user_id: emp.user_id.clone(),
            },
            &a.admin_token,
        ))
        .await
        .unwrap();
    refused(
        s.identity()
            .remove_department_member(anon(pb::RemoveDepartmentMemberRequest {
                request_id: rid(),
                department_id: east.department_id.clone(),
                user_id: emp.user_id.clone(),
            }))
            .await,
        Code::Unauthenticated,
        "missing",
    );
}

#[tokio::test]
async fn roles_rights_and_inheritance_through_departments() {
    let s = suite().await;
    let a = s.create_tenant("A", 5).await;
    let b = s.create_tenant("B", 5).await;
    let emp = s.create_employee(&a, "bob@a.example", false).await;
    let sales = department(&s, &a.admin_token, &a.tenant_id, "Sales", "").await;
    let east = department(
        &s,
        &a.admin_token,
        &a.tenant_id,
        "East",
        &sales.department_id,
    )
    .await;
    s.identity()
        .add_department_member(bearer(
            pb::AddDepartmentMemberRequest {
                request_id: rid(),
                department_id: east.department_id.clone(),
                user_id: emp.user_id.clone(),
            },
            &a.admin_token,
        ))
        .await
        .unwrap();
    let create = |name: &str, rights: Vec<pb::Right>, tok: &str| {
        call!(
            s,
            create_role,
            bearer(
                pb::CreateRoleRequest {
                    request_id: rid(),
                    tenant_id: a.tenant_id.clone(),
                    name: name.into(),
                    rights
                },
                tok
            )
        )
    };
    refused(
        create("bad", vec![right("CRM:read")], &a.admin_token).await,
        Code::InvalidArgument,
        "entity",
    );
    refused(
        create(
            "bad",
            vec![pb::Right {
                entity: "crm.deal".into(),
                action: "".into(),
            }],
            &a.admin_token,
        )
        .await,
        Code::InvalidArgument,
        "action",
    );
    refused(
        create("Bad Name", vec![], &a.admin_token).await,
        Code::InvalidArgument,
        "role name",
    );
    refused(
        create("admin", vec![], &a.admin_token).await,
        Code::AlreadyExists,
        "already exists",
    );
    refused(
        create("sales", vec![right("crm.deal:read")], &emp.token).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        create("sales", vec![right("crm.deal:read")], &b.admin_token).await,
        Code::PermissionDenied,
        "not a member",
    );
    let role = create("sales", vec![right("crm.deal:read")], &a.admin_token)
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert!(!role.built_in);

    let (_, backend) = s
        .create_service_account("crm", &["identity.authorize", "identity.roles.read"])
        .await;
    let d = authorize(&s, &backend, &a.tenant_id, &emp.user_id, "crm.deal", "read").await;
    assert!(!d.allowed);
    assert_eq!(d.rule, "no role of the user grants crm.deal:read");
    let assign = |subject: pb::RoleSubject, tok: &str| {
        call!(
            s,
            assign_role,
            bearer(
                pb::AssignRoleRequest {
                    request_id: rid(),
                    role_id: role.role_id.clone(),
                    subject: Some(subject)
                },
                tok
            )
        )
    };
    refused(
        assign(dept_subject(&sales.department_id), &emp.token).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        assign(dept_subject(&sales.department_id), &b.admin_token).await,
        Code::NotFound,
        "role",
    );
    refused(
        assign(pb::RoleSubject { subject: None }, &a.admin_token).await,
        Code::InvalidArgument,
        "subject",
    );
    assign(dept_subject(&sales.department_id), &a.admin_token)
        .await
        .unwrap();
    let d = authorize(&s, &backend, &a.tenant_id, &emp.user_id, "crm.deal", "read").await;
    assert!(d.allowed);
    assert_eq!(
        d.rule,
        "role sales grants crm.deal:read via department Sales (inherited by sub-department East)"
    );
    assert!(
        !authorize(
            &s,
            &backend,
            &a.tenant_id,
            &emp.user_id,
            "crm.deal",
            "change"
        )
        .await
        .allowed
    );

    // UpdateRole replaces rights; built-in roles are fixed.
    let roles = s
        .identity()
        .list_roles(bearer(
            pb::ListRolesRequest {
                tenant_id: a.tenant_id.clone(),
                ..Default::default()
            },
            &backend,
        ))
        .await
        .unwrap()
        .into_inner()
        .roles;
    assert_eq!(roles.len(), 5);
    let admin_role = roles.iter().find(|r| r.name == "admin").unwrap();
    let update = |id: &str, rights: Vec<pb::Right>, tok: &str| {
        call!(
            s,
            update_role,
            bearer(
                pb::UpdateRoleRequest {
                    request_id: rid(),
                    role_id: id.into(),
                    rights
                },
                tok
            )
        )
    };
    refused(
        update(&admin_role.role_id, vec![], &a.admin_token).await,
        Code::FailedPrecondition,
        "built in",
    );
    refused(
        update(&role.role_id, vec![right("crm.*:*")], &b.admin_token).await,
        Code::NotFound,
        "role",
    );
    refused(
        update(&role.role_id, vec![right("crm.*:*")], &emp.token).await,
        Code::PermissionDenied,
        "administrator",
    );
    update(&role.role_id, vec![right("crm.*:*")], &a.admin_token)
        .await
        .unwrap();
    assert!(
        authorize(
            &s,
            &backend,
            &a.tenant_id,
            &emp.user_id,
            "crm.deal",
            "change"
        )
        .await
        .allowed
    );
    refused(
        s.identity()
            .assign_role(bearer(
                pb::AssignRoleRequest {
                    request_id: rid(),
                    role_id: admin_role.role_id.clone(),
                    subject: Some(user_subject(&emp.user_id)),
                },
                &a.admin_token,
            ))
            .await,
        Code::FailedPrecondition,
        "setadmin",
    );
    // Unassign.
    let unassign = |subject: pb::RoleSubject, tok: &str| {
        call!(
            s,
            unassign_role,
            bearer(
                pb::UnassignRoleRequest {
                    request_id: rid(),
                    role_id: role.role_id.clone(),
                    subject: Some(subject)
                },
                tok
            )
        )
    };
    refused(
        unassign(dept_subject(&sales.department_id), &emp.token).await,
        Code::PermissionDenied,
        "administrator",
    );
    unassign(dept_subject(&sales.department_id), &a.admin_token)
        .await
        .unwrap();
    refused(
        unassign(dept_subject(&sales.department_id), &a.admin_token).await,
        Code::NotFound,
        "not assigned",
    );
    assert!(
        !authorize(&s, &backend, &a.tenant_id, &emp.user_id, "crm.deal", "read")
            .await
            .allowed
    );
    // Direct assignment.
    assign(user_subject(&emp.user_id), &a.admin_token)
        .await
        .unwrap();
    assert_eq!(
        authorize(&s, &backend, &a.tenant_id, &emp.user_id, "crm.deal", "read")
            .await
            .rule,
        "role sales grants crm.deal:read directly"
    );
    refused(
        s.identity()
            .list_roles(bearer(
                pb::ListRolesRequest {
                    tenant_id: a.tenant_id.clone(),
                    ..Default::default()
                },
                &b.admin_token,
            ))
            .await,
        Code::PermissionDenied,
        "not a member",
    );
}
