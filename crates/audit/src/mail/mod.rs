//! Sending e-mail: a small [`Mailer`] trait (so the outbox logic is testable)
//! and its lettre transports: SMTP by URL, or `.eml` files in a folder.

pub mod worker;

use async_trait::async_trait;
use keyholder_kit::config::Config;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
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
    /// Try again later (connection refused, 4xx, timeout).
    #[error("{0}")]
    Transient(String),
    /// Will never work (bad address, 5xx).
    #[error("{0}")]
    Permanent(String),
}

/// Sends e-mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message; Ok only once the server (or folder) accepted it.
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

fn build(mail: &OutgoingMail) -> Result<Message, MailError> {
    let from: Mailbox = mail
        .from
        .parse()
        .map_err(|e| MailError::Permanent(format!("bad From address: {e}")))?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| MailError::Permanent(format!("bad recipient address: {e}")))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(mail.message_id.clone()))
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))
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
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            Err(e) => Err(MailError::Transient(e.to_string())),
        }
    }
}

/// Writes each message as an `.eml` file into a folder (the embedded default).
pub struct FolderMailer {
    transport: AsyncFileTransport<Tokio1Executor>,
}

impl FolderMailer {
    /// Into `dir`, created when missing.
    pub fn new(dir: PathBuf) -> Result<Self, String> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create mail folder {}: {e}", dir.display()))?;
        Ok(Self {
            transport: AsyncFileTransport::new(dir),
        })
    }
}

#[async_trait]
impl Mailer for FolderMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build(mail)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Transient(e.to_string()))
    }
}

/// The configured transport: `smtp_url`, else `.eml` files under `<data_dir>/mail`.
pub fn from_config(config: &Config) -> Result<std::sync::Arc<dyn Mailer>, String> {
    Ok(match &config.smtp_url {
        Some(url) => std::sync::Arc::new(SmtpMailer::from_url(url.expose())?),
        None => std::sync::Arc::new(FolderMailer::new(config.data_dir.join("mail"))?),
    })
}
