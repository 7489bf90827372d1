//! sea-orm entities, one module per table (see migrations for the schema).
//! Every instant is `i64` microseconds in a `_us` column (ADR 0016), read and
//! written only through `keyholder_kit::instant`; the outbox and idempotency
//! tables are the exceptions, replaced separately.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod signing_key {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub private_key: String,
        pub public_key: String,
        pub created_at_us: i64,
        pub retired_at_us: Option<i64>,
        pub publish_until_us: Option<i64>,
    }
    no_relations!();
}

pub mod tenant {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        pub name: String,
        pub locale: String,
        pub seat_limit: i64,
        pub chief_admin_id: String,
        pub created_at_us: i64,
        /// Who may invite integrators: `everyone` or `admins_only`.
        pub invitation_policy: String,
    }
    no_relations!();
}

pub mod user {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub tenant_id: String,
        pub email: String,
        pub display_name: String,
        pub kind: String,
        pub admin: bool,
        pub active: bool,
        pub password_hash: String,
        pub totp_secret: Option<String>,
        pub totp_enabled: bool,
        pub totp_pending: Option<String>,
        pub partner_id: Option<String>,
        pub totp_deadline_us: Option<i64>,
        pub created_at_us: i64,
        /// The TOTP time step last accepted (codes of it or earlier are spent).
        pub totp_last_step: Option<i64>,
    }
    no_relations!();
}

pub mod service_account {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_service_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        pub name: String,
        pub scopes: String,
        pub secret_hash: String,
        pub created_at_us: i64,
    }
    no_relations!();
}

pub mod refresh_family {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_refresh_families")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub family_id: String,
        pub user_id: String,
        pub amr: String,
        pub created_at_us: i64,
        pub revoked_at_us: Option<i64>,
    }
    no_relations!();
}

pub mod refresh_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: String,
        pub family_id: String,
        pub expires_at_us: i64,
        pub spent_at_us: Option<i64>,
    }
    no_relations!();
}

pub mod department {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_departments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub department_id: String,
        pub tenant_id: String,
        pub name: String,
        pub parent_id: Option<String>,
        pub created_at_us: i64,
    }
    no_relations!();
}

pub mod department_member {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_department_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub department_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
    }
    no_relations!();
}

pub mod role {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub role_id: String,
        pub tenant_id: String,
        pub name: String,
        pub rights: String,
        pub built_in: bool,
        pub created_at_us: i64,
    }
    no_relations!();
}

pub mod role_assignment {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_role_assignments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub role_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_id: String,
        pub tenant_id: String,
    }
    no_relations!();
}

pub mod app {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_apps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub installed_by: String,
        pub installed_at_us: i64,
    }
    no_relations!();
}

pub mod app_access {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_app_access")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_kind: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_id: String,
    }
    no_relations!();
}

pub mod partner {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_partners")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub partner_id: String,
        pub name: String,
        pub created_at_us: i64,
    }
    no_relations!();
}

pub mod partner_domain {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_partner_domains")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub domain: String,
        pub partner_id: String,
    }
    no_relations!();
}

pub mod outbox {
    //! The kit's outbox shape (`keyholder_kit::outbox::schema`), read by
    //! tests; the relay itself works on it through the kit.
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub event_id: String,
        pub tenant_id: String,
        pub payload: Vec<u8>,
        /// A secret the event must carry to audit but the payload must not
        /// keep (an invitation's acceptance token); cleared once the event is
        /// delivered or set aside.
        pub secret: Option<String>,
        /// The W3C trace context of the call that wrote it, if traced.
        pub traceparent: Option<String>,
        pub created_at_us: i64,
        pub attempts: i64,
        pub next_attempt_at_us: i64,
        /// While in the future, one relay is sending this row.
        pub leased_until_us: Option<i64>,
        pub lease_owner: Option<String>,
        pub delivered_at_us: Option<i64>,
        /// When the event was set aside for good (audit refused it as
        /// invalid, it does not decode, or it ran out of attempts); such rows
        /// are never resent.
        pub dead_at_us: Option<i64>,
        /// Why it last failed (audit's reason), or empty.
        pub last_error: String,
    }
    no_relations!();
}

pub mod invitation {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_invitations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub invitation_id: String,
        pub tenant_id: String,
        pub partner_id: String,
        pub email: String,
        pub display_name: String,
        pub inviter_id: String,
        /// Hex SHA-256 of the acceptance token (the token itself is never stored).
        pub token_hash: String,
        /// `pending`, `accepted` or `withdrawn` (expiry is read from `expire_at_us`).
        pub state: String,
        pub user_id: Option<String>,
        pub created_at_us: i64,
        pub expire_at_us: i64,
        pub closed_at_us: Option<i64>,
    }
    no_relations!();
}

pub mod standing_version {
    use sea_orm::entity::prelude::*;
    /// A principal's standing version; absent means version 0.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_standing")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub principal_id: String,
        pub version: i64,
        /// A disabled service account (users keep `active` on their row).
        pub disabled: bool,
    }
    no_relations!();
}

pub mod standing_log {
    use sea_orm::entity::prelude::*;
    /// One change of standing, in commit order.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_standing_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        pub principal_id: String,
        pub version: i64,
        pub active: bool,
        pub reason: String,
        pub tenant_id: String,
        pub kind: String,
        pub created_at_us: i64,
    }
    no_relations!();
}
