//! `keyholder access …`, `keyholder requests …`, `keyholder grants …`: the
//! customer's side of support access, as their admin (`--as`).

use super::MAX_ROWS;
use crate::connect::{Session, refused, request_id};
use crate::output::{Record, Table, duration, enum_name, time};
use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use keyholder_proto::broker::v1 as pb;

/// A tenant's support-access mode and limits.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// The tenant's current settings.
    Show {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
    },
    /// Change the mode or limits (what is not given stays).
    Set {
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// closed, on-request or standing.
        #[arg(long, value_enum)]
        mode: Option<Mode>,
        /// How long a request waits for a decision, e.g. 30m.
        #[arg(long, value_parser = humantime::parse_duration)]
        request_ttl: Option<std::time::Duration>,
        /// A grant's length when the approver does not choose one, e.g. 4h.
        #[arg(long, value_parser = humantime::parse_duration)]
        default_grant: Option<std::time::Duration>,
        /// The longest grant an admin may give, e.g. 24h.
        #[arg(long, value_parser = humantime::parse_duration)]
        max_grant: Option<std::time::Duration>,
    },
}

/// Support-access modes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    /// Nobody from support gets in.
    Closed,
    /// Each entry needs an admin's approval.
    OnRequest,
    /// Support may enter within the standing scope.
    Standing,
}

/// Access requests.
#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// Requests of a tenant, newest first.
    List {
        /// The tenant's id.
        #[arg(long, default_value = "")]
        tenant: String,
        /// Only requests in this state.
        #[arg(long, value_enum)]
        state: Option<RequestState>,
        /// Only this agent's.
        #[arg(long, default_value = "")]
        agent: String,
        /// Only this ticket's.
        #[arg(long, default_value = "")]
        ticket: String,
    },
    /// Approve a pending request: the agent gets a grant.
    Approve {
        /// The request's id.
        access_request_id: String,
        /// How long the grant lasts (the tenant's default when omitted), e.g. 2h.
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        /// A note for the record.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Deny a pending request.
    Deny {
        /// The request's id.
        access_request_id: String,
        /// Why, for the record.
        #[arg(long, default_value = "")]
        note: String,
    },
}

/// Request states.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RequestState {
    /// Waiting for a decision.
    Pending,
    /// Approved.
    Approved,
    /// Denied.
    Denied,
    /// Not decided in time.
    Expired,
    /// Withdrawn, or its ticket closed.
    Cancelled,
}

/// Grants.
#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// Grants of a tenant, newest first.
    List {
        /// The tenant's id.
        #[arg(long, default_value = "")]
        tenant: String,
        /// Only grants in this state.
        #[arg(long, value_enum)]
        state: Option<GrantState>,
        /// Only this agent's.
        #[arg(long, default_value = "")]
        agent: String,
    },
    /// Move a grant's end later.
    Extend {
        /// The grant's id.
        grant_id: String,
        /// How much longer than its current end, e.g. 1h.
        #[arg(long, value_parser = humantime::parse_duration)]
        by: std::time::Duration,
    },
    /// End a grant now: its sessions end at every service at once.
    Revoke {
        /// The grant's id.
        grant_id: String,
        /// Why, for the record.
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// Grant states.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GrantState {
    /// In force.
    Active,
    /// Ran out.
    Expired,
    /// Revoked.
    Revoked,
}

fn proto_duration(d: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: 0,
    }
}

fn settings_record(x: pb::SupportAccessSettings) -> Record {
    Record::new()
        .field("tenant_id", x.tenant_id.clone())
        .field(
            "mode",
            enum_name(x.mode().as_str_name(), "SUPPORT_ACCESS_MODE_"),
        )
        .field("request_ttl", duration(x.request_ttl.as_ref()))
        .field("default_grant", duration(x.default_grant_duration.as_ref()))
        .field("max_grant", duration(x.max_grant_duration.as_ref()))
        .field("updated_by", x.updated_by)
        .field("updated", time(x.update_time.as_ref()))
}

