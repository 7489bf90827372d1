//! `keyholder connectors …` and `keyholder webhooks …`: the operator's side
//! of the helpdesk integration (docs/helpdesk.md) — connectors that take a
//! helpdesk's signed webhooks, and subscriptions that receive Keyholder's
//! events as Standard Webhooks.

use super::MAX_ROWS;
use crate::connect::{Session, refused, request_id};
use crate::output::{Record, Table, enum_name, time};
use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use keyholder_proto::broker::v1 as pb;

/// Helpdesk connectors.
#[derive(Debug, Subcommand)]
pub enum ConnectorsCommand {
    /// Every connector.
    List,
    /// Register a helpdesk; prints its webhook path (and a generated secret
    /// once, for `standard` without --secret-env).
    Create {
        /// zendesk, jira or standard (Standard Webhooks).
        #[arg(long, value_enum)]
        kind: Kind,
        /// Your label, e.g. "Zendesk EU".
        #[arg(long)]
        name: String,
        /// The environment variable holding the helpdesk's signing secret
        /// (never given on the command line).
        #[arg(long)]
        secret_env: Option<String>,
        /// Payload field naming the customer's Keyholder tenant id.
        #[arg(long)]
        tenant_field: String,
        /// Payload field with the ticket reference.
        #[arg(long, default_value = "")]
        ticket_field: String,
        /// Payload field with the ticket's status.
        #[arg(long, default_value = "")]
        status_field: String,
        /// Payload field with the assignee's e-mail.
        #[arg(long, default_value = "")]
        agent_email_field: String,
        /// Payload field with the ticket's subject.
        #[arg(long, default_value = "")]
        subject_field: String,
        /// Payload field with the ticket's tags.
        #[arg(long, default_value = "")]
        tags_field: String,
        /// A tag that makes a ticket open an access request for its assignee.
        #[arg(long, default_value = "")]
        request_tag: String,
    },
    /// Remove a connector: its webhooks are refused from then on.
    Delete {
        /// The connector's id.
        connector_id: String,
    },
}

/// Helpdesk kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// Zendesk (X-Zendesk-Webhook-Signature).
    Zendesk,
    /// Jira Cloud / Service Management (X-Hub-Signature).
    Jira,
    /// Any helpdesk signing Standard Webhooks.
    Standard,
}

/// Outbound webhook subscriptions.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Every subscription.
    List,
    /// Subscribe a URL to events; prints its signing secret once.
    Create {
        /// Where to POST (http or https).
        #[arg(long)]
        url: String,
        /// Event types (repeatable), e.g. access_request.created; all when omitted.
        #[arg(long = "event")]
        events: Vec<String>,
    },
    /// Stop delivering to a subscription.
    Delete {
        /// The subscription's id.
        subscription_id: String,
    },
    /// A subscription's deliveries, newest first.
    Deliveries {
        /// The subscription's id.
        subscription_id: String,
        /// pending, delivered or failed.
        #[arg(long, value_enum)]
        state: Option<DeliveryState>,
    },
}

/// Delivery states.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeliveryState {
    /// Not delivered yet (retrying).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on.
    Failed,
}

fn connector_row(c: pb::HelpdeskConnector) -> Vec<String> {
    let m = c.mapping.clone().unwrap_or_default();
    vec![
        c.connector_id.clone(),
        enum_name(c.kind().as_str_name(), "HELPDESK_KIND_"),
        c.display_name.clone(),
        format!("/webhooks/{}", c.connector_id),
        m.tenant_field,
        c.request_tag,
        time(c.create_time.as_ref()),
    ]
}

const CONNECTOR_COLUMNS: &[&str] = &[
    "connector_id",
    "kind",
    "name",
    "webhook_path",
    "tenant_field",
    "request_tag",
    "created",
];

