//! Sending e-mail: a small [`Mailer`] trait (so the outbox logic is testable)
//! and its lettre transports: SMTP by URL, or `.eml` files in a folder.

pub mod owner;
pub mod worker;

use crate::domain::notify::FailureKind;
use async_trait::async_trait;
use keyholder_kit::config::Config;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

/// One e-mail to send.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// Stable Message-ID (with angle brackets).
    pub message_id: String,
}

/// Why a message was not sent.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MailError {
    /// Try again later (connection refused, 4xx, timeout, rejected credentials).
    #[error("{0}")]
    Transient(String),
    /// The server rejected this message for good (5xx, e.g. 550 no such mailbox).
    #[error("{0}")]
    Permanent(String),
    /// The message cannot be sent at all (the recipient address does not parse).
    #[error("{0}")]
    Invalid(String),
}

impl MailError {
    /// How the outbox treats it.
    pub fn kind(&self) -> FailureKind {
        match self {
            MailError::Transient(_) => FailureKind::Transient,
            MailError::Permanent(_) => FailureKind::Rejected,
            MailError::Invalid(_) => FailureKind::Hopeless,
        }
    }
}

/// Sends e-mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message; Ok only once the server (or folder) accepted it.
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// `Auto-Submitted: auto-generated` (RFC 3834): a machine wrote this, so
/// auto-responders stay quiet and mail clients file it as a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// `List-Id` (RFC 2919): lets mail clients group and filter every Keyholder
/// notification, e.g. `Keyholder notifications <notifications.vendor.example>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListId(String);

impl ListId {
    /// The list of notifications sent from `from`'s domain.
    fn of(from: &Mailbox) -> Self {
        Self(format!(
            "Keyholder notifications <notifications.{}>",
            from.email.domain()
        ))
    }
}

impl Header for ListId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Id")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

fn build(mail: &OutgoingMail) -> Result<Message, MailError> {
    // A bad sender is configuration, the same for every message: keep the
    // mail until an operator fixes it rather than drop it.
    let from: Mailbox = mail.from.parse().map_err(|e| {
        MailError::Transient(format!("the configured sender address is invalid: {e}"))
    })?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| MailError::Invalid(format!("bad recipient address: {e}")))?;
    Message::builder()
        .header(ListId::of(&from))
        .header(AutoSubmitted)
        .from(from)
        .to(to)
        // Defence in depth: the templates quote names a caller chose, and a
        // bidi override there would make `hi \u{202E}gnp.exe` read `hi exe.png`.
        .subject(keyholder_rights::input::single_line(&mail.subject))
        .message_id(Some(mail.message_id.clone()))
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| MailError::Invalid(format!("cannot build the message: {e}")))
}

/// SMTP through lettre (`smtp://`, `smtps://`, STARTTLS and credentials per URL).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    /// From an SMTP URL.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("invalid SMTP URL: {e}"))?
            .build();
        Ok(Self { transport })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build(mail)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}

/// Sorts an SMTP failure. Only a 5xx is permanent, and not those that point at
/// our side rather than at the recipient: the answers to authentication (530,
/// 534, 535, 538), a relay or sender refused by policy (enhanced status 5.7.x,
/// e.g. `554 5.7.1 Relay access denied`), and a server that takes no mail
/// (521, 554, 556). An operator fixes those, so the mail must wait rather than
/// be dropped. Even a real rejection is only believed after a day (see
/// [`crate::domain::notify::REJECTED_WINDOW`]).
fn classify(e: &lettre::transport::smtp::Error) -> MailError {
    use std::error::Error as _;
    let code = e.status().map(u16::from);
    let reply = e.source().map(|s| s.to_string()).unwrap_or_default();
    match smtp_reply_kind(code, e.is_permanent(), &reply) {
        FailureKind::Transient => MailError::Transient(e.to_string()),
        _ => MailError::Permanent(e.to_string()),
    }
}

/// [`classify`] on the reply code, whether lettre saw it as permanent, and the
/// reply text (which starts with the enhanced status code, when there is one).
fn smtp_reply_kind(code: Option<u16>, permanent: bool, reply: &str) -> FailureKind {
    let policy = reply.trim_start().starts_with("5.7.");
    match code {
        Some(530 | 534 | 535 | 538 | 521 | 554 | 556) => FailureKind::Transient,
        _ if policy => FailureKind::Transient,
        _ if permanent => FailureKind::Rejected,
        _ => FailureKind::Transient,
    }
}

