//! Keys, refresh, sign-out, service tokens and TOTP (SignIn: `sign_in`).

use super::convert::{key_pb, ts_secs};
use super::{Api, constant_time_eq, secret_hash};
use crate::domain::people::User;
use crate::domain::tokens::{
    self, RefreshFamily, RefreshToken, Subject, TOTP_ENROLLMENT_ONLY_SCOPE,
};
use crate::domain::{random, totp, validate};
use crate::error::{Error, Result};
use crate::events::Outcome;
use chrono::DateTime;
use keyholder_kit::auth::{ALL_AUDIENCES, ISSUER, PrincipalKind};
use keyholder_proto::identity::v1 as pb;
use keyholder_rights::Capability;
use tonic::Request;

impl Api {
    pub(super) async fn h_get_key_set(
        &self,
        _req: Request<pb::GetKeySetRequest>,
    ) -> Result<pb::GetKeySetResponse> {
        Ok(pb::GetKeySetResponse {
            keys: self.keys.published().await?.iter().map(key_pb).collect(),
            issuer: ISSUER.into(),
            audience: ALL_AUDIENCES.join(" "),
        })
    }

    pub(super) async fn h_rotate_signing_key(
        &self,
        req: Request<pb::RotateSigningKeyRequest>,
    ) -> Result<pb::RotateSigningKeyResponse> {
        self.caller(&req).await?.require_operator()?;
        let key = self.keys.rotate().await?;
        Ok(pb::RotateSigningKeyResponse {
            key: Some(key_pb(&key)),
        })
    }

    /// The token subject for a signed-in user.
    pub(super) async fn subject_of(&self, u: &User, amr: Vec<String>) -> Result<(Subject, bool)> {
        let kind = u.kind;
        let restricted = u.totp_overdue(self.now());
        let subject = Subject {
            id: u.user_id.clone(),
            kind,
            tenant_id: (!u.tenant_id.is_empty()).then(|| u.tenant_id.clone()),
            // Integrators carry admin-minus rights, unless locked to enrolment.
            admin: !restricted && (u.admin || kind == PrincipalKind::Integrator),
            chief: self.is_chief(u).await?,
            scopes: if restricted {
                vec![TOTP_ENROLLMENT_ONLY_SCOPE.into()]
            } else {
                vec![]
            },
            amr,
            name: u.display_name.clone(),
            email: u.email.clone(),
            version: self.store.standing_of(&u.user_id).await?.0,
        };
        Ok((subject, restricted))
    }

    pub(super) async fn token_pair(
        &self,
        subject: &Subject,
        family: &str,
        first: bool,
        previous: Option<&str>,
    ) -> Result<pb::TokenPair> {
        let now = self.now();
        let access = tokens::access_claims(subject, now, random::id());
        let refresh = tokens::refresh_claims(&subject.id, family, now, random::id());
        let token = RefreshToken {
            jti: refresh.jti.clone(),
            family_id: family.into(),
            expires_at: DateTime::from_timestamp(refresh.exp, 0)
                .ok_or_else(|| Error::internal("refresh token expiry out of range"))?,
            spent_at: None,
        };
        if first {
            let started = RefreshFamily {
                family_id: family.into(),
                user_id: subject.id.clone(),
                amr: subject.amr.clone(),
                created_at: now,
                revoked_at: None,
            };
            self.store.start_family(&started, &token).await?;
        } else if let Some(old) = previous
            && !self.store.spend_refresh_token(old, &token, now).await?
        {
            self.store.revoke_family(family, now).await?;
            return Err(Error::Unauthenticated(
                "refresh token was already used; every session from it has been revoked".into(),
            ));
        }
        Ok(pb::TokenPair {
            access_token: self.keys.sign_access(&access).await?,
            access_token_expire_time: ts_secs(access.exp),
            refresh_token: self.keys.sign_refresh(&refresh).await?,
            refresh_token_expire_time: ts_secs(refresh.exp),
        })
    }

