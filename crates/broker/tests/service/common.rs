//! Shared set-up: a suite with identity, a test audit receiver and a broker,
//! one tenant with its chief admin, one agent, and helpers for each step.

use keyholder_proto::broker::v1 as pb;
use keyholder_proto::broker::v1::broker_service_client::BrokerServiceClient;
use keyholder_testkit::broker::StartedBroker;
use keyholder_testkit::{AgentFixture, Suite, TenantFixture, bearer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::Status;
use tonic::transport::Channel;

pub use keyholder_testkit::audit_receiver::Received;

/// Serves the testkit's receiver on `listener` (any bearer token accepted)
/// until `stop` is cancelled.
pub fn serve_receiver(
    listener: TcpListener,
    received: Arc<Received>,
    stop: keyholder_kit::CancellationToken,
) {
    keyholder_testkit::audit_receiver::serve_receiver(listener, received, None, stop);
}

/// Polls `check` (up to ~15 s) until it holds; returns whether it did.
pub async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

pub struct Ctx {
    pub suite: Suite,
    pub broker: StartedBroker,
    pub tenant: TenantFixture,
    pub agent: AgentFixture,
    pub received: Arc<Received>,
}

impl Ctx {
    pub async fn new() -> Self {
        Self::new_with(|_| {}).await
    }

    /// [`Ctx::new`], with `configure` applied to the suite's configuration
    /// before the broker starts.
    pub async fn new_with(configure: impl FnOnce(&mut keyholder_kit::config::Config)) -> Self {
        let mut suite = Suite::new().await;
        configure(&mut suite.config);
        suite.start_identity().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver_addr: SocketAddr = listener.local_addr().unwrap();
        let received = Arc::new(Received::default());
        serve_receiver(listener, received.clone(), suite.shutdown.clone());
        suite.config.audit.url = format!("http://{receiver_addr}");
        let broker = suite.start_broker().await;
        let tenant = suite.create_tenant("Acme Trading", 10).await;
        let agent = suite.create_agent("Sam Support").await;
        Self {
            suite,
            broker,
            tenant,
            agent,
            received,
        }
    }

    pub fn broker(&self) -> BrokerServiceClient<Channel> {
        self.suite.broker()
    }

    /// The broker's own database, to prove what was (not) written.
    pub async fn broker_db(&self) -> sea_orm::DatabaseConnection {
        let url = self
            .suite
            .config
            .database_url(keyholder_kit::config::ServiceName::Broker);
        sea_orm::Database::connect(url.expose()).await.unwrap()
    }

    pub async fn set_mode(&self, mode: pb::SupportAccessMode) -> pb::SupportAccessSettings {
        self.broker()
            .update_support_access_settings(bearer(
                pb::UpdateSupportAccessSettingsRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: self.tenant.tenant_id.clone(),
                    mode: Some(mode as i32),
                    ..Default::default()
                },
                &self.suite.admin_token(&self.tenant).await,
            ))
            .await
            .expect("mode change")
            .into_inner()
            .settings
            .unwrap()
    }

    pub fn request_msg(&self, ticket: &str, scope: pb::Scope) -> pb::CreateAccessRequestRequest {
        pb::CreateAccessRequestRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            tenant_id: self.tenant.tenant_id.clone(),
            agent_id: String::new(),
            ticket_ref: ticket.into(),
            reason: "customer reports broken deal pipeline".into(),
            scope: Some(scope),
            duration: None,
        }
    }

    pub async fn request(&self, ticket: &str, scope: pb::Scope) -> pb::AccessRequest {
        self.broker()
            .create_access_request(bearer(
                self.request_msg(ticket, scope),
                &self.suite.agent_token(&self.agent).await,
            ))
            .await
            .expect("create request")
            .into_inner()
            .access_request
            .unwrap()
    }

    pub async fn approve(&self, request_id: &str) -> pb::Grant {
        self.broker()
            .approve_access_request(bearer(
                pb::ApproveAccessRequestRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    access_request_id: request_id.into(),
                    ..Default::default()
                },
                &self.suite.admin_token(&self.tenant).await,
            ))
            .await
            .expect("approve")
            .into_inner()
            .grant
            .unwrap()
    }

    pub async fn credential(&self, grant_id: &str) -> String {
        self.broker()
            .issue_grant_credential(bearer(
                pb::IssueGrantCredentialRequest {
                    grant_id: grant_id.into(),
                },
                &self.suite.agent_token(&self.agent).await,
            ))
            .await
            .expect("issue credential")
            .into_inner()
            .credential
    }

    pub async fn sign_in(&self, credential: &str) -> Result<pb::SignInToTenantResponse, Status> {
        self.broker()
            .sign_in_to_tenant(bearer(
                pb::SignInToTenantRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: self.tenant.tenant_id.clone(),
                    credential: credential.into(),
                    reason: "checking the deal pipeline settings".into(),
                },
                &self.suite.agent_token(&self.agent).await,
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// On-request mode, a read-only request approved, credential issued, signed in.
    pub async fn live_session(&self, scope: pb::Scope) -> (pb::Grant, pb::SignInToTenantResponse) {
        self.set_mode(pb::SupportAccessMode::OnRequest).await;
        let r = self.request("T-100", scope).await;
        let g = self.approve(&r.access_request_id).await;
        let c = self.credential(&g.grant_id).await;
        let s = self.sign_in(&c).await.expect("sign in");
        (g, s)
    }

    pub async fn backend_token(&self) -> String {
        self.suite
            .create_service_account("crm-backend", &["broker.check_access"])
            .await
            .1
    }

    pub async fn check(
        &self,
        client: &mut BrokerServiceClient<Channel>,
        backend: &str,
        session_token: &str,
        entity: &str,
        action: &str,
    ) -> pb::CheckAccessResponse {
        client
            .check_access(bearer(
                pb::CheckAccessRequest {
                    session_token: session_token.into(),
                    tenant_id: self.tenant.tenant_id.clone(),
                    entity: entity.into(),
                    action: action.into(),
                    record: false,
                },
                backend,
            ))
            .await
            .expect("check access")
            .into_inner()
    }
}

pub fn read_only() -> pb::Scope {
    pb::Scope {
        read_only: true,
        ..Default::default()
    }
}

pub fn rights(r: &[&str]) -> pb::Scope {
    pb::Scope {
        rights: r.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Asserts a status's code and that its message contains every word.
pub fn assert_status(s: &Status, code: tonic::Code, words: &[&str]) {
    assert_eq!(s.code(), code, "unexpected status: {s:?}");
    for w in words {
        assert!(
            s.message().contains(w),
            "message {:?} lacks {w:?}",
            s.message()
        );
    }
}