/// Writes each message as an `.eml` file into a folder (the embedded default).
/// The files are owner-only (0600) in an owner-only folder (0700): a mail can
/// hold an invitation link. (lettre's file transport would leave them to the
/// umask, so the formatted message is written here.)
pub struct FolderMailer {
    dir: PathBuf,
}

impl FolderMailer {
    /// Into `dir`, created (0700) when missing.
    pub fn new(dir: PathBuf) -> Result<Self, String> {
        keyholder_kit::files::create_private_dir(&dir)
            .map_err(|e| format!("cannot create mail folder {}: {e}", dir.display()))?;
        Ok(Self { dir })
    }
}

#[async_trait]
impl Mailer for FolderMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let bytes = build(mail)?.formatted();
        // Named like lettre's file transport: a fresh id per written file.
        let path = self.dir.join(format!("{}.eml", uuid::Uuid::new_v4()));
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut f = keyholder_kit::files::create_private_file(&path, true)?;
            f.write_all(&bytes)?;
            f.sync_all()
        })
        .await
        .map_err(|e| MailError::Transient(e.to_string()))?
        .map_err(|e| MailError::Transient(format!("cannot write the mail file: {e}")))
    }
}

/// The configured transport: `smtp_url`, else `.eml` files under `<data_dir>/mail`.
pub fn from_config(config: &Config) -> Result<std::sync::Arc<dyn Mailer>, String> {
    Ok(match &config.audit.smtp_url {
        Some(url) => std::sync::Arc::new(SmtpMailer::from_url(url.expose())?),
        None => std::sync::Arc::new(FolderMailer::new(config.data_dir.join("mail"))?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn mail_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let folder = dir.path().join("mail");
        let mailer = FolderMailer::new(folder.clone()).unwrap_or_else(|e| unreachable!("{e}"));
        let mail = OutgoingMail {
            from: "keyholder@v.example".into(),
            to: "ann@v.example".into(),
            subject: "Support signed in".into(),
            text: "Ivan signed in.".into(),
            html: "<p>Ivan signed in.</p>".into(),
            message_id: "<m1@v.example>".into(),
        };
        assert!(mailer.send(&mail).await.is_ok());
        let files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap_or_else(|e| unreachable!("{e}"))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).unwrap_or_default();
        assert!(text.contains("Subject: Support signed in"), "{text}");
        assert!(text.contains("Message-ID: <m1@v.example>"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| {
                std::fs::metadata(p)
                    .map(|m| m.permissions().mode() & 0o777)
                    .unwrap_or(0)
            };
            assert_eq!(mode(&files[0]), 0o600);
            assert_eq!(mode(&folder), 0o700);
        }
    }

    #[test]
    fn subjects_lose_bidi_and_line_breaks() {
        let mail = OutgoingMail {
            from: "keyholder@v.example".into(),
            to: "ann@v.example".into(),
            subject: "hi \u{202E}gnp.\u{200F}exe\r\nBcc: eve@v.example".into(),
            text: "t".into(),
            html: "<p>t</p>".into(),
            message_id: "<m@v.example>".into(),
        };
        let raw = build(&mail).map(|m| m.formatted()).unwrap_or_default();
        let raw = String::from_utf8_lossy(&raw);
        assert!(
            raw.contains("Subject: hi gnp.exe  Bcc: eve@v.example\r\n"),
            "{raw}"
        );
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        assert!(
            raw.contains("List-Id: Keyholder notifications <notifications.v.example>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("Auto-Submitted: auto-generated\r\n"), "{raw}");
    }

    #[test]
    fn only_a_recipient_rejection_counts_as_rejected() {
        let kind = |code, text| smtp_reply_kind(Some(code), code >= 500, text);
        assert_eq!(
            kind(550, "5.1.1 Mailbox unavailable"),
            FailureKind::Rejected
        );
        assert_eq!(kind(553, "5.1.3 Bad address syntax"), FailureKind::Rejected);
        assert_eq!(
            kind(550, "5.7.1 Relay access denied"),
            FailureKind::Transient
        );
        assert_eq!(kind(553, " 5.7.1 Sender refused"), FailureKind::Transient);
        for code in [521, 530, 534, 535, 538, 554, 556] {
            assert_eq!(kind(code, ""), FailureKind::Transient, "{code}");
        }
        assert_eq!(kind(451, "4.3.0 Try later"), FailureKind::Transient);
        assert_eq!(smtp_reply_kind(None, false, ""), FailureKind::Transient);
    }
}
