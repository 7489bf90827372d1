//! Identity's outbox: every change that matters to a tenant's compliance
//! review reaches audit as an IDENTITY_CHANGED event with its actor and ids,
//! none lost while audit is down, none doubled, none for a refused change.

use crate::receiver::{Ctx, Received};
use crate::*;
use keyholder_kit::auth::PrincipalKind;
use keyholder_proto::audit::v1::{Event, EventKind};
use keyholder_testkit::TenantFixture;

/// Asserts the fixed parts of an identity event and its actor.
#[track_caller]
pub(crate) fn check(e: &Event, tenant: &str, actor: (&str, &str, &str, &str)) {
    assert_eq!(e.kind, EventKind::IdentityChanged as i32);
    assert_eq!(e.tenant_id, tenant);
    assert_eq!(e.source, "identity");
    assert!(e.occur_time.is_some());
    let v = uuid::Uuid::parse_str(&e.event_id).expect("event id is a uuid");
    assert_eq!(v.get_version_num(), 7);
    let a = e.actor.as_ref().expect("actor");
    assert_eq!(
        (
            a.actor_id.as_str(),
            a.kind.as_str(),
            a.display_name.as_str(),
            a.email.as_str()
        ),
        actor
    );
}

pub(crate) fn chief(t: &TenantFixture) -> (&str, &str, String, &str) {
    (
        t.chief_admin_id.as_str(),
        "employee",
        format!("{} Chief", t.name),
        t.admin_email.as_str(),
    )
}

pub(crate) fn as_chief<T>(t: &TenantFixture, m: T) -> tonic::Request<T> {
    bearer(m, &t.admin_token)
}

/// No attribute carries a password or a TOTP secret.
fn assert_no_secrets(received: &Received, secrets: &[&str]) {
    for e in received.all() {
        for (k, v) in &e.attributes {
            assert!(!k.contains("password") && !k.contains("secret"), "{k}");
            for s in secrets {
                assert!(!v.contains(s), "event {k}={v} leaks a secret");
            }
        }
    }
}

