//! A change in a person's standing reaches every service at once: for each
//! kind of lowering, a token issued before it is refused by every RPC of all
//! three services that accepted it before. The RPCs are enumerated from the
//! descriptor set, so a new RPC cannot be forgotten.

use keyholder_proto::identity::v1 as identity;
use keyholder_testkit::raw_rpc::{Ports, Rpc, all_rpcs};
use keyholder_testkit::{Suite, TenantFixture, UserFixture, bearer};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic::transport::Channel;

/// Calls `rpc` with an empty request and `token`; the status code and message.
async fn call(ch: Channel, rpc: &Rpc, token: &str) -> (Code, String) {
    let mut grpc = tonic::client::Grpc::new(ch);
    grpc.ready().await.expect("channel ready");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let path = http::uri::PathAndQuery::from_str(&rpc.path).expect("path");
    let req = bearer((), token);
    let outcome = async {
        if rpc.streaming {
            let mut stream = grpc.server_streaming(req, path, codec).await?.into_inner();
            stream.message().await.map(|_| ())
        } else {
            grpc.unary(req, path, codec).await.map(|_| ())
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), outcome).await {
        Ok(Ok(())) => (Code::Ok, String::new()),
        Ok(Err(s)) => (s.code(), s.message().to_string()),
        Err(_) => (Code::DeadlineExceeded, "timed out".into()),
    }
}

/// Every non-public RPC the token was accepted by (anything but
/// UNAUTHENTICATED counts: the call got past authentication).
async fn accepted_by(ports: &Ports, rpcs: &[Rpc], token: &str) -> Vec<Rpc> {
    let mut out = Vec::new();
    for rpc in rpcs {
        if keyholder_identity::PUBLIC_METHODS.contains(&rpc.path.as_str()) {
            continue;
        }
        let (code, msg) = call(ports.of(rpc), rpc, token).await;
        if code != Code::Unauthenticated {
            out.push(rpc.clone());
        } else {
            assert!(!msg.is_empty(), "{} refused without a message", rpc.path);
        }
    }
    out
}

