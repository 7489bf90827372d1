//! Sign-in throttling: growing delays per account and per source, no
//! lock-out a stranger can cause, one answer for unknown e-mails and wrong
//! passwords, and a cap on password size before any hashing.

use crate::*;
use keyholder_kit::clock::{Clock, ManualClock};
use keyholder_testkit::totp_at;
use std::sync::Arc;

const WRONG: &str = "certainly-not-the-password";

/// A suite whose identity runs on a clock that moves only when told to.
async fn frozen() -> (Suite, Arc<ManualClock>) {
    let mut s = Suite::new().await;
    let clock = ManualClock::new(chrono::Utc::now());
    s.start_identity_with_clock(clock.clone()).await;
    (s, clock)
}

fn throttled<T: std::fmt::Debug>(r: Result<T, tonic::Status>, secs: i64) {
    refused(
        r,
        Code::ResourceExhausted,
        &format!("too many sign-in attempts; try again in {secs} s"),
    );
}

fn wrong<T: std::fmt::Debug>(r: Result<T, tonic::Status>) {
    refused(
        r,
        Code::Unauthenticated,
        "sign-in refused: wrong e-mail, password or code",
    );
}

/// Turns TOTP on for the chief admin of `t`; its secret.
async fn enrol_chief(s: &Suite, t: &keyholder_testkit::TenantFixture, now: u64) -> String {
    let begun = s
        .identity()
        .begin_totp_enrollment(bearer(pb::BeginTotpEnrollmentRequest {}, &t.admin_token))
        .await
        .unwrap()
        .into_inner();
    s.identity()
        .confirm_totp_enrollment(bearer(
            pb::ConfirmTotpEnrollmentRequest {
                code: totp_at(&begun.secret, now),
            },
            &t.admin_token,
        ))
        .await
        .unwrap();
    begun.secret
}

#[tokio::test]
async fn a_stranger_cannot_keep_the_owner_out() {
    let (s, clock) = frozen().await;
    let t = s.create_tenant("Acme", 3).await;
    let now = u64::try_from(clock.now().timestamp()).unwrap();
    let secret = enrol_chief(&s, &t, now).await;
    let (tid, owner) = (t.tenant_id.as_str(), t.admin_email.as_str());
    // A stranger guesses at the chief admin, then sprays made-up e-mails
    // until the whole source address is slowed down too.
    for _ in 0..3 {
        wrong(s.sign_in_response(tid, owner, WRONG, "").await);
    }
    for _ in 0..20 {
        throttled(s.sign_in_response(tid, owner, WRONG, "123456").await, 1);
    }
    for i in 0..7 {
        let email = format!("guess{i}@acme.example");
        wrong(s.sign_in_response(tid, &email, WRONG, "").await);
    }
    throttled(
        s.sign_in_response(tid, "guess99@acme.example", WRONG, "")
            .await,
        1,
    );
    // Even the right password is not heard without the owner's code …
    throttled(
        s.sign_in_response(tid, owner, &t.admin_password, "").await,
        1,
    );
    // … but with it, the owner signs in, from the very same address.
    let code = totp_at(&secret, now + 30);
    let ok = s
        .sign_in_response(tid, owner, &t.admin_password, &code)
        .await
        .unwrap();
    assert!(ok.user.unwrap().chief_admin);
    // The code is spent: it cannot carry a second guess past the delay.
    throttled(s.sign_in_response(tid, owner, WRONG, &code).await, 1);
    // Hours of guessing later, the owner still gets in.
    for _ in 0..50 {
        clock.advance(chrono::Duration::seconds(61));
        let _ = s.sign_in_response(tid, owner, WRONG, "000000").await;
    }
    let later = u64::try_from(clock.now().timestamp()).unwrap();
    s.sign_in_response(tid, owner, &t.admin_password, &totp_at(&secret, later))
        .await
        .unwrap();
}

#[tokio::test]
async fn delays_grow_and_guessing_resumes_once_they_are_over() {
    let (s, clock) = frozen().await;
    let t = s.create_tenant("Acme", 3).await;
    let e = s.create_employee(&t, "bob@acme.example", false).await;
    let tid = t.tenant_id.as_str();
    for _ in 0..3 {
        wrong(s.sign_in_response(tid, &e.email, WRONG, "").await);
    }
    // The fourth attempt is refused without its password being looked at:
    // the right one fares no better.
    throttled(s.sign_in_response(tid, &e.email, &e.password, "").await, 1);
    clock.advance(chrono::Duration::seconds(1));
    wrong(s.sign_in_response(tid, &e.email, WRONG, "").await);
    throttled(s.sign_in_response(tid, &e.email, &e.password, "").await, 2);
    clock.advance(chrono::Duration::seconds(1));
    throttled(s.sign_in_response(tid, &e.email, &e.password, "").await, 1);
    clock.advance(chrono::Duration::seconds(1));
    wrong(s.sign_in_response(tid, &e.email, WRONG, "").await);
    throttled(s.sign_in_response(tid, &e.email, WRONG, "").await, 4);
    clock.advance(chrono::Duration::seconds(4));
    s.sign_in_response(tid, &e.email, &e.password, "")
        .await
        .unwrap();
    // A sign-in wipes the slate: three free guesses again.
    for _ in 0..3 {
        wrong(s.sign_in_response(tid, &e.email, WRONG, "").await);
    }
    throttled(s.sign_in_response(tid, &e.email, WRONG, "").await, 1);
    // The delay never passes a minute, and a quiet quarter hour forgets.
    for _ in 0..10 {
        clock.advance(chrono::Duration::seconds(60));
        wrong(s.sign_in_response(tid, &e.email, WRONG, "").await);
    }
    throttled(s.sign_in_response(tid, &e.email, WRONG, "").await, 60);
    clock.advance(chrono::Duration::minutes(15));
    for _ in 0..3 {
        wrong(s.sign_in_response(tid, &e.email, WRONG, "").await);
    }
}

