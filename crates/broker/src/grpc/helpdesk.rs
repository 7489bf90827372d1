//! CreateHelpdeskConnector, ListHelpdeskConnectors, DeleteHelpdeskConnector,
//! CreateWebhookSubscription, ListWebhookSubscriptions,
//! DeleteWebhookSubscription, ListWebhookDeliveries: the operator's side of
//! the helpdesk connectors (docs/helpdesk.md).

use super::caller;
use super::convert::ts;
use crate::Core;
use crate::domain::input;
use crate::domain::webhook::{Delivery, DeliveryState, Subscription};
use crate::error::Error;
use crate::helpdesk::payload::Kind;
use crate::helpdesk::signature::{WHSEC, standard_key};
use crate::store::helpdesk::{CONNECTOR_SECRET, Connector};
use crate::store::webhooks;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use keyholder_kit::paging::Page;
use keyholder_proto::broker::v1::*;
use tonic::Request;

/// Longest signing secret accepted.
const MAX_SECRET_LEN: usize = 1000;
/// Shortest signing secret accepted (Zendesk's and Jira's are far longer).
const MIN_SECRET_LEN: usize = 16;

/// Like [`super::idempotent`], but what is kept for a retry has its secret
/// taken out by `strip`: a secret is shown once and never stored in the clear.
/// A retry gets the same connector or subscription, without the secret.
async fn idempotent_secret<R, F>(
    core: &Core,
    caller: &str,
    rpc: &str,
    request_id: &str,
    strip: fn(&mut R),
    f: F,
) -> Result<R, Error>
where
    R: prost::Message + Default + Clone,
    F: std::future::Future<Output = Result<R, Error>>,
{
    let key = keyholder_kit::idempotency::Key {
        caller,
        rpc,
        request_id,
    };
    let kept = |r: &R| {
        let mut kept = r.clone();
        strip(&mut kept);
        kept.encode_to_vec()
    };
    core.store
        .request_ledger(core.clock.clone())
        .run(key, kept, || f)
        .await
}

fn kind_in(raw: i32) -> Result<Kind, Error> {
    match input::enum_value::<HelpdeskKind>("kind", raw)? {
        HelpdeskKind::Zendesk => Ok(Kind::Zendesk),
        HelpdeskKind::Jira => Ok(Kind::Jira),
        HelpdeskKind::Standard => Ok(Kind::Standard),
        HelpdeskKind::Unspecified => Err(Error::InvalidArgument(
            "kind is required: ZENDESK, JIRA or STANDARD".into(),
        )),
    }
}

fn kind_out(k: Kind) -> HelpdeskKind {
    match k {
        Kind::Zendesk => HelpdeskKind::Zendesk,
        Kind::Jira => HelpdeskKind::Jira,
        Kind::Standard => HelpdeskKind::Standard,
    }
}

/// A new `whsec_` secret of 32 random bytes.
fn new_whsec() -> Result<String, Error> {
    use ring::rand::SecureRandom;
    let mut key = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| Error::Internal("no randomness".into()))?;
    Ok(format!("{WHSEC}{}", B64.encode(key)))
}

/// The operator's secret checked, or (STANDARD, empty) a new one that is
/// also returned.
fn secret_in(kind: Kind, raw: &str) -> Result<(String, String), Error> {
    let s = raw.trim();
    if s.is_empty() && kind == Kind::Standard {
        let made = new_whsec()?;
        return Ok((made.clone(), made));
    }
    if s.chars().count() < MIN_SECRET_LEN || s.chars().count() > MAX_SECRET_LEN {
        return Err(Error::InvalidArgument(format!(
            "signing_secret must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters"
        )));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::InvalidArgument(
            "signing_secret must not contain spaces or control characters".into(),
        ));
    }
    if kind == Kind::Standard && standard_key(s).is_none() {
        return Err(Error::InvalidArgument(
            "a Standard Webhooks signing_secret is whsec_ followed by base64".into(),
        ));
    }
    Ok((s.to_string(), String::new()))
}

pub(crate) fn connector_out(m: &Connector) -> HelpdeskConnector {
    HelpdeskConnector {
        connector_id: m.id.clone(),
        kind: kind_out(m.kind) as i32,
        display_name: m.display_name.clone(),
        mapping: Some(HelpdeskFieldMapping {
            tenant_field: m.tenant_field.clone(),
            ticket_field: m.ticket_field.clone(),
            status_field: m.status_field.clone(),
            agent_email_field: m.agent_email_field.clone(),
            subject_field: m.subject_field.clone(),
            tags_field: m.tags_field.clone(),
        }),
        create_time: ts(m.created_at),
        request_tag: m.request_tag.clone(),
    }
}

