//! SignIn. Failed guesses are slowed, never locked out (`domain::throttle`):
//! a throttled attempt is refused before its password is looked at, except
//! when it carries the owner's fresh TOTP code, so strangers can slow an
//! account down but never keep its owner out. An unknown e-mail costs the
//! same work and gets the same answer as a wrong password.

use super::Api;
use crate::domain::people::User;
use crate::domain::throttle::{self, ACCOUNT, Counter, Decision};
use crate::domain::{password, random, tokens, totp, validate};
use crate::error::{Error, Result};
use crate::events;
use crate::store::{Claim, Store};
use chrono::{DateTime, Utc};
use keyholder_kit::auth::PrincipalKind;
use keyholder_proto::identity::v1 as pb;
use tonic::Request;

const SIGN_IN_REFUSED: &str = "sign-in refused: wrong e-mail, password or code";

/// Attempts at counting one sign-in against concurrent ones. Every lost
/// attempt means another one was counted, so a handful suffices before the
/// counters show a delay.
const CLAIM_TRIES: usize = 8;

/// The two counters one attempt is judged by.
struct Keys {
    source: String,
    account: String,
}

/// How an attempt got past the throttle.
#[derive(Debug, Clone, Copy)]
enum Admitted {
    /// Counted as a failure up front; undone if it turns out not to be one.
    Counted { account_after: Counter },
    /// During a delay, by the owner's fresh TOTP code, whose step is spent.
    Owner { step: i64 },
}

/// The time step of a valid code of `u`'s TOTP, if it has one on.
fn code_step(store: &Store, u: &User, code: &str, now: DateTime<Utc>) -> Option<i64> {
    match (&u.totp_secret, u.totp_enabled) {
        (Some(sealed), true) => match store.open_totp(&u.user_id, sealed) {
            Ok(secret) => totp::check(&secret, code, now),
            Err(e) => {
                tracing::error!(user_id = %u.user_id, error = %e, "cannot open the stored totp secret");
                None
            }
        },
        _ => None,
    }
}

impl Api {
    pub(super) async fn h_sign_in(
        &self,
        req: Request<pb::SignInRequest>,
    ) -> Result<pb::SignInResponse> {
        // The peer's address. Forwarded-for headers are not trusted: any
        // caller can set them to spread guesses over made-up sources.
        let source = req.remote_addr().map(|a| a.ip());
        let r = req.into_inner();
        password::check_size(&r.password)?;
        let refused = || Error::Unauthenticated(SIGN_IN_REFUSED.into());
        let email = validate::email(&r.email).map_err(|_| refused())?;
        let tenant_id = r.tenant_id.trim();
        let now = self.now();
        let keys = Keys {
            source: throttle::source_key(source),
            account: throttle::account_key(tenant_id, &email),
        };
        let found = self.store.user_by_email(tenant_id, &email).await?;
        let admitted = self.admit(&keys, found.as_ref(), &r.totp_code, now).await?;
        let Some(u) = found else {
            // Same work and answer as a wrong password, so e-mails cannot be probed.
            password::verify_dummy(&r.password).await;
            return Err(refused());
        };
        // `u` is stale once the slow password check is done: from here on
        // only targeted writes.
        let password_ok = password::verify(&r.password, &u.password_hash).await;
        let kind = u.kind;
        let needs_code = u.totp_enabled || kind == PrincipalKind::SupportAgent;
        let step = match admitted {
            Admitted::Owner { step } => Some(step),
            Admitted::Counted { .. } => code_step(&self.store, &u, &r.totp_code, now),
        };
        if !password_ok || (needs_code && step.is_none()) {
            // Already counted. (A wrong password behind the owner's code is
            // not: the spent code already limits it to one per step.)
            if let Admitted::Counted { account_after } = admitted
                && ACCOUNT.delays_start_at(account_after)
            {
                self.report_throttled(&u, account_after, now).await?;
            }
            if password_ok && r.totp_code.trim().is_empty() {
                return Err(Error::Unauthenticated(
                    "sign-in refused: a current TOTP code is required for this account".into(),
                ));
            }
            return Err(refused());
        }
        // The credentials are right: whatever follows, not a failed guess.
        if !u.active {
            self.settle(&keys, admitted, false).await?;
            return Err(Error::Unauthenticated(
                "sign-in refused: the account is deactivated".into(),
            ));
        }
        if let (Admitted::Counted { .. }, Some(step), true) = (admitted, step, needs_code)
            && !self.store.spend_totp_step(&u.user_id, step).await?
        {
            self.settle(&keys, admitted, false).await?;
            return Err(Error::Unauthenticated(format!(
                "sign-in refused: {}",
                totp::CODE_ALREADY_USED
            )));
        }
        self.settle(&keys, admitted, true).await?;
        let (subject, restricted) = self.subject_of(&u, tokens::amr(needs_code)).await?;
        let tokens = self.token_pair(&subject, &random::id(), true, None).await?;
        tracing::info!(user_id = %u.user_id, kind = kind.as_str(), "signed in");
        Ok(pb::SignInResponse {
            tokens: Some(tokens),
            user: Some(self.user_pb(&u).await?),
            totp_enrollment_only: restricted,
        })
    }

