//! Service tests of identity: the real server on an ephemeral port, a fresh
//! database per test (SQLite, or PostgreSQL with KEYHOLDER_TEST_DATABASE_URL).
//! One test binary, several modules, to keep link time down.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// A call whose future owns its client (for closures that build requests).
#[macro_export]
macro_rules! call {
    ($s:expr, $method:ident, $req:expr) => {{
        let req = $req;
        let mut client = $s.identity();
        async move { client.$method(req).await }
    }};
}

mod agent_secret;
mod apps;
mod bad_input;
mod bootstrap;
mod integrator_rights;
mod invitations;
mod limits;
mod lost_updates;
mod org;
mod outbox;
mod outbox_org;
mod partners;
mod receiver;
mod relay;
mod session;
mod standing_refusals;
mod tenants;
mod tenants_ownership;
mod throttle;
mod tokens;
mod totp_replay;
mod upgrade;
mod users;

use keyholder_proto::identity::v1 as pb;
use keyholder_testkit::{Suite, bearer};
use tonic::Code;

/// A suite with identity started.
pub async fn suite() -> Suite {
    let mut s = Suite::new().await;
    s.start_identity().await;
    s
}

/// Asserts a refusal: its code and that its message contains `words`.
#[track_caller]
pub fn refused<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, words: &str) {
    match r {
        Ok(v) => panic!("expected {code:?} ({words}), got success: {v:?}"),
        Err(s) => {
            assert_eq!(s.code(), code, "message: {}", s.message());
            assert!(
                s.message().to_lowercase().contains(&words.to_lowercase()),
                "message {:?} lacks {words:?}",
                s.message()
            );
        }
    }
}

/// A request without a token.
pub fn anon<T>(m: T) -> tonic::Request<T> {
    tonic::Request::new(m)
}

/// Shorthand.
pub fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A department made by `token`.
pub async fn department(
    s: &Suite,
    token: &str,
    tenant: &str,
    name: &str,
    parent: &str,
) -> pb::Department {
    s.identity()
        .create_department(bearer(
            pb::CreateDepartmentRequest {
                request_id: rid(),
                tenant_id: tenant.into(),
                name: name.into(),
                parent_id: parent.into(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .department
        .unwrap()
}

/// A right.
pub fn right(text: &str) -> pb::Right {
    let (e, a) = text.split_once(':').unwrap();
    pb::Right {
        entity: e.into(),
        action: a.into(),
    }
}

/// A user subject.
pub fn user_subject(id: &str) -> pb::RoleSubject {
    pb::RoleSubject {
        subject: Some(pb::role_subject::Subject::UserId(id.into())),
    }
}

/// A department subject.
pub fn dept_subject(id: &str) -> pb::RoleSubject {
    pb::RoleSubject {
        subject: Some(pb::role_subject::Subject::DepartmentId(id.into())),
    }
}

/// Authorize as `token`.
pub async fn authorize(
    s: &Suite,
    token: &str,
    tenant: &str,
    who: &str,
    entity: &str,
    action: &str,
) -> pb::AuthorizeResponse {
    s.identity()
        .authorize(bearer(
            pb::AuthorizeRequest {
                tenant_id: tenant.into(),
                principal_id: who.into(),
                entity: entity.into(),
                action: action.into(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
}