pub(super) async fn create_connector(
    core: &Core,
    req: Request<CreateHelpdeskConnectorRequest>,
) -> Result<CreateHelpdeskConnectorResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    p.require_operator()?;
    let r = req.into_inner();
    let kind = kind_in(r.kind)?;
    let display_name = input::required_name("display_name", &r.display_name)?;
    let m = r.mapping.unwrap_or_default();
    let tenant_field = input::optional_path("mapping.tenant_field", &m.tenant_field)?;
    if tenant_field.is_empty() {
        return Err(Error::InvalidArgument(
            "mapping.tenant_field is required: the payload field that holds the customer's tenant id"
                .into(),
        ));
    }
    let [d_ticket, d_status, d_email, d_subject, d_tags] = kind.defaults();
    let or = |v: String, d: &str| if v.is_empty() { d.to_string() } else { v };
    let ticket_field = or(
        input::optional_path("mapping.ticket_field", &m.ticket_field)?,
        d_ticket,
    );
    let status_field = or(
        input::optional_path("mapping.status_field", &m.status_field)?,
        d_status,
    );
    let agent_email_field = or(
        input::optional_path("mapping.agent_email_field", &m.agent_email_field)?,
        d_email,
    );
    let subject_field = or(
        input::optional_path("mapping.subject_field", &m.subject_field)?,
        d_subject,
    );
    let tags_field = or(
        input::optional_path("mapping.tags_field", &m.tags_field)?,
        d_tags,
    );
    let request_tag = input::optional_path("request_tag", &r.request_tag)?;
    let (secret, generated) = secret_in(kind, &r.signing_secret)?;
    let strip: fn(&mut CreateHelpdeskConnectorResponse) = |r| r.generated_signing_secret.clear();
    idempotent_secret(
        core,
        &p.id,
        "CreateHelpdeskConnector",
        &r.request_id,
        strip,
        async {
            let id = uuid::Uuid::now_v7().to_string();
            let sealed = core
                .kek
                .seal_str(CONNECTOR_SECRET, &id, &secret)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let c = Connector {
                id,
                kind,
                display_name,
                secret: sealed,
                tenant_field,
                ticket_field,
                status_field,
                agent_email_field,
                subject_field,
                tags_field,
                request_tag,
                created_by: p.id.clone(),
                created_at: core.now(),
            };
            core.store.add_connector(&c).await?;
            Ok(CreateHelpdeskConnectorResponse {
                connector: Some(connector_out(&c)),
                generated_signing_secret: generated,
            })
        },
    )
    .await
}

pub(super) async fn list_connectors(
    core: &Core,
    req: Request<ListHelpdeskConnectorsRequest>,
) -> Result<ListHelpdeskConnectorsResponse, Error> {
    caller(&req)?.0.require_operator()?;
    Ok(ListHelpdeskConnectorsResponse {
        connectors: core
            .store
            .connectors()
            .await?
            .iter()
            .map(connector_out)
            .collect(),
    })
}

pub(super) async fn delete_connector(
    core: &Core,
    req: Request<DeleteHelpdeskConnectorRequest>,
) -> Result<DeleteHelpdeskConnectorResponse, Error> {
    caller(&req)?.0.require_operator()?;
    let id = input::uuid("connector_id", &req.get_ref().connector_id)?;
    if !core.store.delete_connector(&id).await? {
        return Err(Error::NotFound(format!("connector {id} not found")));
    }
    Ok(DeleteHelpdeskConnectorResponse {})
}

fn subscription_out(s: &Subscription) -> WebhookSubscription {
    WebhookSubscription {
        subscription_id: s.id.clone(),
        url: s.url.clone(),
        event_types: s.event_types.clone(),
        create_time: ts(s.created_at),
    }
}