pub async fn connectors(
    s: &mut Session,
    command: ConnectorsCommand,
    json: bool,
) -> anyhow::Result<()> {
    let mut t = Table::new(CONNECTOR_COLUMNS);
    match command {
        ConnectorsCommand::List => {
            let resp = s
                .broker
                .list_helpdesk_connectors(s.call(pb::ListHelpdeskConnectorsRequest {}))
                .await
                .map_err(|e| refused("listing connectors", &e))?
                .into_inner();
            for c in resp.connectors {
                t.row(connector_row(c));
            }
        }
        ConnectorsCommand::Create {
            kind,
            name,
            secret_env,
            tenant_field,
            ticket_field,
            status_field,
            agent_email_field,
            subject_field,
            tags_field,
            request_tag,
        } => {
            let signing_secret = match secret_env {
                Some(var) => std::env::var(&var)
                    .with_context(|| format!("{var} is not set to the signing secret"))?,
                None => String::new(),
            };
            let kind = match kind {
                Kind::Zendesk => pb::HelpdeskKind::Zendesk,
                Kind::Jira => pb::HelpdeskKind::Jira,
                Kind::Standard => pb::HelpdeskKind::Standard,
            };
            let resp = s
                .broker
                .create_helpdesk_connector(s.call(pb::CreateHelpdeskConnectorRequest {
                    request_id: request_id(),
                    kind: kind as i32,
                    display_name: name,
                    signing_secret,
                    mapping: Some(pb::HelpdeskFieldMapping {
                        tenant_field,
                        ticket_field,
                        status_field,
                        agent_email_field,
                        subject_field,
                        tags_field,
                    }),
                    request_tag,
                }))
                .await
                .map_err(|e| refused("creating the connector", &e))?
                .into_inner();
            let c = resp
                .connector
                .context("broker answered without the connector")?;
            let mut r = Record::from_row(CONNECTOR_COLUMNS, connector_row(c));
            if !resp.generated_signing_secret.is_empty() {
                // Shown once: give it to the helpdesk now.
                r = r.field("signing_secret", resp.generated_signing_secret);
            }
            r.print(json);
            return Ok(());
        }
        ConnectorsCommand::Delete { connector_id } => {
            s.broker
                .delete_helpdesk_connector(s.call(pb::DeleteHelpdeskConnectorRequest {
                    connector_id: connector_id.clone(),
                }))
                .await
                .map_err(|e| refused("deleting the connector", &e))?;
            Record::new()
                .field("connector_id", connector_id)
                .field("deleted", "true")
                .print(json);
            return Ok(());
        }
    }
    t.print(json);
    Ok(())
}

fn subscription_row(x: pb::WebhookSubscription) -> Vec<String> {
    vec![
        x.subscription_id,
        x.url,
        if x.event_types.is_empty() {
            "all".into()
        } else {
            x.event_types.join(",")
        },
        time(x.create_time.as_ref()),
    ]
}

const SUBSCRIPTION_COLUMNS: &[&str] = &["subscription_id", "url", "events", "created"];

pub async fn webhooks(s: &mut Session, command: WebhooksCommand, json: bool) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::List => {
            let mut t = Table::new(SUBSCRIPTION_COLUMNS);
            let resp = s
                .broker
                .list_webhook_subscriptions(s.call(pb::ListWebhookSubscriptionsRequest {}))
                .await
                .map_err(|e| refused("listing subscriptions", &e))?
                .into_inner();
            for x in resp.subscriptions {
                t.row(subscription_row(x));
            }
            t.print(json);
        }
        WebhooksCommand::Create { url, events } => {
            let resp = s
                .broker
                .create_webhook_subscription(s.call(pb::CreateWebhookSubscriptionRequest {
                    request_id: request_id(),
                    url,
                    event_types: events,
                }))
                .await
                .map_err(|e| refused("creating the subscription", &e))?
                .into_inner();
            let x = resp
                .subscription
                .context("broker answered without the subscription")?;
            Record::from_row(SUBSCRIPTION_COLUMNS, subscription_row(x))
                // Shown once: the subscriber verifies signatures with it.
                .field("signing_secret", resp.signing_secret)
                .print(json);
        }
        WebhooksCommand::Delete { subscription_id } => {
            s.broker
                .delete_webhook_subscription(s.call(pb::DeleteWebhookSubscriptionRequest {
                    subscription_id: subscription_id.clone(),
                }))
                .await
                .map_err(|e| refused("deleting the subscription", &e))?;
            Record::new()
                .field("subscription_id", subscription_id)
                .field("deleted", "true")
                .print(json);
        }
        WebhooksCommand::Deliveries {
            subscription_id,
            state,
        } => {
            let state = state.map_or(pb::WebhookDeliveryState::Unspecified, |st| match st {
                DeliveryState::Pending => pb::WebhookDeliveryState::Pending,
                DeliveryState::Delivered => pb::WebhookDeliveryState::Delivered,
                DeliveryState::Failed => pb::WebhookDeliveryState::Failed,
            });
            let mut t = Table::new(&[
                "delivery_id",
                "event",
                "state",
                "attempts",
                "created",
                "delivered",
                "last_error",
            ]);
            let mut page_token = String::new();
            loop {
                let resp = s
                    .broker
                    .list_webhook_deliveries(s.call(pb::ListWebhookDeliveriesRequest {
                        subscription_id: subscription_id.clone(),
                        state: state as i32,
                        page_size: 100,
                        page_token,
                    }))
                    .await
                    .map_err(|e| refused("listing deliveries", &e))?
                    .into_inner();
                for d in resp.deliveries {
                    t.row(vec![
                        d.delivery_id.clone(),
                        d.event_type.clone(),
                        enum_name(d.state().as_str_name(), "WEBHOOK_DELIVERY_STATE_"),
                        d.attempts.to_string(),
                        time(d.create_time.as_ref()),
                        time(d.deliver_time.as_ref()),
                        d.last_error,
                    ]);
                }
                page_token = resp.next_page_token;
                if page_token.is_empty() || t.len() >= MAX_ROWS {
                    break;
                }
            }
            t.print(json);
        }
    }
    Ok(())
}