    /// Lets the attempt be heard, counting it as a failure up front, or
    /// refuses it as throttled without looking at the password.
    async fn admit(
        &self,
        keys: &Keys,
        u: Option<&User>,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Admitted> {
        for _ in 0..CLAIM_TRIES {
            let seen = self
                .store
                .sign_in_counters(&keys.source, &keys.account)
                .await?;
            let (source_after, account_after) = match throttle::decide(seen, now) {
                Decision::Wait(secs) => {
                    // Only the owner's code gets past a delay. It is spent
                    // before the password is checked, so one code buys one
                    // password check, and nobody without it makes us hash
                    // anything.
                    if let Some(u) = u
                        && let Some(step) = code_step(&self.store, u, code, now)
                        && self.store.spend_totp_step(&u.user_id, step).await?
                    {
                        return Ok(Admitted::Owner { step });
                    }
                    return Err(Error::Throttled(secs));
                }
                Decision::Count { source, account } => (source, account),
            };
            let claims = [
                Claim {
                    key: &keys.source,
                    seen: seen.source,
                    next: source_after,
                },
                Claim {
                    key: &keys.account,
                    seen: seen.account,
                    next: account_after,
                },
            ];
            if self
                .store
                .claim_sign_in_attempt(&claims, throttle::forget_before(now))
                .await?
            {
                return Ok(Admitted::Counted { account_after });
            }
        }
        // Lost every race: guesses are pouring in; come back in a moment.
        Err(Error::Throttled(1))
    }

    /// Settles the counters once the credentials proved right: a sign-in
    /// (`signed_in`) clears the account's failures; the source's up-front
    /// count is undone either way.
    async fn settle(&self, keys: &Keys, admitted: Admitted, signed_in: bool) -> Result<()> {
        let counted = matches!(admitted, Admitted::Counted { .. });
        if signed_in {
            self.store.clear_sign_in_failures(&keys.account).await?;
            if counted {
                self.store.refund_sign_in_failure(&[&keys.source]).await?;
            }
        } else if counted {
            self.store
                .refund_sign_in_failure(&[&keys.source, &keys.account])
                .await?;
        }
        Ok(())
    }

    /// Tells the tenant's audit trail that guesses at `u` are now slowed
    /// (once per episode, at the failure that started the delays).
    async fn report_throttled(&self, u: &User, after: Counter, now: DateTime<Utc>) -> Result<()> {
        let throttled = events::Outcome::SignInThrottled {
            user: u,
            failures: after.failures,
        };
        let events = events::of(&throttled, events::system(), now);
        if !events.is_empty() {
            self.store.record_events(&events).await?;
        }
        Ok(())
    }
}