pub async fn access(s: &mut Session, command: AccessCommand, json: bool) -> anyhow::Result<()> {
    let settings = match command {
        AccessCommand::Show { tenant } => {
            s.broker
                .get_support_access_settings(
                    s.call(pb::GetSupportAccessSettingsRequest { tenant_id: tenant }),
                )
                .await
                .map_err(|e| refused("reading support-access settings", &e))?
                .into_inner()
                .settings
        }
        AccessCommand::Set {
            tenant,
            mode,
            request_ttl,
            default_grant,
            max_grant,
        } => {
            let mode = mode.map(|m| match m {
                Mode::Closed => pb::SupportAccessMode::Closed,
                Mode::OnRequest => pb::SupportAccessMode::OnRequest,
                Mode::Standing => pb::SupportAccessMode::Standing,
            } as i32);
            s.broker
                .update_support_access_settings(s.call(pb::UpdateSupportAccessSettingsRequest {
                    request_id: request_id(),
                    tenant_id: tenant,
                    mode,
                    request_ttl: request_ttl.map(proto_duration),
                    default_grant_duration: default_grant.map(proto_duration),
                    max_grant_duration: max_grant.map(proto_duration),
                    standing_scope: None,
                }))
                .await
                .map_err(|e| refused("changing support-access settings", &e))?
                .into_inner()
                .settings
        }
    };
    settings_record(settings.context("broker answered without settings")?).print(json);
    Ok(())
}

fn request_row(r: pb::AccessRequest) -> Vec<String> {
    vec![
        r.access_request_id.clone(),
        r.tenant_id.clone(),
        r.agent_id.clone(),
        r.ticket_ref.clone(),
        enum_name(r.state().as_str_name(), "ACCESS_REQUEST_STATE_"),
        duration(r.duration.as_ref()),
        time(r.create_time.as_ref()),
        r.decided_by.clone(),
        r.grant_id.clone(),
        r.reason,
    ]
}

const REQUEST_COLUMNS: &[&str] = &[
    "access_request_id",
    "tenant_id",
    "agent_id",
    "ticket",
    "state",
    "duration",
    "created",
    "decided_by",
    "grant_id",
    "reason",
];

pub async fn requests(s: &mut Session, command: RequestsCommand, json: bool) -> anyhow::Result<()> {
    let mut t = Table::new(REQUEST_COLUMNS);
    match command {
        RequestsCommand::List {
            tenant,
            state,
            agent,
            ticket,
        } => {
            let state = state.map_or(pb::AccessRequestState::Unspecified, |st| match st {
                RequestState::Pending => pb::AccessRequestState::Pending,
                RequestState::Approved => pb::AccessRequestState::Approved,
                RequestState::Denied => pb::AccessRequestState::Denied,
                RequestState::Expired => pb::AccessRequestState::Expired,
                RequestState::Cancelled => pb::AccessRequestState::Cancelled,
            });
            let mut page_token = String::new();
            loop {
                let resp = s
                    .broker
                    .list_access_requests(s.call(pb::ListAccessRequestsRequest {
                        tenant_id: tenant.clone(),
                        state: state as i32,
                        agent_id: agent.clone(),
                        ticket_ref: ticket.clone(),
                        page_size: 100,
                        page_token,
                    }))
                    .await
                    .map_err(|e| refused("listing access requests", &e))?
                    .into_inner();
                for r in resp.access_requests {
                    t.row(request_row(r));
                }
                page_token = resp.next_page_token;
                if page_token.is_empty() || t.len() >= MAX_ROWS {
                    break;
                }
            }
        }
        RequestsCommand::Approve {
            access_request_id,
            duration,
            note,
        } => {
            let resp = s
                .broker
                .approve_access_request(s.call(pb::ApproveAccessRequestRequest {
                    request_id: request_id(),
                    access_request_id,
                    duration: duration.map(proto_duration),
                    scope: None,
                    note,
                }))
                .await
                .map_err(|e| refused("approving the request", &e))?
                .into_inner();
            if let Some(g) = resp.grant {
                grant_record(g).print(json);
                return Ok(());
            }
            t.row(request_row(resp.access_request.unwrap_or_default()));
        }
        RequestsCommand::Deny {
            access_request_id,
            note,
        } => {
            let resp = s
                .broker
                .deny_access_request(s.call(pb::DenyAccessRequestRequest {
                    request_id: request_id(),
                    access_request_id,
                    note,
                }))
                .await
                .map_err(|e| refused("denying the request", &e))?
                .into_inner();
            t.row(request_row(resp.access_request.unwrap_or_default()));
        }
    }
    t.print(json);
    Ok(())
}

