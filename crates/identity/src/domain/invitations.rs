//! Integrator invitations: who may invite whom, the one-time acceptance token,
//! and an invitation's life (pending → accepted or withdrawn; expired by time).
//! Every transition goes through [`Invitation`], so no handler can skip a rule.

use super::random;
use crate::error::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use keyholder_kit::auth::PrincipalKind;
use sha2::{Digest, Sha256};

/// How long an acceptance token works: a week is long enough to reach someone
/// back from a holiday and short enough that a forgotten mailbox copy of the
/// token is soon worthless. Shorter than the 10-day 2FA grace, which counts
/// from the invitation, so an integrator always has days left to enrol.
pub const INVITATION_LIFE_DAYS: i64 = 7;
/// Random bytes in an acceptance token (256 bits: not guessable, so a fast
/// hash suffices to store it).
pub const TOKEN_BYTES: usize = 32;
/// Longest token text worth hashing; anything longer cannot be one of ours.
const MAX_TOKEN_LEN: usize = 128;

/// Who may invite integrators into a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Every active employee (integrators for their own partner): the default.
    #[default]
    Everyone,
    /// Only the tenant's employee admins.
    AdminsOnly,
}

impl Policy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Everyone => "everyone",
            Policy::AdminsOnly => "admins_only",
        }
    }

    /// Reads a stored name; anything unknown is the default, so a bad row
    /// never locks a tenant out of inviting.
    pub fn parse(s: &str) -> Policy {
        match s {
            "admins_only" => Policy::AdminsOnly,
            _ => Policy::Everyone,
        }
    }
}

/// The inviter, as their stored user row says now (not as a token claimed).
#[derive(Debug, Clone, Copy)]
pub struct Inviter<'a> {
    /// Kind.
    pub kind: PrincipalKind,
    /// Holds the admin role.
    pub admin: bool,
    /// Their partner, for integrators.
    pub partner_id: Option<&'a str>,
}

/// May `inviter` invite someone of `invitee_partner` under `policy`?
/// Employees may invite any registered partner's people (admins only, when
/// the policy says so); an integrator only their own partner's, and never
/// under an admins-only policy: one partner's integrator cannot open an
/// account in another partner's name.
pub fn check_may_invite(
    inviter: &Inviter<'_>,
    policy: Policy,
    invitee_partner: &str,
) -> Result<()> {
    match (inviter.kind, policy) {
        (PrincipalKind::Employee, Policy::Everyone) => Ok(()),
        (PrincipalKind::Employee, Policy::AdminsOnly) if inviter.admin => Ok(()),
        (PrincipalKind::Employee | PrincipalKind::Integrator, Policy::AdminsOnly) => Err(
            Error::denied("an administrator has restricted inviting integrators to administrators"),
        ),
        (PrincipalKind::Integrator, Policy::Everyone) => {
            if inviter.partner_id == Some(invitee_partner) {
                Ok(())
            } else {
                Err(Error::denied(
                    "integrators may invite only people of their own partner company",
                ))
            }
        }
        _ => Err(Error::denied(
            "only the tenant's employees and integrators may invite integrators",
        )),
    }
}

/// A fresh acceptance token and its stored form.
pub fn new_token() -> Result<(String, String)> {
    let token = random::secret(TOKEN_BYTES)?;
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a token: hex SHA-256.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Refuses what cannot be a token before any lookup.
pub fn check_token_shape(token: &str) -> Result<()> {
    let t = token.trim();
    if t.is_empty() {
        return Err(Error::invalid("token is required"));
    }
    if t.len() > MAX_TOKEN_LEN {
        return Err(Error::not_found(
            "no invitation has this token; check the e-mail, or ask for a new invitation",
        ));
    }
    Ok(())
}

/// What is stored about where an invitation stands; expiry is not stored but
/// read from the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the invitee.
    Pending,
    /// Accepted.
    Accepted,
    /// Withdrawn.
    Withdrawn,
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Accepted => "accepted",
            Status::Withdrawn => "withdrawn",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Pending, Status::Accepted, Status::Withdrawn]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Where an invitation stands at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Its token works.
    Pending,
    /// The integrator exists.
    Accepted,
    /// Withdrawn.
    Withdrawn,
    /// Not accepted in time.
    Expired,
}

/// An invitation (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Id.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The invitee's partner.
    pub partner_id: String,
    /// The invitee's e-mail.
    pub email: String,
    /// The invitee's display name.
    pub display_name: String,
    /// Who invited.
    pub inviter_id: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Stored status.
    pub status: Status,
    /// The integrator it became.
    pub user_id: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When its token stops working.
    pub expire_at: DateTime<Utc>,
    /// When it was accepted or withdrawn.
    pub closed_at: Option<DateTime<Utc>>,
}

/// What a new invitation is about.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    /// Tenant.
    pub tenant_id: String,
    /// The invitee's partner.
    pub partner_id: String,
    /// The invitee's e-mail.
    pub email: String,
    /// The invitee's display name.
    pub display_name: String,
    /// Who invites.
    pub inviter_id: String,
}

impl Invitation {
    /// A pending invitation made at `now`, and its token (to be e-mailed,
    /// never stored).
    pub fn create(new: NewInvitation, now: DateTime<Utc>) -> Result<(Invitation, String)> {
        let (token, token_hash) = new_token()?;
        let inv = Invitation {
            id: random::id(),
            tenant_id: new.tenant_id,
            partner_id: new.partner_id,
            email: new.email,
            display_name: new.display_name,
            inviter_id: new.inviter_id,
            token_hash,
            status: Status::Pending,
            user_id: None,
            created_at: now,
            expire_at: now + Duration::days(INVITATION_LIFE_DAYS),
            closed_at: None,
        };
        Ok((inv, token))
    }

