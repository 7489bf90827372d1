//! sea-orm entities of audit's tables.

/// `audit_events`: the log.
pub mod event {
    use sea_orm::entity::prelude::*;

    /// A stored event.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        /// Producer-chosen id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        /// Tenant.
        pub tenant_id: String,
        /// Place in the tenant's chain.
        pub sequence: i64,
        /// Kind name.
        pub kind: String,
        /// When it happened (µs).
        pub occur_time_us: i64,
        /// When stored (µs).
        pub record_time_us: i64,
        /// Agent id or empty.
        pub agent_id: String,
        /// Session id or empty.
        pub session_id: String,
        /// Grant id or empty.
        pub grant_id: String,
        /// Canonical JSON covered by `hash`.
        pub content: String,
        /// Previous row's hash.
        pub prev_hash: String,
        /// This row's hash.
        pub hash: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_chain_heads`: the end of each tenant's chain.
pub mod head {
    use sea_orm::entity::prelude::*;

    /// A tenant's chain head.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_chain_heads")]
    pub struct Model {
        /// Tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// Last sequence.
        pub sequence: i64,
        /// Last hash.
        pub hash: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_checkpoints`: signed chain heads.
pub mod checkpoint {
    use sea_orm::entity::prelude::*;

    /// A signed checkpoint.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_checkpoints")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub checkpoint_id: String,
        /// Tenant.
        pub tenant_id: String,
        /// Sequence covered.
        pub sequence: i64,
        /// Hash of that row.
        pub hash: String,
        /// Signing key.
        pub key_id: String,
        /// Base64 Ed25519 signature.
        pub signature: String,
        /// When made (µs).
        pub create_time_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_signing_keys`: audit's own checkpoint keys.
pub mod signing_key {
    use sea_orm::entity::prelude::*;

    /// A key pair.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_signing_keys")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_id: String,
        /// Base64 PKCS#8.
        pub private_key: String,
        /// Base64 raw public key.
        pub public_key: String,
        /// When made (µs).
        pub create_time_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_notification_jobs`: who must hear of an event, before recipients are known.
pub mod job {
    use sea_orm::entity::prelude::*;

    /// A job.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_notification_jobs")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub job_id: String,
        /// Tenant.
        pub tenant_id: String,
        /// Event.
        pub event_id: String,
        /// Audience name.
        pub audience: String,
        /// `pending`, `done`, `failed`.
        pub state: String,
        /// Attempts to resolve.
        pub attempts: i32,
        /// Next attempt (µs).
        pub next_attempt_time_us: i64,
        /// Last error.
        pub last_error: String,
        /// When made (µs).
        pub create_time_us: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_notifications`: one e-mail to one recipient.
pub mod notification {
    use sea_orm::entity::prelude::*;

    /// An e-mail.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_notifications")]
    pub struct Model {
        /// Id (also in the Message-ID).
        #[sea_orm(primary_key, auto_increment = false)]
        pub notification_id: String,
        /// Job.
        pub job_id: String,
        /// Tenant.
        pub tenant_id: String,
        /// Event.
        pub event_id: String,
        /// Address.
        pub recipient: String,
        /// Subject.
        pub subject: String,
        /// Plain text.
        pub body_text: String,
        /// HTML.
        pub body_html: String,
        /// `pending`, `sent`, `failed`.
        pub state: String,
        /// Attempts so far.
        pub attempts: i32,
        /// Last error.
        pub last_error: String,
        /// Next attempt (µs).
        pub next_attempt_time_us: i64,
        /// Claimed by a worker until (µs); 0 when free.
        pub lease_until_us: i64,
        /// Which worker claimed it.
        pub lease_owner: String,
        /// When made (µs).
        pub create_time_us: i64,
        /// When the server accepted it (µs).
        pub send_time_us: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_sign_ins`: the login history's read model, one row per sign-in or
/// refused attempt, kept in the transaction that appends its events.
pub mod sign_in {
    use sea_orm::entity::prelude::*;

    /// One login history entry.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_sign_ins")]
    pub struct Model {
        /// The sign-in (or refused) event.
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        /// Tenant.
        pub tenant_id: String,
        /// That event's place in the chain (orders entries of equal time).
        pub sequence: i64,
        /// When (µs).
        pub sign_in_time_us: i64,
        /// 1 for a sign-in, 0 for a refused attempt.
        pub succeeded: i32,
        /// Session; empty for a refused attempt.
        pub session_id: String,
        /// The agent's id (the filter), or empty.
        pub agent_id: String,
        /// Who signed in, as JSON; empty when unknown.
        pub accessed_by: String,
        /// Who granted access, as JSON; empty when unknown.
        pub granted_by: String,
        /// Reason for login.
        pub reason: String,
        /// Ticket.
        pub ticket_ref: String,
        /// Grant.
        pub grant_id: String,
        /// The refusal, for refused attempts.
        pub refusal: String,
        /// When the session ended (µs), once it has.
        pub sign_out_time_us: Option<i64>,
        /// Why it ended.
        pub end_reason: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