/// Asserts the old token is refused everywhere it used to work. Broker and
/// audit learn of the change through the feed: the first refusal there is
/// awaited (bounded), then every RPC must refuse.
async fn assert_refused_everywhere(ports: &Ports, before: &[Rpc], token: &str, what: &str) {
    for probe in ["keyholder.broker.", "keyholder.audit."] {
        if let Some(rpc) = before.iter().find(|r| r.service.starts_with(probe)) {
            let deadline = Instant::now() + Duration::from_secs(2);
            while call(ports.of(rpc), rpc, token).await.0 != Code::Unauthenticated
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    let mut still = Vec::new();
    for rpc in before {
        let (code, msg) = call(ports.of(rpc), rpc, token).await;
        if code != Code::Unauthenticated {
            still.push(format!("{} -> {code:?} {msg}", rpc.path));
        }
    }
    assert!(
        still.is_empty(),
        "{what}: the old token still works at:\n{}",
        still.join("\n")
    );
}

struct Cast {
    suite: Suite,
    ports: Ports,
    tenant: TenantFixture,
    rpcs: Vec<Rpc>,
}

impl Cast {
    async fn start() -> Self {
        let mut suite = Suite::new().await;
        suite.start_identity().await;
        suite.start_audit().await;
        suite.start_broker().await;
        let tenant = suite.create_tenant("Initech", 20).await;
        let ports = Ports::of_suite(&suite);
        let rpcs = all_rpcs();
        assert!(rpcs.len() > 60, "only {} rpcs found", rpcs.len());
        Self {
            suite,
            ports,
            tenant,
            rpcs,
        }
    }

    async fn employee(&self, email: &str, admin: bool) -> UserFixture {
        self.suite.create_employee(&self.tenant, email, admin).await
    }

    /// The RPCs `token` works at now, checked to span all three services.
    async fn before(&self, token: &str) -> Vec<Rpc> {
        let before = accepted_by(&self.ports, &self.rpcs, token).await;
        for svc in [
            "keyholder.identity.",
            "keyholder.broker.",
            "keyholder.audit.",
        ] {
            assert!(
                before.iter().any(|r| r.service.starts_with(svc)),
                "the token worked nowhere at {svc}"
            );
        }
        before
    }

    async fn deactivate(&self, user_id: &str) {
        self.suite
            .identity()
            .deactivate_user(bearer(
                identity::DeactivateUserRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    user_id: user_id.to_string(),
                },
                &self.tenant.admin_token,
            ))
            .await
            .expect("deactivate");
    }
}

#[tokio::test]
async fn a_deactivated_admin_s_token_is_refused_by_every_rpc() {
    let c = Cast::start().await;
    let admin = c.employee("deputy@initech.example", true).await;
    let before = c.before(&admin.token).await;
    c.deactivate(&admin.user_id).await;
    assert_refused_everywhere(&c.ports, &before, &admin.token, "deactivated admin").await;
}

#[tokio::test]
async fn a_demoted_admin_s_token_is_refused_by_every_rpc_and_cannot_undo_the_demotion() {
    let c = Cast::start().await;
    let admin = c.employee("deputy@initech.example", true).await;
    let before = c.before(&admin.token).await;
    c.suite
        .identity()
        .set_admin(bearer(
            identity::SetAdminRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                user_id: admin.user_id.clone(),
                admin: false,
            },
            &c.tenant.admin_token,
        ))
        .await
        .expect("demote");
    assert_refused_everywhere(&c.ports, &before, &admin.token, "demoted admin").await;
    let undo = c
        .suite
        .identity()
        .set_admin(bearer(
            identity::SetAdminRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                user_id: admin.user_id.clone(),
                admin: true,
            },
            &admin.token,
        ))
        .await
        .expect_err("the old token cannot re-appoint its owner");
    assert_eq!(undo.code(), Code::Unauthenticated);
    // Signing in again gives a plain employee's token.
    let fresh = c
        .suite
        .sign_in(&c.tenant.tenant_id, &admin.email, &admin.password, "")
        .await;
    let denied = c
        .suite
        .identity()
        .set_admin(bearer(
            identity::SetAdminRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                user_id: admin.user_id.clone(),
                admin: true,
            },
            &fresh,
        ))
        .await
        .expect_err("a plain employee cannot appoint admins");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn the_previous_chief_admin_s_token_is_refused_after_a_transfer() {
    let c = Cast::start().await;
    let successor = c.employee("successor@initech.example", true).await;
    let before = c.before(&c.tenant.admin_token).await;
    c.suite
        .identity()
        .transfer_ownership(bearer(
            identity::TransferOwnershipRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                tenant_id: c.tenant.tenant_id.clone(),
                new_chief_admin_id: successor.user_id.clone(),
            },
            &c.tenant.admin_token,
        ))
        .await
        .expect("transfer");
    assert_refused_everywhere(&c.ports, &before, &c.tenant.admin_token, "previous chief").await;
}

#[tokio::test]
async fn a_dismissed_agent_s_token_is_refused_and_a_re_hire_does_not_revive_it() {
    let c = Cast::start().await;
    let agent = c.suite.create_agent("Ivan Petrov").await;
    let before = accepted_by(&c.ports, &c.rpcs, &agent.token).await;
    assert!(
        before
            .iter()
            .any(|r| r.path.ends_with("BrokerService/CreateAccessRequest")),
        "the agent could not reach CreateAccessRequest before"
    );
    let op = c.suite.operator_token().await;
    c.suite
        .identity()
        .deactivate_user(bearer(
            identity::DeactivateUserRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                user_id: agent.agent_id.clone(),
            },
            &op,
        ))
        .await
        .expect("dismiss agent");
    assert_refused_everywhere(&c.ports, &before, &agent.token, "dismissed agent").await;
    c.suite
        .identity()
        .reactivate_user(bearer(
            identity::ReactivateUserRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                user_id: agent.agent_id.clone(),
            },
            &op,
        ))
        .await
        .expect("re-hire agent");
    // The re-hire has reached the broker once a fresh token works there.
    let fresh = c
        .suite
        .sign_in(
            "",
            &agent.email,
            &agent.password,
            // The current step's code was spent by the fixture's sign-in;
            // the next step's is accepted (one step of skew).
            &c.suite.next_totp(&agent.totp_secret),
        )
        .await;
    let probe = before
        .iter()
        .find(|r| r.path.ends_with("BrokerService/ListGrants"))
        .expect("ListGrants worked before");
    let deadline = Instant::now() + Duration::from_secs(2);
    while call(c.ports.of(probe), probe, &fresh).await.0 == Code::Unauthenticated
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_ne!(
        call(c.ports.of(probe), probe, &fresh).await.0,
        Code::Unauthenticated
    );
    assert_refused_everywhere(
        &c.ports,
        &before,
        &agent.token,
        "re-hired agent's old token",
    )
    .await;
}