    /// Where it stands at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> State {
        match self.status {
            Status::Accepted => State::Accepted,
            Status::Withdrawn => State::Withdrawn,
            Status::Pending if now >= self.expire_at => State::Expired,
            Status::Pending => State::Pending,
        }
    }

    /// Does it still hold a place under the partner's limit at `now`?
    pub fn holds_a_place(&self, now: DateTime<Utc>) -> bool {
        self.state(now) == State::Pending
    }

    /// Refuses unless pending at `now`.
    fn require_pending(&self, now: DateTime<Utc>) -> Result<()> {
        match self.state(now) {
            State::Pending => Ok(()),
            State::Accepted => Err(Error::precondition(
                "this invitation has already been accepted; sign in with the password chosen then",
            )),
            State::Withdrawn => Err(Error::precondition(
                "this invitation was withdrawn; ask the tenant for a new one",
            )),
            State::Expired => Err(Error::precondition(format!(
                "this invitation expired at {}; ask the tenant for a new one",
                self.expire_at.to_rfc3339()
            ))),
        }
    }

    /// Accepts it at `now`, as integrator `user_id`.
    pub fn accept(&mut self, user_id: &str, now: DateTime<Utc>) -> Result<()> {
        self.require_pending(now)?;
        self.status = Status::Accepted;
        self.user_id = Some(user_id.to_string());
        self.closed_at = Some(now);
        Ok(())
    }

    /// Withdraws it at `now`. Only the inviter or an employee admin of the
    /// tenant (`by_admin_employee`) may.
    pub fn withdraw(
        &mut self,
        by_user: &str,
        by_admin_employee: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if !(by_admin_employee || by_user == self.inviter_id) {
            return Err(Error::denied(
                "only the inviter or an administrator may withdraw an invitation",
            ));
        }
        self.require_pending(now)?;
        self.status = Status::Withdrawn;
        self.closed_at = Some(now);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn sample() -> (Invitation, String) {
        Invitation::create(
            NewInvitation {
                tenant_id: "t".into(),
                partner_id: "p".into(),
                email: "ivan@p.example".into(),
                display_name: "Ivan".into(),
                inviter_id: "boss".into(),
            },
            t0(),
        )
        .unwrap()
    }

    fn inviter(kind: PrincipalKind, admin: bool, partner: Option<&str>) -> Inviter<'_> {
        Inviter {
            kind,
            admin,
            partner_id: partner,
        }
    }

    #[test]
    fn tokens_are_256_bits_and_stored_only_as_a_hash() {
        let (inv, token) = sample();
        assert_eq!(token.len(), 43, "32 bytes, base64url without padding");
        assert_ne!(inv.token_hash, token);
        assert_eq!(inv.token_hash, token_hash(&token));
        assert_eq!(inv.token_hash.len(), 64);
        assert_ne!(sample().1, token);
        assert!(check_token_shape("").is_err());
        assert!(check_token_shape(&"x".repeat(129)).is_err());
    }

    #[test]
    fn a_week_of_life_then_expired() {
        let (inv, _) = sample();
        assert_eq!(inv.state(t0()), State::Pending);
        let end = t0() + Duration::days(7);
        assert_eq!(inv.state(end - Duration::seconds(1)), State::Pending);
        assert_eq!(inv.state(end), State::Expired);
        assert!(!inv.holds_a_place(end));
        let mut late = inv.clone();
        let e = late.accept("u", end).unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition(m) if m.contains("expired")));
    }

    #[test]
    fn accepted_once_withdrawn_never() {
        let (mut inv, _) = sample();
        inv.accept("u1", t0()).unwrap();
        assert_eq!(inv.state(t0()), State::Accepted);
        assert_eq!(inv.user_id.as_deref(), Some("u1"));
        assert!(matches!(
            inv.accept("u2", t0()),
            Err(Error::FailedPrecondition(m)) if m.contains("already been accepted")
        ));
        let (mut other, _) = sample();
        assert!(matches!(
            other.withdraw("someone", false, t0()),
            Err(Error::PermissionDenied(_))
        ));
        other.withdraw("boss", false, t0()).unwrap();
        assert!(matches!(
            other.accept("u", t0()),
            Err(Error::FailedPrecondition(m)) if m.contains("withdrawn")
        ));
        let (mut by_admin, _) = sample();
        by_admin.withdraw("admin", true, t0()).unwrap();
    }

    #[test]
    fn who_may_invite() {
        use PrincipalKind::{Employee, Integrator, SupportAgent};
        let everyone = Policy::Everyone;
        let admins = Policy::AdminsOnly;
        assert!(check_may_invite(&inviter(Employee, false, None), everyone, "p").is_ok());
        assert!(matches!(
            check_may_invite(&inviter(Employee, false, None), admins, "p"),
            Err(Error::PermissionDenied(_))
        ));
        assert!(check_may_invite(&inviter(Employee, true, None), admins, "p").is_ok());
        assert!(check_may_invite(&inviter(Integrator, true, Some("p")), everyone, "p").is_ok());
        assert!(matches!(
            check_may_invite(&inviter(Integrator, true, Some("p")), everyone, "q"),
            Err(Error::PermissionDenied(m)) if m.contains("own partner")
        ));
        assert!(check_may_invite(&inviter(Integrator, true, Some("p")), admins, "p").is_err());
        assert!(check_may_invite(&inviter(SupportAgent, false, None), everyone, "p").is_err());
        assert_eq!(Policy::parse("admins_only"), Policy::AdminsOnly);
        assert_eq!(Policy::parse("???"), Policy::Everyone);
        assert_eq!(Status::parse("withdrawn"), Some(Status::Withdrawn));
    }
}