#[tokio::test]
async fn unknown_e_mails_and_wrong_passwords_get_one_answer() {
    let (s, _clock) = frozen().await;
    let t = s.create_tenant("Acme", 3).await;
    let tid = t.tenant_id.as_str();
    let answer = |r: Result<pb::SignInResponse, tonic::Status>| {
        let e = r.unwrap_err();
        (e.code(), e.message().to_string())
    };
    for _ in 0..5 {
        let known = answer(s.sign_in_response(tid, &t.admin_email, WRONG, "").await);
        let unknown = answer(
            s.sign_in_response(tid, "nobody@acme.example", WRONG, "")
                .await,
        );
        // The same while free and the same once slowed down.
        assert_eq!(known, unknown);
    }
    // A wrong tenant is just another unknown e-mail.
    let other = answer(s.sign_in_response("", &t.admin_email, WRONG, "").await);
    assert_eq!(other.0, Code::Unauthenticated);
    assert_eq!(other.1, "sign-in refused: wrong e-mail, password or code");
}

#[tokio::test]
async fn an_over_long_password_is_refused_before_hashing() {
    let (s, _clock) = frozen().await;
    let t = s.create_tenant("Acme", 3).await;
    let huge = "x".repeat(3 << 20);
    let started = std::time::Instant::now();
    refused(
        s.sign_in_response(&t.tenant_id, &t.admin_email, &huge, "")
            .await,
        Code::InvalidArgument,
        "at most 256 characters",
    );
    eprintln!("a refused 3 MiB password took {:?}", started.elapsed());
    // 256 four-byte characters still reach the password check.
    wrong(
        s.sign_in_response(&t.tenant_id, &t.admin_email, &"\u{1F511}".repeat(256), "")
            .await,
    );
    // Nor can such a password be set.
    refused(
        s.identity()
            .create_employee(bearer(
                pb::CreateEmployeeRequest {
                    request_id: rid(),
                    tenant_id: t.tenant_id.clone(),
                    email: "bob@acme.example".into(),
                    display_name: "Bob".into(),
                    password: huge,
                    ..Default::default()
                },
                &t.admin_token,
            ))
            .await,
        Code::InvalidArgument,
        "at most 256 characters",
    );
}

#[tokio::test]
async fn the_source_limit_spans_accounts() {
    let (s, clock) = frozen().await;
    let t = s.create_tenant("Acme", 3).await;
    let e = s.create_employee(&t, "bob@acme.example", false).await;
    let tid = t.tenant_id.as_str();
    // One wrong guess at each of ten accounts: no account is slowed, the
    // address is.
    for i in 0..10 {
        let email = format!("user{i}@acme.example");
        wrong(s.sign_in_response(tid, &email, WRONG, "").await);
    }
    throttled(
        s.sign_in_response(tid, "user10@acme.example", WRONG, "")
            .await,
        1,
    );
    throttled(s.sign_in_response(tid, &e.email, &e.password, "").await, 1);
    clock.advance(chrono::Duration::seconds(1));
    s.sign_in_response(tid, &e.email, &e.password, "")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_share_a_free_slot() {
    let (s, _clock) = frozen().await;
    let t = s.create_tenant("Acme", 3).await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let mut client = s.identity();
            let req = pb::SignInRequest {
                tenant_id: t.tenant_id.clone(),
                email: t.admin_email.clone(),
                password: WRONG.into(),
                totp_code: String::new(),
            };
            tokio::spawn(async move { client.sign_in(req).await.unwrap_err().code() })
        })
        .collect();
    let mut codes = Vec::new();
    for c in calls {
        codes.push(c.await.unwrap());
    }
    let heard = codes
        .iter()
        .filter(|c| **c == Code::Unauthenticated)
        .count();
    let slowed = codes
        .iter()
        .filter(|c| **c == Code::ResourceExhausted)
        .count();
    assert_eq!((heard, slowed), (3, 5), "{codes:?}");
}
