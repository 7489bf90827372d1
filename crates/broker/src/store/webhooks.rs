//! Outbound webhook subscriptions and their delivery queue. A subscribed
//! event is queued by [`fan_out`] inside the transaction that writes it to
//! the audit outbox, so a committed change always carries its webhooks; the
//! webhook deliverer sends each subscription's queue in order.

use super::entities::{webhook_deliveries as deliveries, webhook_subscriptions as subs};
use crate::domain::webhook::{Delivery, DeliveryState, Subscription};
use keyholder_kit::paging::Page;
use keyholder_proto::audit::v1::{Actor, Event, EventKind};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::{Map, Value, json};

/// Purpose bound into a subscription secret's envelope (row: the id).
pub const SUBSCRIPTION_SECRET: &str = "broker.webhook_secret";

/// Every event type a subscription may ask for, with its audit kind.
pub const TYPES: &[(EventKind, &str)] = &[
    (EventKind::RequestCreated, "access_request.created"),
    (EventKind::RequestApproved, "access_request.approved"),
    (EventKind::RequestDenied, "access_request.denied"),
    (EventKind::RequestExpired, "access_request.expired"),
    (EventKind::RequestCancelled, "access_request.cancelled"),
    (EventKind::GrantExtended, "grant.extended"),
    (EventKind::GrantRevoked, "grant.revoked"),
    (EventKind::GrantExpired, "grant.expired"),
    (EventKind::GrantEnding, "grant.ending"),
    (EventKind::SignIn, "session.signed_in"),
    (EventKind::SignOut, "session.signed_out"),
];

/// The webhook type of an audit event kind, if it is sent out at all.
pub fn type_of(kind: i32) -> Option<&'static str> {
    TYPES
        .iter()
        .find(|(k, _)| *k as i32 == kind)
        .map(|(_, t)| *t)
}

/// Registers a subscription.
async fn insert<C: ConnectionTrait>(conn: &C, m: subs::Model) -> Result<(), DbErr> {
    subs::Entity::insert(subs::ActiveModel::from(m))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Every subscription, oldest first.
async fn all<C: ConnectionTrait>(conn: &C) -> Result<Vec<subs::Model>, DbErr> {
    subs::Entity::find()
        .order_by_asc(subs::Column::CreatedAtMs)
        .order_by_asc(subs::Column::Id)
        .all(conn)
        .await
}

/// One subscription.
pub async fn get<C: ConnectionTrait>(conn: &C, id: &str) -> Result<Option<subs::Model>, DbErr> {
    subs::Entity::find_by_id(id.to_string()).one(conn).await
}

/// Leases a subscription's head row until `until_ms`: true when this caller
/// got it (it was not leased, or its lease lapsed, e.g. its broker died).
/// A conditional update, so of two brokers exactly one sends it.
pub async fn lease<C: ConnectionTrait>(
    conn: &C,
    seq: i64,
    now_ms: i64,
    until_ms: i64,
) -> Result<bool, DbErr> {
    let n = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::LeasedUntilMs, Expr::value(until_ms))
        .filter(deliveries::Column::Seq.eq(seq))
        .filter(deliveries::Column::DeliveredAtMs.is_null())
        .filter(deliveries::Column::FailedAtMs.is_null())
        .filter(
            sea_orm::Condition::any()
                .add(deliveries::Column::LeasedUntilMs.is_null())
                .add(deliveries::Column::LeasedUntilMs.lte(now_ms)),
        )
        .exec(conn)
        .await?
        .rows_affected;
    Ok(n == 1)
}

/// Removes a subscription and its queue; false when there was none.
async fn delete<C: ConnectionTrait>(conn: &C, id: &str) -> Result<bool, DbErr> {
    deliveries::Entity::delete_many()
        .filter(deliveries::Column::SubscriptionId.eq(id))
        .exec(conn)
        .await?;
    Ok(subs::Entity::delete_by_id(id.to_string())
        .exec(conn)
        .await?
        .rows_affected
        == 1)
}

fn wants(s: &subs::Model, event_type: &str) -> bool {
    s.event_types.trim().is_empty() || s.event_types.split(' ').any(|t| t == event_type)
}

fn person(a: &Option<Actor>) -> Value {
    match a {
        Some(a) => json!({
            "id": a.actor_id,
            "kind": a.kind,
            "name": a.display_name,
            "email": a.email,
        }),
        None => Value::Null,
    }
}

