//! A TOTP code is accepted once (RFC 6238 §5.2): its time step must be later
//! than the last one accepted, at enrolment and at every sign-in.

use crate::*;
use keyholder_kit::clock::{Clock, ManualClock};
use keyholder_testkit::totp_at;

#[tokio::test]
async fn a_totp_code_works_only_once() {
    let mut s = Suite::new().await;
    let clock = ManualClock::new(chrono::Utc::now());
    s.start_identity_with_clock(clock.clone()).await;
    let t = s.create_tenant("Acme", 3).await;
    let e = s.create_employee(&t, "bob@acme.example", false).await;
    // Identity's clock stands still: every code below is judged at `now`.
    let now = u64::try_from(clock.now().timestamp()).unwrap();
    let begun = s
        .identity()
        .begin_totp_enrollment(bearer(pb::BeginTotpEnrollmentRequest {}, &e.token))
        .await
        .unwrap()
        .into_inner();
    let code = totp_at(&begun.secret, now);
    s.identity()
        .confirm_totp_enrollment(bearer(
            pb::ConfirmTotpEnrollmentRequest { code: code.clone() },
            &e.token,
        ))
        .await
        .unwrap();
    let sign_in = |code: String| {
        let (tenant, email, password) = (t.tenant_id.clone(), e.email.clone(), e.password.clone());
        let mut client = s.identity();
        async move {
            client
                .sign_in(pb::SignInRequest {
                    tenant_id: tenant,
                    email,
                    password,
                    totp_code: code,
                })
                .await
        }
    };
    // The enrolment's code is spent: it does not sign in.
    refused(
        sign_in(code.clone()).await,
        Code::Unauthenticated,
        "this code was already used; wait for the next one",
    );
    // The next step's code works, once.
    let next = totp_at(&begun.secret, now + 30);
    sign_in(next.clone()).await.unwrap();
    refused(sign_in(next).await, Code::Unauthenticated, "already used");
    // An earlier step, though within the skew, is spent too.
    refused(
        sign_in(totp_at(&begun.secret, now - 30)).await,
        Code::Unauthenticated,
        "already used",
    );
    // A replay is not a failed sign-in: no lock-out builds up.
    for _ in 0..5 {
        refused(
            sign_in(code.clone()).await,
            Code::Unauthenticated,
            "already used",
        );
    }
    clock.advance(chrono::Duration::seconds(60));
    sign_in(totp_at(&begun.secret, now + 60)).await.unwrap();
}

#[tokio::test]
async fn concurrent_sign_ins_with_one_code_let_only_one_in() {
    let mut s = Suite::new().await;
    let clock = ManualClock::new(chrono::Utc::now());
    s.start_identity_with_clock(clock.clone()).await;
    let a = s.create_agent("Alice").await;
    // The fixture signed in with the current code (its step is spent).
    let now = u64::try_from(clock.now().timestamp()).unwrap();
    let code = totp_at(&a.totp_secret, now + 30);
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let mut client = s.identity();
            let req = pb::SignInRequest {
                tenant_id: String::new(),
                email: a.email.clone(),
                password: a.password.clone(),
                totp_code: code.clone(),
            };
            tokio::spawn(async move { client.sign_in(req).await })
        })
        .collect();
    let mut ok = 0;
    for c in calls {
        match c.await.unwrap() {
            Ok(_) => ok += 1,
            // Until settled, each attempt counts as a failed guess, so one
            // arriving behind three others may be told to slow down instead.
            Err(e) if e.code() == Code::ResourceExhausted => {}
            Err(e) => {
                assert_eq!(e.code(), Code::Unauthenticated);
                assert!(e.message().contains("already used"), "{}", e.message());
            }
        }
    }
    assert_eq!(ok, 1);
}
