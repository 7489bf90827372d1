//! sea-orm entities of broker's tables (see `migrations/m0001_initial.rs`).
//! Instants are `_us` columns: microseconds since the epoch (ADR 0016),
//! read and written only through `keyholder_kit::instant`.

/// `broker_settings`
pub mod settings {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        pub mode: String,
        pub request_ttl_secs: i64,
        pub default_grant_secs: i64,
        pub max_grant_secs: i64,
        pub standing_scope: String,
        pub standing_by_id: String,
        pub standing_by_name: String,
        pub standing_by_email: String,
        pub updated_by: String,
        pub updated_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `broker_requests`
pub mod requests {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub agent_id: String,
        pub agent_name: String,
        pub agent_email: String,
        pub requested_by: String,
        pub ticket_ref: String,
        pub reason: String,
        pub scope: String,
        pub duration_secs: i64,
        pub state: String,
        pub created_at_us: i64,
        pub expire_at_us: i64,
        pub remind_at_us: i64,
        pub reminded: bool,
        pub decided_by: String,
        pub decided_at_us: Option<i64>,
        pub decision_note: String,
        pub grant_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `broker_grants`
pub mod grants {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_grants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub agent_id: String,
        pub agent_name: String,
        pub agent_email: String,
        pub access_request_id: String,
        pub ticket_ref: String,
        pub reason: String,
        pub scope: String,
        pub state: String,
        pub standing: bool,
        pub granted_by_id: String,
        pub granted_by_name: String,
        pub granted_by_email: String,
        pub created_at_us: i64,
        pub expire_at_us: i64,
        pub ended_at_us: Option<i64>,
        pub revoked_by: String,
        pub credential_hash: Option<String>,
        pub credential_used_at_us: Option<i64>,
        /// The end (`expire_at_us`) the ending-soon notice was sent for, if any.
        pub ending_notice_for_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `broker_sessions`
pub mod sessions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant_id: String,
        pub agent_id: String,
        pub grant_id: String,
        pub reason: String,
        pub signed_in_at_us: i64,
        pub ended_at_us: Option<i64>,
        pub end_reason: String,
        pub refresh_hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `broker_outbox`: the kit's outbox shape (`keyholder_kit::outbox::schema`),
/// read by tests; the relay itself works on it through the kit.
pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub event_id: String,
        pub tenant_id: String,
        pub payload: Vec<u8>,
        /// Unused by broker (its events carry no secret).
        pub secret: Option<String>,
        /// The W3C trace context of the call that wrote it, if traced.
        pub traceparent: Option<String>,
        pub created_at_us: i64,
        pub attempts: i64,
        pub next_attempt_at_us: i64,
        /// While in the future, one broker is sending this row.
        pub leased_until_us: Option<i64>,
        pub lease_owner: Option<String>,
        pub delivered_at_us: Option<i64>,
        /// Set when the event was given up (audit refused it as invalid, or
        /// it ran out of attempts): it is never resent.
        pub dead_at_us: Option<i64>,
        /// The last failure's reason (audit's, for a refusal).
        pub last_error: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `broker_revocations`
pub mod revocations {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_revocations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub grant_id: String,
        pub session_id: String,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `broker_keys`
pub mod keys {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub private_key: Vec<u8>,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `broker_helpdesk_connectors` (see `migrations/m0005_helpdesk.rs`).
pub mod helpdesk_connectors {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_helpdesk_connectors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub kind: String,
        pub display_name: String,
        /// Sealed with the KEK (purpose `broker.helpdesk_secret`, row: the id).
        pub secret: String,
        pub tenant_field: String,
        pub ticket_field: String,
        pub status_field: String,
        pub agent_email_field: String,
        pub subject_field: String,
        pub tags_field: String,
        /// The tag that opens an access request; empty: none.
        pub request_tag: String,
        pub created_by: String,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `broker_helpdesk_receipts`: delivery ids acted on, kept for the replay window.
pub mod helpdesk_receipts {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_helpdesk_receipts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub connector_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub delivery_id: String,
        pub received_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `broker_webhook_subscriptions`
pub mod webhook_subscriptions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_webhook_subscriptions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub url: String,
        /// Space-separated event types; empty means all.
        pub event_types: String,
        /// Sealed with the KEK (purpose `broker.webhook_secret`, row: the id).
        pub secret: String,
        pub created_by: String,
        pub created_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `broker_webhook_deliveries`: one event queued for one subscription.
pub mod webhook_deliveries {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "broker_webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub subscription_id: String,
        pub event_id: String,
        pub event_type: String,
        /// The JSON body sent.
        pub payload: String,
        pub created_at_ms: i64,
        pub next_attempt_at_ms: i64,
        pub attempts: i32,
        /// While set and in the future, one broker is sending this row.
        pub leased_until_ms: Option<i64>,
        pub delivered_at_ms: Option<i64>,
        pub failed_at_ms: Option<i64>,
        pub last_error: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
