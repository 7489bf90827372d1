//! Helpdesk connectors (secrets sealed by the caller), the delivery ids
//! acted on within the replay window, and the record of refused webhooks.

use super::Store;
use super::entities::{helpdesk_connectors as connectors, helpdesk_receipts as receipts};
use crate::error::Error;
use crate::helpdesk::payload::Kind;
use chrono::{DateTime, Utc};
use keyholder_kit::instant::{from_stored, to_stored};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

/// Purpose bound into a connector secret's envelope (row: the connector id).
pub const CONNECTOR_SECRET: &str = "broker.helpdesk_secret";

/// How long a delivery id is remembered: twice the replay window, so a
/// replay is refused by its id until its timestamp alone refuses it.
pub const RECEIPT_TTL_MS: i64 = 2 * 5 * 60 * 1000;

/// Registers a connector.
pub async fn insert<C: ConnectionTrait>(conn: &C, m: connectors::Model) -> Result<(), DbErr> {
    connectors::Entity::insert(connectors::ActiveModel::from(m))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// One connector.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<connectors::Model>, DbErr> {
    connectors::Entity::find_by_id(id.to_string())
        .one(conn)
        .await
}

/// Every connector, oldest first.
pub async fn all<C: ConnectionTrait>(conn: &C) -> Result<Vec<connectors::Model>, DbErr> {
    connectors::Entity::find()
        .order_by_asc(connectors::Column::CreatedAtUs)
        .order_by_asc(connectors::Column::Id)
        .all(conn)
        .await
}

/// Removes a connector; false when there was none.
pub async fn delete<C: ConnectionTrait>(conn: &C, id: &str) -> Result<bool, DbErr> {
    Ok(connectors::Entity::delete_by_id(id.to_string())
        .exec(conn)
        .await?
        .rows_affected
        == 1)
}

/// Claims a delivery id: true when this call is the first to see it (within
/// the remembered window). Forgets ids older than [`RECEIPT_TTL_MS`] first.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    connector_id: &str,
    delivery_id: &str,
    now_ms: i64,
) -> Result<bool, DbErr> {
    receipts::Entity::delete_many()
        .filter(receipts::Column::ReceivedAtMs.lt(now_ms - RECEIPT_TTL_MS))
        .exec(conn)
        .await?;
    let n = receipts::Entity::insert(receipts::ActiveModel {
        connector_id: Set(connector_id.to_string()),
        delivery_id: Set(delivery_id.to_string()),
        received_at_ms: Set(now_ms),
    })
    .on_conflict(
        OnConflict::columns([receipts::Column::ConnectorId, receipts::Column::DeliveryId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(n == 1)
}

/// Gives a claim back when acting failed, so the helpdesk's retry acts.
pub async fn release<C: ConnectionTrait>(
    conn: &C,
    connector_id: &str,
    delivery_id: &str,
) -> Result<(), DbErr> {
    receipts::Entity::delete_many()
        .filter(receipts::Column::ConnectorId.eq(connector_id))
        .filter(receipts::Column::DeliveryId.eq(delivery_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A connector as the webhook handler needs it (its secret still sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    /// Id.
    pub id: String,
    /// Which helpdesk signs and shapes its webhooks.
    pub kind: Kind,
    /// Shown as the actor of what the helpdesk does.
    pub display_name: String,
    /// Sealed with the KEK (purpose [`CONNECTOR_SECRET`], row: the id).
    pub secret: String,
    /// Where the payload names the tenant.
    pub tenant_field: String,
    /// … the ticket.
    pub ticket_field: String,
    /// … the ticket's status.
    pub status_field: String,
    /// … the assignee's e-mail.
    pub agent_email_field: String,
    /// … the subject.
    pub subject_field: String,
    /// … the tags.
    pub tags_field: String,
    /// The tag that opens an access request; empty: none.
    pub request_tag: String,
    /// The operator who registered it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<connectors::Model> for Connector {
    type Error = Error;

    fn try_from(m: connectors::Model) -> Result<Self, Error> {
        Ok(Self {
            created_at: from_stored(m.created_at_us)?,
            created_by: m.created_by,
            id: m.id,
            kind: Kind::parse(&m.kind)
                .ok_or_else(|| Error::Stored(format!("connector kind {:?}", m.kind)))?,
            display_name: m.display_name,
            secret: m.secret,
            tenant_field: m.tenant_field,
            ticket_field: m.ticket_field,
            status_field: m.status_field,
            agent_email_field: m.agent_email_field,
            subject_field: m.subject_field,
            tags_field: m.tags_field,
            request_tag: m.request_tag,
        })
    }
}

fn row(c: &Connector) -> connectors::Model {
    connectors::Model {
        id: c.id.clone(),
        kind: c.kind.as_str().into(),
        display_name: c.display_name.clone(),
        secret: c.secret.clone(),
        tenant_field: c.tenant_field.clone(),
        ticket_field: c.ticket_field.clone(),
        status_field: c.status_field.clone(),
        agent_email_field: c.agent_email_field.clone(),
        subject_field: c.subject_field.clone(),
        tags_field: c.tags_field.clone(),
        request_tag: c.request_tag.clone(),
        created_by: c.created_by.clone(),
        created_at_us: to_stored(c.created_at),
    }
}

impl Store {
    /// One connector.
    pub async fn connector(&self, id: &str) -> Result<Option<Connector>, Error> {
        get(self.db(), id)
            .await?
            .map(Connector::try_from)
            .transpose()
    }

    /// Every connector, oldest first.
    pub async fn connectors(&self) -> Result<Vec<Connector>, Error> {
        all(self.db())
            .await?
            .into_iter()
            .map(Connector::try_from)
            .collect()
    }

    /// Registers a connector (its secret already sealed).
    pub async fn add_connector(&self, c: &Connector) -> Result<(), Error> {
        Ok(insert(self.db(), row(c)).await?)
    }

    /// Removes a connector; false when there was none.
    pub async fn delete_connector(&self, id: &str) -> Result<bool, Error> {
        Ok(delete(self.db(), id).await?)
    }

    /// Claims a webhook delivery id for `connector_id` (see [`claim`]).
    pub async fn claim_delivery(
        &self,
        connector_id: &str,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        // The receipts table keeps milliseconds until its own migration.
        Ok(claim(self.db(), connector_id, delivery_id, now.timestamp_millis()).await?)
    }

    /// Gives a claim back when acting failed, so the helpdesk's retry acts;
    /// a failure is logged (the claim then lapses with the replay window).
    pub async fn release_delivery(&self, connector_id: &str, delivery_id: &str) {
        if let Err(e) = release(self.db(), connector_id, delivery_id).await {
            tracing::error!(error = %e, connector_id, "could not release a helpdesk delivery claim");
        }
    }
}
