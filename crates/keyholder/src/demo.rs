//! `keyholder demo`: the whole support-access lifecycle against a running
//! suite, through the public API only, each step printed as it happens.
//! It makes its own demo tenant, agent and service accounts (with random
//! names), so it can be run again and again on the same installation.

use crate::connect::{Session, SignInArgs, refused, request_id, sign_in};
use anyhow::Context;
use keyholder_kit::client::authorized;
use keyholder_kit::config::Config;
use keyholder_proto::audit::v1 as audit;
use keyholder_proto::broker::v1 as broker;
use keyholder_proto::identity::v1 as identity;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long to wait for something that travels through an outbox (an audit
/// event, an e-mail).
const PATIENCE: Duration = Duration::from_secs(20);

fn step(n: u32, text: &str) {
    println!("{n:>2}. {text}");
}

fn detail(text: impl std::fmt::Display) {
    println!("      {text}");
}

/// Runs the demo; an error names the step that failed.
pub async fn run(config: &Config, keep_access: bool) -> anyhow::Result<()> {
    let mut op = Session::open(config, &SignInArgs::default())
        .await
        .context("is the suite running? start it with `keyholder up`")?;
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    println!("Keyholder demo {tag}: a support agent enters a customer's account, and leaves it.\n");

    step(
        1,
        "The vendor's operator creates a customer tenant and its chief admin.",
    );
    let chief_email = format!("chief-{tag}@customer.example");
    let chief_password = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let tenant = op
        .identity
        .create_tenant(op.call(identity::CreateTenantRequest {
            request_id: request_id(),
            name: format!("Demo customer {tag}"),
            seat_limit: 5,
            locale: identity::Locale::En as i32,
            chief_admin: Some(identity::ChiefAdminSpec {
                email: chief_email.clone(),
                display_name: "Chief Admin".into(),
                password: chief_password.clone(),
            }),
        }))
        .await
        .map_err(|e| refused("creating the tenant", &e))?
        .into_inner()
        .tenant
        .context("no tenant in the answer")?;
    let tenant_id = tenant.tenant_id.clone();
    detail(format!("tenant {tenant_id}, chief admin {chief_email}"));

    step(
        2,
        "The operator adds a support agent (password + TOTP) and two service accounts: the helpdesk and the product's backend.",
    );
    let agent_email = format!("agent-{tag}@vendor.example");
    let agent_password = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let agent = op
        .identity
        .create_support_agent(op.call(identity::CreateSupportAgentRequest {
            request_id: request_id(),
            email: agent_email.clone(),
            display_name: "Ivan Petrov".into(),
            password: agent_password.clone(),
        }))
        .await
        .map_err(|e| refused("creating the agent", &e))?
        .into_inner();
    let agent_id = agent
        .user
        .as_ref()
        .map(|u| u.user_id.clone())
        .unwrap_or_default();
    detail(format!("agent {agent_id} <{agent_email}>"));
    let helpdesk =
        service_token(&mut op, &format!("demo-helpdesk-{tag}"), "broker.helpdesk").await?;
    let backend = service_token(
        &mut op,
        &format!("demo-backend-{tag}"),
        "broker.check_access",
    )
    .await?;

    step(
        3,
        "The chief admin signs in and opens support access on request.",
    );
    let chief = sign_in(
        &mut op.identity,
        tenant_id.clone(),
        chief_email.clone(),
        chief_password.clone(),
        String::new(),
    )
    .await?;
    op.broker
        .update_support_access_settings(authorized(
            broker::UpdateSupportAccessSettingsRequest {
                request_id: request_id(),
                tenant_id: tenant_id.clone(),
                mode: Some(broker::SupportAccessMode::OnRequest as i32),
                ..Default::default()
            },
            &chief,
        ))
        .await
        .map_err(|e| refused("opening support access", &e))?;
    detail("mode: on-request");

    step(
        4,
        "The helpdesk files an access request for the agent, for ticket DEMO-1.",
    );
    let request = op
        .broker
        .create_access_request(authorized(
            broker::CreateAccessRequestRequest {
                request_id: request_id(),
                tenant_id: tenant_id.clone(),
                agent_id: agent_id.clone(),
                ticket_ref: "DEMO-1".into(),
                reason: "The customer cannot export their invoices".into(),
                scope: Some(broker::Scope {
                    read_only: true,
                    ..Default::default()
                }),
                duration: None,
            },
            &helpdesk,
        ))
        .await
        .map_err(|e| refused("filing the access request", &e))?
        .into_inner()
        .access_request
        .context("no request in the answer")?;
    detail(format!("request {} (pending)", request.access_request_id));

    step(5, "The chief admin approves it for one hour.");
    let grant = op
        .broker
        .approve_access_request(authorized(
            broker::ApproveAccessRequestRequest {
                request_id: request_id(),
                access_request_id: request.access_request_id.clone(),
                duration: Some(prost_types::Duration {
                    seconds: 3600,
                    nanos: 0,
                }),
                scope: None,
                note: "Go ahead, read only".into(),
            },
            &chief,
        ))
        .await
        .map_err(|e| refused("approving the request", &e))?
        .into_inner()
        .grant
        .context("no grant in the answer")?;
    detail(format!(
        "grant {} until {}",
        grant.grant_id,
        crate::output::time(grant.expire_time.as_ref())
    ));

    step(
        6,
        "The agent signs in (password + TOTP code), takes the grant's one-time credential and enters the tenant.",
    );
    // What the agent's authenticator app shows now.
    let code = keyholder_identity::domain::totp::code_at(&agent.totp_secret, chrono::Utc::now())
        .map_err(|e| anyhow::anyhow!("the agent's TOTP secret is unusable: {e}"))?;
    let agent_token = sign_in(
        &mut op.identity,
        String::new(),
        agent_email,
        agent_password,
        code,
    )
    .await?;
    let credential = op
        .broker
        .issue_grant_credential(authorized(
            broker::IssueGrantCredentialRequest {
                grant_id: grant.grant_id.clone(),
            },
            &agent_token,
        ))
        .await
        .map_err(|e| refused("issuing the grant credential", &e))?
        .into_inner()
        .credential;
    let session = op
        .broker
        .sign_in_to_tenant(authorized(
            broker::SignInToTenantRequest {
                request_id: request_id(),
                tenant_id: tenant_id.clone(),
                credential,
                reason: "Looking at the invoice export for DEMO-1".into(),
            },
            &agent_token,
        ))
        .await
        .map_err(|e| refused("signing in to the tenant", &e))?
        .into_inner();
    let session_token = session.access_token.clone();
    detail(format!(
        "support session {}",
        session.session.map(|s| s.session_id).unwrap_or_default()
    ));

    step(
        7,
        "The chief admin is e-mailed the moment the agent signs in.",
    );
    match sign_in_mail(config, &chief_email).await {
        Some(path) => detail(format!("mail to {chief_email}: {}", path.display())),
        None if config.audit.smtp_url.is_some() => {
            detail(format!(
                "sent through the configured SMTP server to {chief_email}"
            ));
        }
        None => anyhow::bail!(
            "no sign-in mail to {chief_email} appeared in {} within {}s",
            config.data_dir.join("mail").display(),
            PATIENCE.as_secs()
        ),
    }

    step(
        8,
        "The product's backend asks CheckAccess before showing invoices: allowed.",
    );
    let allowed = check(&mut op, &backend, &session_token, &tenant_id).await?;
    detail(format!("allowed={} ({})", allowed.allowed, allowed.reason));
    if !allowed.allowed {
        anyhow::bail!("CheckAccess refused a granted session: {}", allowed.reason);
    }

    step(9, "The agent's action is recorded.");
    op.broker
        .report_action(authorized(
            broker::ReportActionRequest {
                request_id: request_id(),
                session_token: session_token.clone(),
                entity: "invoice".into(),
                action: "read".into(),
                resource_id: "INV-1001".into(),
                detail: "Opened the invoice export settings".into(),
            },
            &backend,
        ))
        .await
        .map_err(|e| refused("recording the action", &e))?;
    detail("invoice INV-1001 read");

    step(
        10,
        "The chief admin reads the login history: who, when, why, granted by whom.",
    );
    let entry = login_entry(&mut op, &chief, &tenant_id).await?;
    detail(format!(
        "{} signed in at {}; reason: {}; granted by {}",
        entry
            .accessed_by
            .as_ref()
            .map(|a| a.display_name.clone())
            .unwrap_or_default(),
        crate::output::time(entry.sign_in_time.as_ref()),
        entry.reason,
        entry
            .granted_by
            .as_ref()
            .map(|a| a.display_name.clone())
            .unwrap_or_default(),
    ));

    if keep_access {
        println!(
            "{}",
            serde_json::json!({
                "tenant_id": tenant_id,
                "session_token": session_token,
                "backend_token": backend,
                "admin_token": chief,
            })
        );
        return Ok(());
    }

    step(11, "The chief admin revokes the grant.");
    op.broker
        .revoke_grant(authorized(
            broker::RevokeGrantRequest {
                request_id: request_id(),
                grant_id: grant.grant_id.clone(),
                reason: "Done, thanks".into(),
            },
            &chief,
        ))
        .await
        .map_err(|e| refused("revoking the grant", &e))?;
    detail("revoked");

    step(12, "The backend asks CheckAccess again: denied, at once.");
    let denied = check(&mut op, &backend, &session_token, &tenant_id).await?;
    detail(format!("allowed={} ({})", denied.allowed, denied.reason));
    if denied.allowed {
        anyhow::bail!("CheckAccess still allows a revoked grant's session");
    }

    step(
        13,
        "The tenant's audit chain is verified against its signed checkpoints and the witness.",
    );
    let verdict = verify(&mut op, &chief, &tenant_id).await?;
    detail(format!(
        "intact={} events_checked={}",
        verdict.intact, verdict.checked
    ));
    if !verdict.intact {
        anyhow::bail!("the audit chain is not intact: {}", verdict.problem);
    }
    println!("\nDone. Tenant {tenant_id} keeps the record. To look around as its chief admin:");
    // A throwaway demo tenant's password, shown so the newcomer can go on.
    println!(
        "  export KEYHOLDER_AS={chief_email} KEYHOLDER_AS_TENANT={tenant_id} KEYHOLDER_AS_PASSWORD={chief_password}"
    );
    println!("  keyholder history --tenant {tenant_id}");
    println!("  keyholder grants list --tenant {tenant_id}");
    Ok(())
}

async fn service_token(op: &mut Session, name: &str, scope: &str) -> anyhow::Result<String> {
    let resp = op
        .identity
        .create_service_account(op.call(identity::CreateServiceAccountRequest {
            request_id: request_id(),
            name: name.into(),
            scopes: vec![scope.into()],
        }))
        .await
        .map_err(|e| refused("creating a service account", &e))?
        .into_inner();
    let client_id = resp.account.map(|a| a.client_id).unwrap_or_default();
    let token = op
        .identity
        .issue_service_token(identity::IssueServiceTokenRequest {
            client_id: client_id.clone(),
            client_secret: resp.client_secret,
        })
        .await
        .map_err(|e| refused("issuing a service token", &e))?
        .into_inner()
        .access_token;
    detail(format!("service account {client_id} ({scope})"));
    Ok(token)
}

async fn check(
    op: &mut Session,
    backend: &str,
    session_token: &str,
    tenant_id: &str,
) -> anyhow::Result<broker::CheckAccessResponse> {
    Ok(op
        .broker
        .check_access(authorized(
            broker::CheckAccessRequest {
                session_token: session_token.into(),
                tenant_id: tenant_id.into(),
                entity: "invoice".into(),
                action: "read".into(),
                record: true,
            },
            backend,
        ))
        .await
        .map_err(|e| refused("CheckAccess", &e))?
        .into_inner())
}

/// The first successful sign-in in the login history, once audit has it.
async fn login_entry(
    op: &mut Session,
    chief: &str,
    tenant_id: &str,
) -> anyhow::Result<audit::LoginHistoryEntry> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let entries = op
            .audit
            .list_login_history(authorized(
                audit::ListLoginHistoryRequest {
                    tenant_id: tenant_id.into(),
                    ..Default::default()
                },
                chief,
            ))
            .await
            .map_err(|e| refused("reading the login history", &e))?
            .into_inner()
            .entries;
        if let Some(e) = entries.into_iter().find(|e| e.succeeded) {
            return Ok(e);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "the sign-in did not reach the login history within {}s",
                PATIENCE.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Verifies the chain once audit holds the action recorded in step 9.
async fn verify(
    op: &mut Session,
    chief: &str,
    tenant_id: &str,
) -> anyhow::Result<audit::VerifyChainResponse> {
    Ok(op
        .audit
        .verify_chain(authorized(
            audit::VerifyChainRequest {
                tenant_id: tenant_id.into(),
                // The demo tenant is small: re-verify every event.
                full: true,
            },
            chief,
        ))
        .await
        .map_err(|e| refused("verifying the chain", &e))?
        .into_inner())
}

/// The `.eml` file in the suite's mail folder telling `to` of a sign-in.
async fn sign_in_mail(config: &Config, to: &str) -> Option<PathBuf> {
    if config.audit.smtp_url.is_some() {
        return None;
    }
    let folder = config.data_dir.join("mail");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(p) = find_mail(&folder, to) {
            return Some(p);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn find_mail(folder: &Path, to: &str) -> Option<PathBuf> {
    let to = to.to_ascii_lowercase();
    std::fs::read_dir(folder).ok()?.flatten().find_map(|e| {
        let path = e.path();
        let text = std::fs::read_to_string(&path).ok()?;
        let header = |name: &str| {
            text.lines().take_while(|l| !l.is_empty()).any(|l| {
                l.to_ascii_lowercase().starts_with(name) && l.to_ascii_lowercase().contains(&to)
            })
        };
        let is_sign_in = text
            .lines()
            .take_while(|l| !l.is_empty())
            .any(|l| l.starts_with("Subject: Support sign-in"));
        (header("to:") && is_sign_in).then_some(path)
    })
}
