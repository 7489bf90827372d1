//! Integrator invitations: invite → pending, accept with one's own password,
//! who may invite (policy, own partner), the limit of 10 counting pending
//! invitations, withdrawal, expiry, single use, and the token's journey.

use crate::receiver::Ctx;
use crate::*;
use keyholder_kit::clock::ManualClock;
use keyholder_testkit::TenantFixture;

fn invite(tenant: &str, email: &str) -> pb::InviteIntegratorRequest {
    pb::InviteIntegratorRequest {
        request_id: rid(),
        tenant_id: tenant.into(),
        email: email.into(),
        display_name: "Integrator".into(),
        ..Default::default()
    }
}

fn accept(token: &str, password: &str) -> pb::AcceptInvitationRequest {
    pb::AcceptInvitationRequest {
        request_id: rid(),
        token: token.into(),
        password: password.into(),
    }
}

async fn set_policy(
    s: &Suite,
    t: &TenantFixture,
    token: &str,
    p: pb::InvitationPolicy,
) -> Result<pb::Tenant, tonic::Status> {
    s.identity()
        .update_tenant(bearer(
            pb::UpdateTenantRequest {
                request_id: rid(),
                tenant_id: t.tenant_id.clone(),
                invitation_policy: Some(p as i32),
                ..Default::default()
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().tenant.unwrap())
}

async fn list(s: &Suite, t: &TenantFixture, include_closed: bool) -> Vec<pb::Invitation> {
    s.identity()
        .list_invitations(bearer(
            pb::ListInvitationsRequest {
                tenant_id: t.tenant_id.clone(),
                include_closed,
                ..Default::default()
            },
            &t.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .invitations
}

async fn withdraw(s: &Suite, id: &str, token: &str) -> Result<pb::Invitation, tonic::Status> {
    s.identity()
        .withdraw_invitation(bearer(
            pb::WithdrawInvitationRequest {
                request_id: rid(),
                invitation_id: id.into(),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner().invitation.unwrap())
}

#[tokio::test]
async fn an_employee_invites_and_the_invitee_chooses_the_password() {
    let s = suite().await;
    let a = s.create_tenant("A", 3).await;
    s.register_partner("Integra", &["integra.example"]).await;
    let bob = s.create_employee(&a, "bob@a.example", false).await;
    // Any employee may invite by default; nothing but an invitation exists.
    let resp = s
        .identity()
        .invite_integrator(bearer(
            invite(&a.tenant_id, "ivan@integra.example"),
            &bob.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let inv = resp.invitation.clone().unwrap();
    assert_eq!(inv.state, pb::InvitationState::Pending as i32);
    assert_eq!(
        (inv.inviter_id.as_str(), inv.partner_name.as_str()),
        (bob.user_id.as_str(), "Integra")
    );
    assert_eq!(
        inv.expire_time.unwrap().seconds - inv.create_time.unwrap().seconds,
        7 * 86_400
    );
    let users = s
        .identity()
        .list_users(bearer(
            pb::ListUsersRequest {
                tenant_id: a.tenant_id.clone(),
                include_inactive: true,
                ..Default::default()
            },
            &a.admin_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .users;
    assert!(users.iter().all(|u| u.email != "ivan@integra.example"));
    refused(
        s.sign_in_response(&a.tenant_id, "ivan@integra.example", "anything-at-all", "")
            .await,
        Code::Unauthenticated,
        "refused",
    );
    let token = s.invitation_token("ivan@integra.example").await;
    // The inviter never sees the token, in the answer or in the list.
    let listed = list(&s, &a, false).await;
    assert_eq!(listed, vec![inv.clone()]);
    assert!(!format!("{resp:?}{listed:?}").contains(&token));
    refused(
        s.identity()
            .list_invitations(bearer(
                pb::ListInvitationsRequest {
                    tenant_id: a.tenant_id.clone(),
                    ..Default::default()
                },
                &bob.token,
            ))
            .await,
        Code::PermissionDenied,
        "administrator",
    );

    let public = |m| call!(s, accept_invitation, anon(m));
    refused(
        public(accept(&token, "short")).await,
        Code::InvalidArgument,
        "at least 12",
    );
    refused(
        public(accept(&token, &"x".repeat(1025))).await,
        Code::InvalidArgument,
        "at most 256 characters",
    );
    refused(
        public(accept("", "ivans-own-password")).await,
        Code::InvalidArgument,
        "token",
    );
    refused(
        public(accept("not-the-token", "ivans-own-password")).await,
        Code::NotFound,
        "no invitation has this token",
    );
    let first = accept(&token, "ivans-own-password");
    let u = public(first.clone())
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(u.kind, pb::PrincipalKind::Integrator as i32);
    assert_eq!(u.email, "ivan@integra.example");
    let deadline = u.totp_deadline.unwrap().seconds - inv.create_time.unwrap().seconds;
    assert_eq!(deadline, 10 * 86_400, "10 days from the invitation");
    // A retry of the same request gets the same answer; a new use is refused.
    let again = public(first).await.unwrap().into_inner().user.unwrap();
    assert_eq!(again.user_id, u.user_id);
    refused(
        public(accept(&token, "another-password-1")).await,
        Code::FailedPrecondition,
        "already been accepted",
    );
    let signed = s
        .sign_in_response(
            &a.tenant_id,
            "ivan@integra.example",
            "ivans-own-password",
            "",
        )
        .await
        .unwrap();
    assert_eq!(signed.user.unwrap().user_id, u.user_id);
    assert!(list(&s, &a, false).await.is_empty());
    let closed = list(&s, &a, true).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].state, pb::InvitationState::Accepted as i32);
    assert_eq!(closed[0].user_id, u.user_id);
}

#[tokio::test]
async fn admins_may_restrict_inviting_to_admins() {
    let s = suite().await;
    let a = s.create_tenant("A", 3).await;
    s.register_partner("Integra", &["integra.example"]).await;
    let bob = s.create_employee(&a, "bob@a.example", false).await;
    let ivan = s.invite_integrator(&a, "ivan@integra.example").await;
    let go = |email: &str, tok: &str| {
        call!(
            s,
            invite_integrator,
            bearer(invite(&a.tenant_id, email), tok)
        )
    };
    go("one@integra.example", &bob.token).await.unwrap();
    refused(
        set_policy(&s, &a, &bob.token, pb::InvitationPolicy::AdminsOnly).await,
        Code::PermissionDenied,
        "administrator",
    );
    refused(
        set_policy(&s, &a, &ivan.token, pb::InvitationPolicy::AdminsOnly).await,
        Code::PermissionDenied,
        "integrators",
    );
    let t = set_policy(&s, &a, &a.admin_token, pb::InvitationPolicy::AdminsOnly)
        .await
        .unwrap();
    assert_eq!(t.invitation_policy, pb::InvitationPolicy::AdminsOnly as i32);
    refused(
        go("two@integra.example", &bob.token).await,
        Code::PermissionDenied,
        "restricted",
    );
    refused(
        go("two@integra.example", &ivan.token).await,
        Code::PermissionDenied,
        "restricted",
    );
    go("two@integra.example", &a.admin_token).await.unwrap();
    set_policy(&s, &a, &a.admin_token, pb::InvitationPolicy::Everyone)
        .await
        .unwrap();
    go("three@integra.example", &bob.token).await.unwrap();
}

#[tokio::test]
async fn an_integrator_invites_only_their_own_partners_people() {
    let s = suite().await;
    let a = s.create_tenant("A", 3).await;
    let b = s.create_tenant("B", 3).await;
    s.register_partner("Alpha", &["alpha.example"]).await;
    s.register_partner("Beta", &["beta.example"]).await;
    let ivan = s.invite_integrator(&a, "ivan@alpha.example").await;
    let go =
        |t: &str, email: &str| call!(s, invite_integrator, bearer(invite(t, email), &ivan.token));
    refused(
        go(&a.tenant_id, "eve@beta.example").await,
        Code::PermissionDenied,
        "own partner",
    );
    refused(
        go(&b.tenant_id, "max@alpha.example").await,
        Code::PermissionDenied,
        "not a member",
    );
    let inv = go(&a.tenant_id, "max@alpha.example")
        .await
        .unwrap()
        .into_inner()
        .invitation
        .unwrap();
    assert_eq!(inv.inviter_id, ivan.user_id);
    // Employees may invite any registered partner's people.
    s.invite_integrator_as(&a.tenant_id, &a.admin_token, "eve@beta.example")
        .await
        .unwrap();
}

#[tokio::test]
async fn pending_invitations_count_toward_ten_and_can_be_withdrawn() {
    let s = suite().await;
    let a = s.create_tenant("A", 3).await;
    let b = s.create_tenant("B", 3).await;
    s.register_partner("Integra", &["integra.example"]).await;
    let bob = s.create_employee(&a, "bob@a.example", false).await;
    let carol = s.create_employee(&a, "carol@a.example", false).await;
    for i in 0..3 {
        s.invite_integrator(&a, &format!("dev{i}@integra.example"))
            .await;
    }
    let mut by_bob = Vec::new();
    for i in 3..10 {
        let inv = s
            .invite_integrator_as(&a.tenant_id, &bob.token, &format!("dev{i}@integra.example"))
            .await
            .unwrap();
        by_bob.push(inv);
    }
    refused(
        s.invite_integrator_as(&a.tenant_id, &a.admin_token, "dev10@integra.example")
            .await,
        Code::FailedPrecondition,
        "at most 10",
    );
    refused(
        s.invite_integrator_as(&a.tenant_id, &a.admin_token, "dev5@integra.example")
            .await,
        Code::AlreadyExists,
        "pending invitation",
    );
    let target = by_bob[0].clone();
    let token = s.invitation_token(&target.email).await;
    refused(
        withdraw(&s, &target.invitation_id, &carol.token).await,
        Code::PermissionDenied,
        "inviter",
    );
    refused(
        withdraw(&s, &target.invitation_id, &b.admin_token).await,
        Code::NotFound,
        "not found",
    );
    let w = withdraw(&s, &target.invitation_id, &bob.token)
        .await
        .unwrap();
    assert_eq!(w.state, pb::InvitationState::Withdrawn as i32);
    refused(
        withdraw(&s, &target.invitation_id, &a.admin_token).await,
        Code::FailedPrecondition,
        "withdrawn",
    );
    refused(
        s.identity()
            .accept_invitation(accept(&token, "too-late-password"))
            .await,
        Code::FailedPrecondition,
        "withdrawn",
    );
    // Its place is free again; an admin may withdraw anyone's invitation.
    s.invite_integrator_as(&a.tenant_id, &a.admin_token, "dev10@integra.example")
        .await
        .unwrap();
    withdraw(&s, &by_bob[1].invitation_id, &a.admin_token)
        .await
        .unwrap();
    assert_eq!(list(&s, &a, false).await.len(), 6);
    assert_eq!(list(&s, &a, true).await.len(), 11);
}

#[tokio::test]
async fn an_expired_token_fails_and_frees_its_place() {
    let mut s = Suite::new().await;
    let clock = ManualClock::new(chrono::Utc::now());
    s.start_identity_with_clock(clock.clone()).await;
    let mut a = s.create_tenant("A", 3).await;
    s.register_partner("Integra", &["integra.example"]).await;
    let inv = s
        .invite_integrator_as(&a.tenant_id, &a.admin_token, "late@integra.example")
        .await
        .unwrap();
    let token = s.invitation_token("late@integra.example").await;
    clock.advance(chrono::Duration::days(7));
    // Identity judges tokens by its own clock: the admin's week-old token
    // has expired, so they sign in again.
    a.admin_token = s
        .sign_in(&a.tenant_id, &a.admin_email, &a.admin_password, "")
        .await;
    refused(
        s.identity()
            .accept_invitation(accept(&token, "late-but-long-pw"))
            .await,
        Code::FailedPrecondition,
        "expired",
    );
    assert!(list(&s, &a, false).await.is_empty());
    let closed = list(&s, &a, true).await;
    assert_eq!(closed[0].state, pb::InvitationState::Expired as i32);
    assert_eq!(closed[0].invitation_id, inv.invitation_id);
    // A fresh invitation of the same person works.
    s.invite_integrator_as(&a.tenant_id, &a.admin_token, "late@integra.example")
        .await
        .unwrap();
    let fresh = s.invitation_token("late@integra.example").await;
    assert_ne!(fresh, token);
    s.identity()
        .accept_invitation(accept(&fresh, "on-time-password"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_dismissed_integrator_is_rehired_not_reinvited() {
    let s = suite().await;
    let a = s.create_tenant("A", 3).await;
    s.register_partner("Integra", &["integra.example"]).await;
    let ivan = s.invite_integrator(&a, "ivan@integra.example").await;
    let (deactivate, reactivate) = (
        pb::DeactivateUserRequest {
            request_id: rid(),
            user_id: ivan.user_id.clone(),
        },
        pb::ReactivateUserRequest {
            request_id: rid(),
            user_id: ivan.user_id.clone(),
        },
    );
    s.identity()
        .deactivate_user(bearer(deactivate, &a.admin_token))
        .await
        .unwrap();
    refused(
        s.invite_integrator_as(&a.tenant_id, &a.admin_token, "ivan@integra.example")
            .await,
        Code::AlreadyExists,
        "ReactivateUser",
    );
    let u = s
        .identity()
        .reactivate_user(bearer(reactivate, &a.admin_token))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(u.active);
    s.sign_in_response(&a.tenant_id, &ivan.email, &ivan.password, "")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_token_travels_to_audit_and_then_leaves_identity() {
    use keyholder_identity::store::entities::outbox as row;
    use keyholder_proto::audit::v1::EventKind;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let c = Ctx::up().await;
    let s = &c.s;
    let a = s.create_tenant("A", 3).await;
    s.register_partner("Integra", &["integra.example"]).await;
    s.invite_integrator_as(&a.tenant_id, &a.admin_token, "ivan@integra.example")
        .await
        .unwrap();
    c.flush().await;
    let e = c
        .received
        .one("integrator_invited", "email", "ivan@integra.example");
    assert_eq!(e.kind, EventKind::IntegratorInvited as i32);
    assert_eq!(e.attributes["locale"], "en");
    assert!(
        e.attributes
            .values()
            .all(|v| !v.contains(&e.invitation_token))
    );
    // Delivered: identity keeps no copy of the token, only its hash.
    let url = s
        .config
        .database_url(keyholder_kit::config::ServiceName::Identity);
    let db = sea_orm::Database::connect(url.expose()).await.unwrap();
    let left = row::Entity::find()
        .filter(row::Column::Secret.is_not_null())
        .count(&db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    s.identity()
        .accept_invitation(accept(&e.invitation_token, "ivans-own-password"))
        .await
        .unwrap();
}