fn grant_row(g: pb::Grant) -> Vec<String> {
    vec![
        g.grant_id.clone(),
        g.tenant_id.clone(),
        g.agent_id.clone(),
        g.ticket_ref.clone(),
        enum_name(g.state().as_str_name(), "GRANT_STATE_"),
        g.granted_by.clone(),
        time(g.create_time.as_ref()),
        time(g.expire_time.as_ref()),
        time(g.revoke_time.as_ref()),
    ]
}

const GRANT_COLUMNS: &[&str] = &[
    "grant_id",
    "tenant_id",
    "agent_id",
    "ticket",
    "state",
    "granted_by",
    "created",
    "expires",
    "revoked",
];

/// One grant as a record.
pub fn grant_record(g: pb::Grant) -> Record {
    Record::from_row(GRANT_COLUMNS, grant_row(g))
}

pub async fn grants(s: &mut Session, command: GrantsCommand, json: bool) -> anyhow::Result<()> {
    let grant = match command {
        GrantsCommand::List {
            tenant,
            state,
            agent,
        } => {
            let state = state.map_or(pb::GrantState::Unspecified, |st| match st {
                GrantState::Active => pb::GrantState::Active,
                GrantState::Expired => pb::GrantState::Expired,
                GrantState::Revoked => pb::GrantState::Revoked,
            });
            let mut t = Table::new(GRANT_COLUMNS);
            let mut page_token = String::new();
            loop {
                let resp = s
                    .broker
                    .list_grants(s.call(pb::ListGrantsRequest {
                        tenant_id: tenant.clone(),
                        state: state as i32,
                        agent_id: agent.clone(),
                        ticket_ref: String::new(),
                        page_size: 100,
                        page_token,
                    }))
                    .await
                    .map_err(|e| refused("listing grants", &e))?
                    .into_inner();
                for g in resp.grants {
                    t.row(grant_row(g));
                }
                page_token = resp.next_page_token;
                if page_token.is_empty() || t.len() >= MAX_ROWS {
                    break;
                }
            }
            t.print(json);
            return Ok(());
        }
        GrantsCommand::Extend { grant_id, by } => {
            let current = s
                .broker
                .get_grant(s.call(pb::GetGrantRequest {
                    grant_id: grant_id.clone(),
                }))
                .await
                .map_err(|e| refused("reading the grant", &e))?
                .into_inner()
                .grant
                .context("broker answered without the grant")?;
            let mut end = current.expire_time.unwrap_or_default();
            end.seconds = end
                .seconds
                .saturating_add(i64::try_from(by.as_secs()).unwrap_or(i64::MAX));
            s.broker
                .extend_grant(s.call(pb::ExtendGrantRequest {
                    request_id: request_id(),
                    grant_id,
                    expire_time: Some(end),
                }))
                .await
                .map_err(|e| refused("extending the grant", &e))?
                .into_inner()
                .grant
        }
        GrantsCommand::Revoke { grant_id, reason } => {
            s.broker
                .revoke_grant(s.call(pb::RevokeGrantRequest {
                    request_id: request_id(),
                    grant_id,
                    reason,
                }))
                .await
                .map_err(|e| refused("revoking the grant", &e))?
                .into_inner()
                .grant
        }
    };
    grant_record(grant.context("broker answered without the grant")?).print(json);
    Ok(())
}