    pub(super) async fn h_refresh_token(
        &self,
        req: Request<pb::RefreshTokenRequest>,
    ) -> Result<pb::RefreshTokenResponse> {
        let r = req.into_inner();
        let claims = self.keys.verify_refresh(r.refresh_token.trim()).await?;
        let now = self.now();
        let token = self
            .store
            .refresh_token(&claims.jti)
            .await?
            .ok_or_else(|| Error::Unauthenticated("refresh token is not known".into()))?;
        let family = self
            .store
            .family(&token.family_id)
            .await?
            .ok_or_else(|| Error::Unauthenticated("refresh token is not known".into()))?;
        if family.revoked_at.is_some() {
            return Err(Error::Unauthenticated(
                "refresh token has been revoked; sign in again".into(),
            ));
        }
        if token.spent_at.is_some() {
            // Reuse: someone holds a copy. End every token of this sign-in.
            self.store.revoke_family(&family.family_id, now).await?;
            tracing::warn!(user_id = %family.user_id, "refresh token reuse; family revoked");
            return Err(Error::Unauthenticated(
                "refresh token was already used; every session from it has been revoked".into(),
            ));
        }
        let u = self
            .store
            .user(&family.user_id)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| {
                Error::Unauthenticated("the account is deactivated or no longer exists".into())
            })?;
        let (subject, _) = self.subject_of(&u, family.amr.clone()).await?;
        let tokens = self
            .token_pair(&subject, &family.family_id, false, Some(&claims.jti))
            .await?;
        Ok(pb::RefreshTokenResponse {
            tokens: Some(tokens),
        })
    }

    pub(super) async fn h_sign_out(
        &self,
        req: Request<pb::SignOutRequest>,
    ) -> Result<pb::SignOutResponse> {
        let r = req.into_inner();
        let claims = self.keys.verify_refresh(r.refresh_token.trim()).await?;
        if r.everywhere {
            self.store
                .sign_out_everywhere(&claims.sub, self.now())
                .await?;
            tracing::info!(user_id = %claims.sub, "signed out everywhere");
        } else {
            self.store.revoke_family(&claims.fam, self.now()).await?;
        }
        Ok(pb::SignOutResponse {})
    }

    pub(super) async fn h_issue_service_token(
        &self,
        req: Request<pb::IssueServiceTokenRequest>,
    ) -> Result<pb::IssueServiceTokenResponse> {
        let r = req.into_inner();
        let refused =
            || Error::Unauthenticated("service sign-in refused: wrong client id or secret".into());
        // A client id that no account could have (control bytes, wrong
        // characters) is refused like an unknown one, before any query.
        let client_id =
            keyholder_rights::input::id("client_id", &r.client_id).map_err(|_| refused())?;
        let account = self
            .store
            .service_account(&client_id)
            .await?
            .ok_or_else(refused)?;
        let presented = secret_hash(&r.client_secret);
        if !constant_time_eq(presented.as_bytes(), account.secret_hash.as_bytes()) {
            return Err(refused());
        }
        let (version, disabled) = self.store.standing_of(&account.client_id).await?;
        if disabled {
            return Err(Error::Unauthenticated(
                "service sign-in refused: the service account is disabled".into(),
            ));
        }
        let subject = Subject {
            id: account.client_id.clone(),
            kind: PrincipalKind::ServiceAccount,
            tenant_id: None,
            admin: false,
            chief: false,
            scopes: account.scopes.clone(),
            amr: vec![],
            name: account.name.clone(),
            email: String::new(),
            version,
        };
        let claims = tokens::access_claims(&subject, self.now(), random::id());
        Ok(pb::IssueServiceTokenResponse {
            access_token: self.keys.sign_access(&claims).await?,
            expire_time: ts_secs(claims.exp),
        })
    }

    pub(super) async fn h_begin_totp_enrollment(
        &self,
        req: Request<pb::BeginTotpEnrollmentRequest>,
    ) -> Result<pb::BeginTotpEnrollmentResponse> {
        let p = self.caller_for_enrollment(&req).await?;
        let u = self
            .store
            .user(&p.id)
            .await?
            .ok_or_else(|| Error::denied("only people can enrol TOTP"))?;
        let already_on =
            || Error::precondition("two-factor authentication is already on for this account");
        if u.totp_enabled {
            return Err(already_on());
        }
        let secret = totp::new_secret()?;
        let uri = totp::otpauth_uri(&secret, &u.email);
        let sealed = self.store.seal_totp(&u.user_id, &secret)?;
        if !self.store.begin_totp(&u.user_id, &sealed).await? {
            return Err(already_on());
        }
        Ok(pb::BeginTotpEnrollmentResponse {
            secret,
            otpauth_uri: uri,
        })
    }

    pub(super) async fn h_confirm_totp_enrollment(
        &self,
        req: Request<pb::ConfirmTotpEnrollmentRequest>,
    ) -> Result<pb::ConfirmTotpEnrollmentResponse> {
        let p = self.caller_for_enrollment(&req).await?;
        let code = req.into_inner().code;
        let u = self
            .store
            .user(&p.id)
            .await?
            .ok_or_else(|| Error::denied("only people can enrol TOTP"))?;
        let already_on =
            || Error::precondition("two-factor authentication is already on for this account");
        if u.totp_enabled {
            return Err(already_on());
        }
        // The stored (sealed) value: confirming compares it and copies it.
        let pending = u.totp_pending.clone().ok_or_else(|| {
            Error::precondition("no TOTP enrolment in progress: call BeginTotpEnrollment first")
        })?;
        let secret = self.store.open_totp(&u.user_id, &pending)?;
        let step = totp::check(&secret, &code, self.now())
            .ok_or_else(|| Error::invalid("the TOTP code is not valid for the enrolled secret"))?;
        let events = self.change(&p, Outcome::TotpEnabled(&u));
        if !self
            .store
            .confirm_totp(&u.user_id, &pending, step, &events)
            .await?
        {
            // Tell apart what changed since the read.
            let now_u = self.fresh_user(&u.user_id).await?;
            return Err(if now_u.totp_enabled {
                already_on()
            } else if now_u.totp_pending.as_deref() != Some(pending.as_str()) {
                Error::precondition(
                    "the TOTP enrolment was restarted: use the code of the newest secret",
                )
            } else {
                Error::invalid(totp::CODE_ALREADY_USED)
            });
        }
        let u = self.fresh_user(&u.user_id).await?;
        Ok(pb::ConfirmTotpEnrollmentResponse {
            user: Some(self.user_pb(&u).await?),
        })
    }

    pub(super) async fn h_disable_totp(
        &self,
        req: Request<pb::DisableTotpRequest>,
    ) -> Result<pb::DisableTotpResponse> {
        let p = self.caller(&req).await?;
        let r = req.into_inner();
        let target_id = validate::uuid("user_id", &r.user_id)?;
        self.once(&p.id, "DisableTotp", &r.request_id, || async {
            let u = self.tenant_user(&p, &target_id).await?;
            p.require_capability(&u.tenant_id, Capability::DisableTwoFactor)?;
            let events = self.change(&p, Outcome::TotpDisabled(&u));
            self.store.disable_totp(&u.user_id, &events).await?;
            tracing::info!(user_id = %u.user_id, by = %p.id, "totp turned off");
            let u = self.fresh_user(&u.user_id).await?;
            Ok(pb::DisableTotpResponse {
                user: Some(self.user_pb(&u).await?),
            })
        })
        .await
    }
}
