//! The service-account scopes the services check, in one list, so that an
//! operator cannot hand out a scope nothing honours (a typo would otherwise
//! create an account that silently can do nothing).

/// `identity`: read role definitions (`ListRoles` for a tenant).
pub const IDENTITY_ROLES_READ: &str = "identity.roles.read";
/// `identity`: read tenant contacts (chief admin, locale) for mail.
pub const IDENTITY_CONTACTS_READ: &str = "identity.contacts.read";
/// `identity`: read users of any tenant.
pub const IDENTITY_USERS_READ: &str = "identity.users.read";
/// `identity`: ask `Authorize` about a user.
pub const IDENTITY_AUTHORIZE: &str = "identity.authorize";
/// `identity`: follow the standing feed (`WatchStanding`).
pub const IDENTITY_STANDING_WATCH: &str = "identity.standing.watch";
/// `audit`: send events.
pub const AUDIT_EVENTS_WRITE: &str = "audit.events.write";
/// `broker`: check a support session's access and report actions.
pub const BROKER_CHECK_ACCESS: &str = "broker.check_access";
/// `broker`: the helpdesk files requests for agents and revokes grants.
pub const BROKER_HELPDESK: &str = "broker.helpdesk";

/// Every scope a service account may be given.
pub const KNOWN: &[&str] = &[
    IDENTITY_ROLES_READ,
    IDENTITY_CONTACTS_READ,
    IDENTITY_USERS_READ,
    IDENTITY_AUTHORIZE,
    IDENTITY_STANDING_WATCH,
    AUDIT_EVENTS_WRITE,
    BROKER_CHECK_ACCESS,
    BROKER_HELPDESK,
];

/// Is `scope` one the services check.
pub fn is_known(scope: &str) -> bool {
    KNOWN.contains(&scope)
}