#[tokio::test]
async fn people_changes_become_events_with_actor_and_ids() {
    let c = Ctx::up().await;
    let s = &c.s;
    let t = s.create_tenant("Acme", 10).await;
    let (cid, ck, cname, cmail) = chief(&t);
    let chief = (cid, ck, cname.as_str(), cmail);
    let ann = s.create_employee(&t, "ann@acme.example", true).await;
    let bob = s.create_employee(&t, "bob@acme.example", false).await;
    // Bob turns on TOTP himself; the chief turns it off again.
    let enrol = s
        .identity()
        .begin_totp_enrollment(bearer(pb::BeginTotpEnrollmentRequest {}, &bob.token))
        .await
        .unwrap()
        .into_inner();
    s.identity()
        .confirm_totp_enrollment(bearer(
            pb::ConfirmTotpEnrollmentRequest {
                code: s.totp(&enrol.secret),
            },
            &bob.token,
        ))
        .await
        .unwrap();
    s.identity()
        .disable_totp(as_chief(
            &t,
            pb::DisableTotpRequest {
                request_id: rid(),
                user_id: bob.user_id.clone(),
            },
        ))
        .await
        .unwrap();
    s.identity()
        .deactivate_user(as_chief(
            &t,
            pb::DeactivateUserRequest {
                request_id: rid(),
                user_id: bob.user_id.clone(),
            },
        ))
        .await
        .unwrap();
    s.identity()
        .reactivate_user(as_chief(
            &t,
            pb::ReactivateUserRequest {
                request_id: rid(),
                user_id: bob.user_id.clone(),
            },
        ))
        .await
        .unwrap();
    s.register_partner("Integra", &["integra.example"]).await;
    // The invitation's token reaches audit beside the event (for the
    // e-mail), never in its attributes; Ivan accepts with it.
    s.invite_integrator_as(&t.tenant_id, &t.admin_token, "ivan@integra.example")
        .await
        .unwrap();
    c.flush().await;
    let invited = c
        .received
        .one("integrator_invited", "email", "ivan@integra.example");
    let invitation_token = invited.invitation_token.clone();
    assert_eq!(invitation_token.len(), 43);
    let ivan = s
        .identity()
        .accept_invitation(pb::AcceptInvitationRequest {
            request_id: rid(),
            token: invitation_token.clone(),
            password: "ivan-chose-this-one".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    // Three wrong passwords slow guesses at Bob down.
    for _ in 0..3 {
        let r = s
            .sign_in_response(&t.tenant_id, &bob.email, "not-his-password", "")
            .await;
        refused(r, Code::Unauthenticated, "sign-in refused");
    }
    s.identity()
        .transfer_ownership(as_chief(
            &t,
            pb::TransferOwnershipRequest {
                request_id: rid(),
                tenant_id: t.tenant_id.clone(),
                new_chief_admin_id: ann.user_id.clone(),
            },
        ))
        .await
        .unwrap();
    s.identity()
        .set_admin(bearer(
            pb::SetAdminRequest {
                request_id: rid(),
                user_id: t.chief_admin_id.clone(),
                admin: false,
            },
            &ann.token,
        ))
        .await
        .unwrap();
    c.flush().await;
    let r = &c.received;
    let tid = t.tenant_id.as_str();

    let e = r.one("tenant_created", "user_id", cid);
    let op = keyholder_identity::bootstrap::OPERATOR_EMAIL;
    let op_id = e.actor.as_ref().unwrap().actor_id.clone();
    check(&e, tid, (&op_id, "operator", "Operator", op));
    assert_eq!(e.attributes["tenant_name"], "Acme");
    assert_eq!(e.attributes["seat_limit"], "10");
    assert_eq!(e.attributes["email"], t.admin_email);

    let e = r.one("employee_created", "user_id", &ann.user_id);
    check(&e, tid, chief);
    assert_eq!(e.attributes["email"], "ann@acme.example");
    check(
        &r.one("admin_appointed", "user_id", &ann.user_id),
        tid,
        chief,
    );
    let bob_actor = (bob.user_id.as_str(), "employee", "bob", "bob@acme.example");
    check(
        &r.one("totp_enabled", "user_id", &bob.user_id),
        tid,
        bob_actor,
    );
    check(&r.one("totp_disabled", "user_id", &bob.user_id), tid, chief);
    let e = r.one("user_deactivated", "user_id", &bob.user_id);
    check(&e, tid, chief);
    assert_eq!(e.attributes["user_kind"], "employee");
    check(
        &r.one("user_reactivated", "user_id", &bob.user_id),
        tid,
        chief,
    );
    let e = r.one("integrator_invited", "email", &ivan.email);
    assert_eq!(e.kind, EventKind::IntegratorInvited as i32);
    assert_eq!(e.actor.as_ref().unwrap().actor_id, cid);
    assert_eq!(e.attributes["partner_name"], "Integra");
    assert_eq!(e.attributes["tenant_name"], "Acme");
    assert!(e.expire_time.is_some());
    let e = r.one("invitation_accepted", "user_id", &ivan.user_id);
    check(
        &e,
        tid,
        (
            ivan.user_id.as_str(),
            "integrator",
            "ivan",
            "ivan@integra.example",
        ),
    );
    assert_eq!(e.attributes["inviter_id"], cid);
    let e = r.one("sign_in_throttled", "user_id", &bob.user_id);
    check(
        &e,
        tid,
        ("keyholder-identity", "system", "Keyholder identity", ""),
    );
    assert_eq!(e.attributes["failures"], "3");
    let e = r.one("ownership_transferred", "user_id", &ann.user_id);
    check(&e, tid, chief);
    assert_eq!(e.attributes["previous_user_id"], cid);
    let ann_actor = (ann.user_id.as_str(), "employee", "ann", "ann@acme.example");
    check(&r.one("admin_dismissed", "user_id", cid), tid, ann_actor);

    // Only the failed sign-in that started the delays is reported.
    assert_eq!(r.of_change("sign_in_throttled").len(), 1);
    assert_no_secrets(
        r,
        &[
            &bob.password,
            &ann.password,
            &enrol.secret,
            &invitation_token,
            "ivan-chose-this-one",
        ],
    );
    // Only the invitation carries a token, and only in its own field.
    for e in r.all() {
        if e.kind != EventKind::IntegratorInvited as i32 {
            assert!(e.invitation_token.is_empty());
        }
    }
    // Audit saw identity's own service account, checked like any caller.
    let callers = c.received.callers.lock().unwrap().clone();
    assert!(!callers.is_empty());
    assert!(
        callers
            .iter()
            .all(|(id, k)| id == "keyholder-identity" && *k == PrincipalKind::ServiceAccount)
    );
    assert_eq!(c.received.duplicates(), 0);
}

#[tokio::test]
async fn nothing_lost_while_audit_is_down_nothing_doubled_when_it_returns() {
    let c = Ctx::down().await;
    let s = &c.s;
    let t = s.create_tenant("Down", 5).await;
    let e1 = s.create_employee(&t, "one@down.example", false).await;
    let e2 = s.create_employee(&t, "two@down.example", true).await;
    // Audit is unreachable: the batch stays, marked as a failed attempt.
    let err = c.handle.deliver_once().await.unwrap_err();
    assert!(err.to_string().contains("audit is unavailable"), "{err}");
    assert_eq!(c.handle.undelivered_events().await.unwrap(), 4);
    assert!(c.received.all().is_empty());

    c.receiver_up().await;
    c.flush().await;
    assert_eq!(c.handle.deliver_once().await.unwrap(), 0);
    let got = c.received.all();
    let changes: Vec<(&str, &str)> = got
        .iter()
        .map(|e| {
            (
                e.attributes["change"].as_str(),
                e.attributes["user_id"].as_str(),
            )
        })
        .collect();
    // In the order the changes happened, each exactly once.
    assert_eq!(
        changes,
        vec![
            ("tenant_created", t.chief_admin_id.as_str()),
            ("employee_created", e1.user_id.as_str()),
            ("employee_created", e2.user_id.as_str()),
            ("admin_appointed", e2.user_id.as_str()),
        ]
    );
    assert_eq!(c.received.duplicates(), 0);
    assert_eq!(c.handle.undelivered_events().await.unwrap(), 0);
}

#[tokio::test]
async fn a_refused_or_repeated_change_emits_no_event() {
    let c = Ctx::up().await;
    let s = &c.s;
    // One seat: the chief admin's.
    let t = s.create_tenant("Full", 1).await;
    let create = |email: &str, request_id: &str| {
        call!(
            s,
            create_employee,
            bearer(
                pb::CreateEmployeeRequest {
                    request_id: request_id.into(),
                    tenant_id: t.tenant_id.clone(),
                    email: email.into(),
                    display_name: "Nobody".into(),
                    password: "a-long-enough-password".into(),
                    department_ids: vec![],
                },
                &t.admin_token
            )
        )
    };
    refused(
        create("x@full.example", &rid()).await,
        Code::FailedPrecondition,
        "seat limit reached",
    );
    refused(
        call!(
            s,
            invite_integrator,
            bearer(
                pb::InviteIntegratorRequest {
                    request_id: rid(),
                    tenant_id: t.tenant_id.clone(),
                    email: "someone@unknown-partner.example".into(),
                    display_name: "Someone".into(),
                    ..Default::default()
                },
                &t.admin_token
            )
        )
        .await,
        Code::FailedPrecondition,
        "registered partner",
    );
    // A retried request is answered from the first result: one event.
    let bigger = s.create_tenant("Roomy", 5).await;
    let retry = rid();
    let make = |m| call!(s, create_employee, bearer(m, &bigger.admin_token));
    let msg = pb::CreateEmployeeRequest {
        request_id: retry.clone(),
        tenant_id: bigger.tenant_id.clone(),
        email: "once@roomy.example".into(),
        display_name: "Once".into(),
        password: "a-long-enough-password".into(),
        department_ids: vec![],
    };
    let first = make(msg.clone()).await.unwrap().into_inner().user.unwrap();
    let again = make(msg).await.unwrap().into_inner().user.unwrap();
    assert_eq!(first.user_id, again.user_id);
    c.flush().await;
    let r = &c.received;
    assert!(
        r.all()
            .iter()
            .filter(|e| e.tenant_id == t.tenant_id)
            .all(|e| e.attributes["change"] == "tenant_created")
    );
    assert_eq!(r.of_change("tenant_created").len(), 2);
    assert_eq!(r.of_change("employee_created").len(), 1);
    assert_eq!(r.of_change("integrator_invited").len(), 0);
    assert_eq!(r.all().len(), 3);
}

/// A lowercase name for `i` (rights allow only lowercase words).
fn word(mut i: usize) -> String {
    let mut w = String::new();
    loop {
        w.push(char::from(b'a' + (i % 26) as u8));
        i /= 26;
        if i == 0 {
            return w;
        }
    }
}

#[tokio::test]
async fn a_huge_role_fits_and_a_refused_event_is_set_aside_without_blocking_others() {
    let c = Ctx::down().await;
    let s = &c.s;
    let t = s.create_tenant("Big", 5).await;
    // Several hundred long rights: far over audit's 16,000-byte limit whole.
    let rights: Vec<pb::Right> = (0..400)
        .map(|i| pb::Right {
            entity: format!(
                "erp.warehouse.inventory.stock.levels.module.{}",
                word(i + 1000)
            ),
            action: "read".into(),
        })
        .collect();
    let create = async |name: &str, rights: Vec<pb::Right>| {
        s.identity()
            .create_role(as_chief(
                &t,
                pb::CreateRoleRequest {
                    request_id: rid(),
                    tenant_id: t.tenant_id.clone(),
                    name: name.into(),
                    rights,
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .role
            .unwrap()
    };
    let big = create("big", rights).await;
    let poison = create("poison", vec![right("crm.deal:read")]).await;
    let after = create("after", vec![right("crm.deal:write")]).await;

    // Audit refuses the whole batch for the one "poison" event.
    c.received
        .refuse
        .lock()
        .unwrap()
        .push(("role_name".into(), "poison".into()));
    c.receiver_up().await;
    c.flush().await;
    assert_eq!(c.handle.deliver_once().await.unwrap(), 0);
    assert!(*c.received.refused_batches.lock().unwrap() >= 2);

    let r = &c.received;
    let e = r.one("role_created", "role_id", &big.role_id);
    let v = &e.attributes["rights"];
    assert!(v.starts_with("400 items, "), "{v}");
    assert!(v.contains("sha256:"), "{v}");
    r.one("role_created", "role_id", &after.role_id);
    r.one("tenant_created", "user_id", &t.chief_admin_id);
    assert!(
        r.of_change("role_created")
            .iter()
            .all(|e| e.attributes["role_id"] != poison.role_id)
    );
    // Exactly that one is set aside, with audit's reason; nothing waits.
    let rejected = c.handle.rejected_events().await.unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert!(rejected[0].1.contains("attributes"), "{rejected:?}");
    assert_eq!(c.handle.undelivered_events().await.unwrap(), 0);

    // Later events keep flowing; the set-aside one is never resent.
    create("later", vec![right("crm.deal:read")]).await;
    c.flush().await;
    assert_eq!(r.of_change("role_created").len(), 3);
    assert_eq!(c.handle.rejected_events().await.unwrap().len(), 1);
}