fn event_types_in(raw: &[String]) -> Result<Vec<String>, Error> {
    let mut out: Vec<&str> = Vec::new();
    for t in raw {
        let t = t.trim();
        let Some((_, known)) = webhooks::TYPES.iter().find(|(_, k)| *k == t) else {
            let known: Vec<&str> = webhooks::TYPES.iter().map(|(_, k)| *k).collect();
            return Err(Error::InvalidArgument(format!(
                "event_types: unknown type {:?}; known: {}",
                t.chars().take(40).collect::<String>(),
                known.join(", ")
            )));
        };
        if !out.contains(known) {
            out.push(known);
        }
    }
    Ok(out.into_iter().map(str::to_string).collect())
}

pub(super) async fn create_subscription(
    core: &Core,
    req: Request<CreateWebhookSubscriptionRequest>,
) -> Result<CreateWebhookSubscriptionResponse, Error> {
    let who = caller(&req)?;
    let p = &who.0;
    p.require_operator()?;
    let r = req.into_inner();
    let url = input::url("url", &r.url)?;
    let event_types = event_types_in(&r.event_types)?;
    let strip: fn(&mut CreateWebhookSubscriptionResponse) = |r| r.signing_secret.clear();
    idempotent_secret(
        core,
        &p.id,
        "CreateWebhookSubscription",
        &r.request_id,
        strip,
        async {
            let id = uuid::Uuid::now_v7().to_string();
            let secret = new_whsec()?;
            let sealed = core
                .kek
                .seal_str(webhooks::SUBSCRIPTION_SECRET, &id, &secret)
                .map_err(|e| Error::Internal(e.to_string()))?;
            let sub = core
                .store
                .add_subscription(id, url, &event_types, sealed, &p.id, core.now())
                .await?;
            Ok(CreateWebhookSubscriptionResponse {
                subscription: Some(subscription_out(&sub)),
                signing_secret: secret,
            })
        },
    )
    .await
}

pub(super) async fn list_subscriptions(
    core: &Core,
    req: Request<ListWebhookSubscriptionsRequest>,
) -> Result<ListWebhookSubscriptionsResponse, Error> {
    caller(&req)?.0.require_operator()?;
    Ok(ListWebhookSubscriptionsResponse {
        subscriptions: core
            .store
            .subscriptions()
            .await?
            .iter()
            .map(subscription_out)
            .collect(),
    })
}

pub(super) async fn delete_subscription(
    core: &Core,
    req: Request<DeleteWebhookSubscriptionRequest>,
) -> Result<DeleteWebhookSubscriptionResponse, Error> {
    caller(&req)?.0.require_operator()?;
    let id = input::uuid("subscription_id", &req.get_ref().subscription_id)?;
    if !core.store.remove_subscription(&id).await? {
        return Err(Error::NotFound(format!("subscription {id} not found")));
    }
    Ok(DeleteWebhookSubscriptionResponse {})
}

fn delivery_out(d: &Delivery) -> WebhookDelivery {
    let state = match d.state {
        DeliveryState::Pending => WebhookDeliveryState::Pending,
        DeliveryState::Delivered => WebhookDeliveryState::Delivered,
        DeliveryState::Failed => WebhookDeliveryState::Failed,
    };
    WebhookDelivery {
        delivery_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        state: state as i32,
        attempts: d.attempts,
        last_error: d.last_error.clone(),
        create_time: ts(d.created_at),
        deliver_time: d.delivered_at.and_then(ts),
    }
}

pub(super) async fn list_deliveries(
    core: &Core,
    req: Request<ListWebhookDeliveriesRequest>,
) -> Result<ListWebhookDeliveriesResponse, Error> {
    caller(&req)?.0.require_operator()?;
    let r = req.into_inner();
    let id = input::uuid("subscription_id", &r.subscription_id)?;
    let state = match input::enum_value::<WebhookDeliveryState>("state", r.state)? {
        WebhookDeliveryState::Unspecified => None,
        WebhookDeliveryState::Pending => Some(DeliveryState::Pending),
        WebhookDeliveryState::Delivered => Some(DeliveryState::Delivered),
        WebhookDeliveryState::Failed => Some(DeliveryState::Failed),
    };
    let page = Page::parse(r.page_size, &r.page_token)?;
    if !core.store.has_subscription(&id).await? {
        return Err(Error::NotFound(format!("subscription {id} not found")));
    }
    let (rows, next) = core.store.deliveries(&id, state, page).await?;
    Ok(ListWebhookDeliveriesResponse {
        deliveries: rows.iter().map(delivery_out).collect(),
        next_page_token: next,
    })
}
