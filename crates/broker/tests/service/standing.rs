//! Standing mode: sign-in without a credential, still with a reason, under the
//! admin who turned it on; turning it off ends the standing sessions.

use crate::common::*;
use keyholder_proto::audit::v1::EventKind;
use keyholder_proto::broker::v1 as pb;
use keyholder_testkit::bearer;
use tonic::Code;

#[tokio::test]
async fn standing_mode_lets_agents_in_read_only_until_turned_off() {
    let ctx = Ctx::new().await;
    let backend = ctx.backend_token().await;
    ctx.set_mode(pb::SupportAccessMode::Standing).await;
    let s = ctx.sign_in("").await.unwrap();
    let session = s.session.clone().unwrap();
    assert_eq!(session.granted_by, ctx.tenant.chief_admin_id);
    assert!(session.scope.unwrap().read_only);
    let mut broker = ctx.broker();
    assert!(
        ctx.check(&mut broker, &backend, &s.access_token, "crm.deal", "read")
            .await
            .allowed
    );
    assert!(
        !ctx.check(&mut broker, &backend, &s.access_token, "crm.deal", "change")
            .await
            .allowed
    );
    // A second sign-in reuses the standing grant.
    let s2 = ctx.sign_in("").await.unwrap();
    assert_eq!(s2.session.unwrap().grant_id, session.grant_id);

    ctx.set_mode(pb::SupportAccessMode::OnRequest).await;
    let after = ctx
        .check(&mut broker, &backend, &s.access_token, "crm.deal", "read")
        .await;
    assert!(!after.allowed);
    let e = ctx.sign_in("").await.unwrap_err();
    assert_status(
        &e,
        Code::PermissionDenied,
        &["not granted", "one-time credential"],
    );
    assert!(eventually(|| async { ctx.received.of_kind(EventKind::SignIn).len() == 2 }).await);
    let sign_in = &ctx.received.of_kind(EventKind::SignIn)[0];
    assert_eq!(
        sign_in.granted_by.as_ref().unwrap().actor_id,
        ctx.tenant.chief_admin_id
    );
    assert_eq!(
        sign_in.attributes.get("standing").map(String::as_str),
        Some("true")
    );
    let settings = ctx
        .broker()
        .get_support_access_settings(bearer(
            pb::GetSupportAccessSettingsRequest {
                tenant_id: ctx.tenant.tenant_id.clone(),
            },
            &ctx.agent.token,
        ))
        .await
        .unwrap()
        .into_inner()
        .settings
        .unwrap();
    assert_eq!(settings.mode, pb::SupportAccessMode::OnRequest as i32);
    assert_eq!(settings.updated_by, ctx.tenant.chief_admin_id);
}
