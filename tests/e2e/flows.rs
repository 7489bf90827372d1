//! The cast and the common steps of the user flows in BRIEF.md.

use keyholder_kit::secret::Secret;
use keyholder_proto::audit::v1 as audit;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use keyholder_testkit::smtp::{ReceivedMail, SmtpServer};
use keyholder_testkit::{AgentFixture, Suite, TenantFixture, bearer};
use std::time::Duration;

/// Everyone a support-access story needs, with all three services running.
pub struct World {
    pub suite: Suite,
    pub smtp: SmtpServer,
    pub tenant: TenantFixture,
    pub agent: AgentFixture,
    /// The vendor's helpdesk (scope broker.helpdesk).
    pub helpdesk: String,
    /// A vendor backend (scope broker.check_access).
    pub backend: String,
}

impl World {
    pub async fn start(tenant_name: &str, locale: identity::Locale) -> Self {
        Self::start_with(tenant_name, locale, true).await
    }

    /// With `audit_up` false, broker points at an audit address where nothing
    /// listens yet; start it with `suite.start_audit_at(world.audit_addr())`.
    pub async fn start_with(tenant_name: &str, locale: identity::Locale, audit_up: bool) -> Self {
        Self::start_in(Suite::new().await, tenant_name, locale, audit_up).await
    }

    /// The same, in a suite the caller set up (its `[tls]`, say).
    pub async fn start_in(
        mut suite: Suite,
        tenant_name: &str,
        locale: identity::Locale,
        audit_up: bool,
    ) -> Self {
        let smtp = SmtpServer::start().await;
        suite.config.audit.smtp_url = Some(Secret::new(smtp.url()));
        suite.start_identity().await;
        if audit_up {
            suite.start_audit().await;
        } else {
            suite.audit_down_at();
        }
        suite.start_broker().await;
        let tenant = suite
            .create_tenant_with_locale(tenant_name, 5, locale)
            .await;
        let agent = suite.create_agent("Ivan Petrov").await;
        let (_, helpdesk) = suite
            .create_service_account("helpdesk", &["broker.helpdesk"])
            .await;
        let (_, backend) = suite
            .create_service_account("crm-backend", &["broker.check_access"])
            .await;
        Self {
            suite,
            smtp,
            tenant,
            agent,
            helpdesk,
            backend,
        }
    }

    /// Where audit is (or will be) listening.
    pub fn audit_addr(&self) -> std::net::SocketAddr {
        keyholder_testkit::addr_in(&self.suite.config.audit.url)
    }

    pub async fn set_mode(&self, mode: broker::SupportAccessMode) {
        self.suite
            .broker()
            .update_support_access_settings(bearer(
                broker::UpdateSupportAccessSettingsRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: self.tenant.tenant_id.clone(),
                    mode: Some(mode as i32),
                    ..Default::default()
                },
                &self.tenant.admin_token,
            ))
            .await
            .expect("admin changes the support-access mode");
    }

    /// The helpdesk asks, on the agent's behalf, for read-only access.
    pub async fn helpdesk_requests(&self, ticket: &str, reason: &str) -> broker::AccessRequest {
        self.suite
            .broker()
            .create_access_request(bearer(
                broker::CreateAccessRequestRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: self.tenant.tenant_id.clone(),
                    agent_id: self.agent.agent_id.clone(),
                    ticket_ref: ticket.to_string(),
                    reason: reason.to_string(),
                    scope: Some(broker::Scope {
                        read_only: true,
                        ..Default::default()
                    }),
                    duration: None,
                },
                &self.helpdesk,
            ))
            .await
            .expect("helpdesk files the request")
            .into_inner()
            .access_request
            .expect("request")
    }

    pub async fn approve(&self, request_id: &str, days: i64) -> broker::Grant {
        self.suite
            .broker()
            .approve_access_request(bearer(
                broker::ApproveAccessRequestRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    access_request_id: request_id.to_string(),
                    duration: Some(prost_types::Duration {
                        seconds: days * 86_400,
                        nanos: 0,
                    }),
                    scope: None,
                    note: "go ahead".into(),
                },
                &self.tenant.admin_token,
            ))
            .await
            .expect("admin approves")
            .into_inner()
            .grant
            .expect("grant")
    }

    pub async fn credential(&self, grant_id: &str) -> String {
        self.suite
            .broker()
            .issue_grant_credential(bearer(
                broker::IssueGrantCredentialRequest {
                    grant_id: grant_id.to_string(),
                },
                &self.agent.token,
            ))
            .await
            .expect("agent gets the one-time credential")
            .into_inner()
            .credential
    }

    pub async fn sign_in(
        &self,
        credential: &str,
        reason: &str,
    ) -> Result<broker::SignInToTenantResponse, tonic::Status> {
        self.suite
            .broker()
            .sign_in_to_tenant(bearer(
                broker::SignInToTenantRequest {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: self.tenant.tenant_id.clone(),
                    credential: credential.to_string(),
                    reason: reason.to_string(),
                },
                &self.agent.token,
            ))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn check(
        &self,
        session_token: &str,
        entity: &str,
        action: &str,
    ) -> broker::CheckAccessResponse {
        self.suite
            .broker()
            .check_access(bearer(
                broker::CheckAccessRequest {
                    session_token: session_token.to_string(),
                    tenant_id: self.tenant.tenant_id.clone(),
                    entity: entity.into(),
                    action: action.into(),
                    record: true,
                },
                &self.backend,
            ))
            .await
            .expect("CheckAccess answers")
            .into_inner()
    }

    pub async fn login_history(&self) -> Vec<audit::LoginHistoryEntry> {
        self.suite
            .audit()
            .list_login_history(bearer(
                audit::ListLoginHistoryRequest {
                    tenant_id: self.tenant.tenant_id.clone(),
                    ..Default::default()
                },
                &self.tenant.admin_token,
            ))
            .await
            .expect("admin reads the login history")
            .into_inner()
            .entries
    }

    /// Polls the login history until `done` holds (events travel through the
    /// broker's outbox), and returns it.
    pub async fn login_history_until(
        &self,
        done: impl Fn(&[audit::LoginHistoryEntry]) -> bool,
    ) -> Vec<audit::LoginHistoryEntry> {
        let mut last = vec![];
        for _ in 0..150 {
            last = self.login_history().await;
            if done(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("login history never reached the expected state: {last:#?}");
    }

    /// Waits for a message to `to` whose subject or text mentions `needle`.
    pub async fn mail_to(&self, to: &str, needle: &str) -> ReceivedMail {
        for _ in 0..150 {
            if let Some(m) = self.smtp.messages().into_iter().find(|m| {
                m.to.iter().any(|r| r.eq_ignore_ascii_case(to))
                    && (m.subject().contains(needle)
                        || m.body("text/plain").unwrap_or_default().contains(needle))
            }) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got: Vec<(Vec<String>, String)> = self
            .smtp
            .messages()
            .iter()
            .map(|m| (m.to.clone(), m.subject()))
            .collect();
        panic!("no mail to {to} mentioning {needle:?}; got {got:#?}");
    }
}