fn rfc3339(t: &Option<prost_types::Timestamp>) -> Value {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

/// The JSON body of an event of `event_type` (Standard Webhooks' `type`,
/// `timestamp`, `data`).
pub fn body(event_type: &str, e: &Event) -> String {
    let mut data = Map::new();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() {
            data.insert(k.into(), Value::String(v.into()));
        }
    };
    put("event_id", &e.event_id);
    put("tenant_id", &e.tenant_id);
    put("ticket_ref", &e.ticket_ref);
    put("access_request_id", &e.access_request_id);
    put("grant_id", &e.grant_id);
    put("session_id", &e.session_id);
    put("reason", &e.reason);
    data.insert("actor".into(), person(&e.actor));
    data.insert("agent".into(), person(&e.agent));
    data.insert("granted_by".into(), person(&e.granted_by));
    data.insert("expire_time".into(), rfc3339(&e.expire_time));
    for key in [
        "note",
        "end_cause",
        "end_reason",
        "duration_secs",
        "standing",
    ] {
        if let Some(v) = e.attributes.get(key) {
            data.insert(key.into(), Value::String(v.clone()));
        }
    }
    json!({
        "type": event_type,
        "timestamp": rfc3339(&e.occur_time),
        "data": data,
    })
    .to_string()
}

