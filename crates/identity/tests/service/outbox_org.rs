//! Organisation changes (departments, roles, apps) reach audit as
//! IDENTITY_CHANGED events naming the admin and the ids concerned.

use crate::outbox::{as_chief, check, chief};
use crate::receiver::Ctx;
use crate::*;

#[tokio::test]
async fn organisation_changes_become_events() {
    let c = Ctx::up().await;
    let s = &c.s;
    let t = s.create_tenant("Org", 10).await;
    let (cid, ck, cname, cmail) = chief(&t);
    let chief = (cid, ck, cname.as_str(), cmail);
    let emp = s.create_employee(&t, "eve@org.example", false).await;
    let dept = department(s, &t.admin_token, &t.tenant_id, "Sales", "").await;
    s.identity()
        .add_department_member(as_chief(
            &t,
            pb::AddDepartmentMemberRequest {
                request_id: rid(),
                department_id: dept.department_id.clone(),
                user_id: emp.user_id.clone(),
            },
        ))
        .await
        .unwrap();
    s.identity()
        .remove_department_member(as_chief(
            &t,
            pb::RemoveDepartmentMemberRequest {
                request_id: rid(),
                department_id: dept.department_id.clone(),
                user_id: emp.user_id.clone(),
            },
        ))
        .await
        .unwrap();
    let role = s
        .identity()
        .create_role(as_chief(
            &t,
            pb::CreateRoleRequest {
                request_id: rid(),
                tenant_id: t.tenant_id.clone(),
                name: "sales".into(),
                rights: vec![right("crm.deal:read")],
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    s.identity()
        .update_role(as_chief(
            &t,
            pb::UpdateRoleRequest {
                request_id: rid(),
                role_id: role.role_id.clone(),
                rights: vec![right("crm.deal:read"), right("crm.deal:write")],
            },
        ))
        .await
        .unwrap();
    for _ in 0..2 {
        // The second assignment changes nothing: no second event.
        s.identity()
            .assign_role(as_chief(
                &t,
                pb::AssignRoleRequest {
                    request_id: rid(),
                    role_id: role.role_id.clone(),
                    subject: Some(dept_subject(&dept.department_id)),
                },
            ))
            .await
            .unwrap();
    }
    s.identity()
        .unassign_role(as_chief(
            &t,
            pb::UnassignRoleRequest {
                request_id: rid(),
                role_id: role.role_id.clone(),
                subject: Some(dept_subject(&dept.department_id)),
            },
        ))
        .await
        .unwrap();
    s.identity()
        .install_app(as_chief(
            &t,
            pb::InstallAppRequest {
                request_id: rid(),
                tenant_id: t.tenant_id.clone(),
                code: "chatapp".into(),
            },
        ))
        .await
        .unwrap();
    s.identity()
        .set_app_access(as_chief(
            &t,
            pb::SetAppAccessRequest {
                request_id: rid(),
                tenant_id: t.tenant_id.clone(),
                code: "chatapp".into(),
                access: vec![user_subject(&emp.user_id)],
            },
        ))
        .await
        .unwrap();
    c.flush().await;
    let r = &c.received;
    let tid = t.tenant_id.as_str();
    let d = dept.department_id.as_str();

    let e = r.one("department_created", "department_id", d);
    check(&e, tid, chief);
    assert_eq!(e.attributes["department_name"], "Sales");
    for change in ["department_member_added", "department_member_removed"] {
        let e = r.one(change, "department_id", d);
        check(&e, tid, chief);
        assert_eq!(e.attributes["user_id"], emp.user_id);
    }
    let e = r.one("role_created", "role_id", &role.role_id);
    check(&e, tid, chief);
    assert_eq!(e.attributes["role_name"], "sales");
    assert!(e.attributes["rights"].contains("crm.deal:read"));
    let e = r.one("role_updated", "role_id", &role.role_id);
    assert!(e.attributes["rights"].contains("crm.deal:write"));
    for change in ["role_assigned", "role_unassigned"] {
        let e = r.one(change, "role_id", &role.role_id);
        check(&e, tid, chief);
        assert_eq!(e.attributes["department_id"], d);
    }
    check(&r.one("app_installed", "app_code", "chatapp"), tid, chief);
    let e = r.one("app_access_changed", "app_code", "chatapp");
    assert_eq!(e.attributes["access"], format!("user:{}", emp.user_id));
    assert_eq!(c.received.duplicates(), 0);
}
