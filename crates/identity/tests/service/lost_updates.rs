//! Sign-ins read the user, spend a long password check, then write: that
//! write must touch only the sign-in counters, so an admin's change committed
//! meanwhile (deactivation, dismissal as admin) is never undone.

use crate::*;

fn wrong_sign_in(s: &Suite, tenant: &str, email: &str) -> tokio::task::JoinHandle<Code> {
    let mut client = s.identity();
    let req = pb::SignInRequest {
        tenant_id: tenant.into(),
        email: email.into(),
        password: "certainly-not-the-password".into(),
        totp_code: String::new(),
    };
    tokio::spawn(async move {
        match client.sign_in(req).await {
            Ok(_) => Code::Ok,
            Err(e) => e.code(),
        }
    })
}

async fn user_of(s: &Suite, token: &str, id: &str) -> pb::User {
    s.identity()
        .get_user(bearer(pb::GetUserRequest { user_id: id.into() }, token))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_never_undo_a_deactivation_or_dismissal() {
    let s = suite().await;
    let t = s.create_tenant("Acme", 5).await;
    let e = s.create_employee(&t, "bob@acme.example", true).await;
    for round in 0..4 {
        // Three wrong passwords race the admin's dismissal and deactivation
        // of the same user (from the second round on, some are throttled).
        let sign_ins: Vec<_> = (0..3)
            .map(|_| wrong_sign_in(&s, &t.tenant_id, &e.email))
            .collect();
        let dismiss = call!(
            s,
            set_admin,
            bearer(
                pb::SetAdminRequest {
                    request_id: rid(),
                    user_id: e.user_id.clone(),
                    admin: false,
                },
                &t.admin_token,
            )
        );
        let deactivate = call!(
            s,
            deactivate_user,
            bearer(
                pb::DeactivateUserRequest {
                    request_id: rid(),
                    user_id: e.user_id.clone(),
                },
                &t.admin_token,
            )
        );
        let (dismissed, deactivated) = tokio::join!(dismiss, deactivate);
        dismissed.unwrap();
        deactivated.unwrap();
        for h in sign_ins {
            let code = h.await.unwrap();
            assert!(
                matches!(code, Code::Unauthenticated | Code::ResourceExhausted),
                "{code:?}"
            );
        }
        let u = user_of(&s, &t.admin_token, &e.user_id).await;
        assert!(
            !u.active,
            "round {round}: a failed sign-in re-activated the user"
        );
        assert!(!u.admin, "round {round}: a failed sign-in restored admin");
        // Back to an active admin for the next round.
        s.identity()
            .reactivate_user(bearer(
                pb::ReactivateUserRequest {
                    request_id: rid(),
                    user_id: e.user_id.clone(),
                },
                &t.admin_token,
            ))
            .await
            .unwrap();
        s.identity()
            .set_admin(bearer(
                pb::SetAdminRequest {
                    request_id: rid(),
                    user_id: e.user_id.clone(),
                    admin: true,
                },
                &t.admin_token,
            ))
            .await
            .unwrap();
    }
}