/// Queues `e` for every subscription that wants it (in the caller's transaction).
pub async fn fan_out<C: ConnectionTrait>(conn: &C, e: &Event, now_ms: i64) -> Result<(), DbErr> {
    let Some(event_type) = type_of(e.kind) else {
        return Ok(());
    };
    let subscribers: Vec<subs::Model> = all(conn)
        .await?
        .into_iter()
        .filter(|s| wants(s, event_type))
        .collect();
    if subscribers.is_empty() {
        return Ok(());
    }
    let payload = body(event_type, e);
    for s in subscribers {
        deliveries::Entity::insert(deliveries::ActiveModel {
            seq: NotSet,
            subscription_id: Set(s.id.clone()),
            event_id: Set(e.event_id.clone()),
            event_type: Set(event_type.into()),
            payload: Set(payload.clone()),
            created_at_ms: Set(now_ms),
            next_attempt_at_ms: Set(now_ms),
            attempts: Set(0),
            leased_until_ms: Set(None),
            delivered_at_ms: Set(None),
            failed_at_ms: Set(None),
            last_error: Set(String::new()),
        })
        .on_conflict(
            OnConflict::columns([
                deliveries::Column::SubscriptionId,
                deliveries::Column::EventId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// The oldest undelivered event of every subscription that has one.
pub async fn heads<C: ConnectionTrait>(conn: &C) -> Result<Vec<deliveries::Model>, DbErr> {
    let rows = deliveries::Entity::find()
        .filter(deliveries::Column::DeliveredAtMs.is_null())
        .filter(deliveries::Column::FailedAtMs.is_null())
        .order_by_asc(deliveries::Column::Seq)
        .limit(1000)
        .all(conn)
        .await?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|r| seen.insert(r.subscription_id.clone()))
        .collect())
}

/// The subscription's oldest undelivered event.
pub async fn head_of<C: ConnectionTrait>(
    conn: &C,
    subscription_id: &str,
) -> Result<Option<deliveries::Model>, DbErr> {
    deliveries::Entity::find()
        .filter(deliveries::Column::SubscriptionId.eq(subscription_id))
        .filter(deliveries::Column::DeliveredAtMs.is_null())
        .filter(deliveries::Column::FailedAtMs.is_null())
        .order_by_asc(deliveries::Column::Seq)
        .one(conn)
        .await
}

/// Marks a delivery sent.
pub async fn mark_delivered<C: ConnectionTrait>(
    conn: &C,
    seq: i64,
    now_ms: i64,
) -> Result<(), DbErr> {
    deliveries::Entity::update_many()
        .col_expr(deliveries::Column::DeliveredAtMs, Expr::value(now_ms))
        .col_expr(
            deliveries::Column::LeasedUntilMs,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            deliveries::Column::Attempts,
            Expr::col(deliveries::Column::Attempts).add(1),
        )
        .filter(deliveries::Column::Seq.eq(seq))
        .exec(conn)
        .await?;
    Ok(())
}

/// Counts a failed attempt: retried at `retry_at_ms`, or given up (`None`).
pub async fn mark_failed<C: ConnectionTrait>(
    conn: &C,
    seq: i64,
    error: &str,
    retry_at_ms: Option<i64>,
    now_ms: i64,
) -> Result<(), DbErr> {
    let error: String = error.chars().take(500).collect();
    let mut q = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::LastError, Expr::value(error))
        .col_expr(
            deliveries::Column::LeasedUntilMs,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            deliveries::Column::Attempts,
            Expr::col(deliveries::Column::Attempts).add(1),
        );
    q = match retry_at_ms {
        Some(t) => q.col_expr(deliveries::Column::NextAttemptAtMs, Expr::value(t)),
        None => q.col_expr(deliveries::Column::FailedAtMs, Expr::value(now_ms)),
    };
    q.filter(deliveries::Column::Seq.eq(seq)).exec(conn).await?;
    Ok(())
}

/// Where a delivery stands.
fn state_of(d: &deliveries::Model) -> DeliveryState {
    if d.delivered_at_ms.is_some() {
        DeliveryState::Delivered
    } else if d.failed_at_ms.is_some() {
        DeliveryState::Failed
    } else {
        DeliveryState::Pending
    }
}

/// A subscription's deliveries, newest first, and the next page's token.
async fn list<C: ConnectionTrait>(
    conn: &C,
    subscription_id: &str,
    state: Option<DeliveryState>,
    page: Page,
) -> Result<(Vec<deliveries::Model>, String), DbErr> {
    let mut q =
        deliveries::Entity::find().filter(deliveries::Column::SubscriptionId.eq(subscription_id));
    q = match state {
        None => q,
        Some(DeliveryState::Delivered) => q.filter(deliveries::Column::DeliveredAtMs.is_not_null()),
        Some(DeliveryState::Failed) => q.filter(deliveries::Column::FailedAtMs.is_not_null()),
        Some(DeliveryState::Pending) => q
            .filter(deliveries::Column::DeliveredAtMs.is_null())
            .filter(deliveries::Column::FailedAtMs.is_null()),
    };
    super::listing::page_rows(conn, q.order_by_desc(deliveries::Column::Seq), page).await
}

/// How long delivered and failed rows stay listable.
pub const KEEP_SETTLED_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Forgets delivered and failed rows settled before `before_ms`; returns how many.
pub async fn prune<C: ConnectionTrait>(conn: &C, before_ms: i64) -> Result<u64, DbErr> {
    Ok(deliveries::Entity::delete_many()
        .filter(
            sea_orm::Condition::any()
                .add(deliveries::Column::DeliveredAtMs.lt(before_ms))
                .add(deliveries::Column::FailedAtMs.lt(before_ms)),
        )
        .exec(conn)
        .await?
        .rows_affected)
}

/// The webhook tables still store milliseconds (they keep their own queue,
/// ADR 0017); an instant out of range is an error, not the epoch.
fn at_ms(ms: i64) -> Result<chrono::DateTime<chrono::Utc>, DbErr> {
    chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| DbErr::Custom(format!("stored instant {ms} ms is out of range")))
}

fn subscription_of(m: &subs::Model) -> Result<Subscription, DbErr> {
    Ok(Subscription {
        id: m.id.clone(),
        url: m.url.clone(),
        event_types: m
            .event_types
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: at_ms(m.created_at_ms)?,
    })
}

fn delivery_of(d: &deliveries::Model) -> Result<Delivery, DbErr> {
    Ok(Delivery {
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        state: state_of(d),
        attempts: d.attempts,
        last_error: d.last_error.clone(),
        created_at: at_ms(d.created_at_ms)?,
        delivered_at: d.delivered_at_ms.map(at_ms).transpose()?,
    })
}

impl super::Store {
    /// Registers a subscription whose signing secret is already sealed.
    pub async fn add_subscription(
        &self,
        id: String,
        url: String,
        event_types: &[String],
        sealed_secret: String,
        created_by: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Subscription, DbErr> {
        let row = subs::Model {
            id,
            url,
            event_types: event_types.join(" "),
            secret: sealed_secret,
            created_by: created_by.to_string(),
            created_at_ms: now.timestamp_millis(),
        };
        insert(&self.db, row.clone()).await?;
        subscription_of(&row)
    }

    /// Every subscription, oldest first.
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, DbErr> {
        all(&self.db).await?.iter().map(subscription_of).collect()
    }

    /// Whether a subscription exists.
    pub async fn has_subscription(&self, id: &str) -> Result<bool, DbErr> {
        // Counted, not loaded: the row carries the sealed signing secret.
        Ok(subs::Entity::find_by_id(id.to_string())
            .count(&self.db)
            .await?
            > 0)
    }

    /// Removes a subscription and its queue; false when there was none.
    pub async fn remove_subscription(&self, id: &str) -> Result<bool, DbErr> {
        delete(&self.db, id).await
    }

    /// A subscription's deliveries, newest first, and the next page's token.
    pub async fn deliveries(
        &self,
        subscription_id: &str,
        state: Option<DeliveryState>,
        page: Page,
    ) -> Result<(Vec<Delivery>, String), DbErr> {
        let (rows, next) = list(&self.db, subscription_id, state, page).await?;
        Ok((
            rows.iter().map(delivery_of).collect::<Result<_, _>>()?,
            next,
        ))
    }
}