#[tokio::test]
async fn a_disabled_service_account_s_token_is_refused_everywhere() {
    let c = Cast::start().await;
    let (creds, token) = c
        .suite
        .create_service_account(
            "crm-backend",
            &[
                "broker.check_access",
                "identity.users.read",
                "audit.events.write",
            ],
        )
        .await;
    let before = c.before(&token).await;
    let op = c.suite.operator_token().await;
    c.suite
        .identity()
        .disable_service_account(bearer(
            identity::DisableServiceAccountRequest {
                client_id: creds.client_id.clone(),
            },
            &op,
        ))
        .await
        .expect("disable");
    assert_refused_everywhere(&c.ports, &before, &token, "disabled service account").await;
    let again = c
        .suite
        .identity()
        .issue_service_token(identity::IssueServiceTokenRequest {
            client_id: creds.client_id.clone(),
            client_secret: creds.client_secret.clone(),
        })
        .await
        .expect_err("a disabled account gets no token");
    assert_eq!(again.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn signing_out_everywhere_kills_every_access_token() {
    let c = Cast::start().await;
    let admin = c.employee("deputy@initech.example", true).await;
    let pair = c
        .suite
        .identity()
        .sign_in(identity::SignInRequest {
            tenant_id: c.tenant.tenant_id.clone(),
            email: admin.email.clone(),
            password: admin.password.clone(),
            ..Default::default()
        })
        .await
        .expect("second sign-in")
        .into_inner()
        .tokens
        .expect("tokens");
    let before = c.before(&admin.token).await;
    c.suite
        .identity()
        .sign_out(identity::SignOutRequest {
            refresh_token: pair.refresh_token.clone(),
            everywhere: true,
        })
        .await
        .expect("sign out everywhere");
    assert_refused_everywhere(&c.ports, &before, &admin.token, "signed out everywhere").await;
    assert_refused_everywhere(&c.ports, &before, &pair.access_token, "the other sign-in").await;
}

#[tokio::test]
async fn a_service_account_token_is_accepted_only_where_its_audience_says() {
    let c = Cast::start().await;
    let (_, token) = c
        .suite
        .create_service_account("crm-backend", &["broker.check_access"])
        .await;
    let accepted = accepted_by(&c.ports, &c.rpcs, &token).await;
    assert!(
        accepted
            .iter()
            .all(|r| r.service.starts_with("keyholder.broker.")),
        "a broker-only token was accepted at {:?}",
        accepted
            .iter()
            .filter(|r| !r.service.starts_with("keyholder.broker."))
            .map(|r| &r.path)
            .collect::<Vec<_>>()
    );
    assert!(!accepted.is_empty());
}

#[tokio::test]
async fn a_dismissed_integrator_s_token_is_refused_by_every_rpc() {
    let c = Cast::start().await;
    c.suite
        .register_partner("Integra", &["integra.example"])
        .await;
    let ivan = c
        .suite
        .invite_integrator(&c.tenant, "ivan@integra.example")
        .await;
    let before = c.before(&ivan.token).await;
    c.deactivate(&ivan.user_id).await;
    assert_refused_everywhere(&c.ports, &before, &ivan.token, "dismissed integrator").await;
}
