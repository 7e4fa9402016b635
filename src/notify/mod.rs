//! E-mail delivery: the SMTP transport ([`Mailer`]), the outbox worker ([`worker`]) and the
//! message templates ([`templates`]).
//!
//! Messages are never sent inside a request: they are written to the `outbox` table in the
//! transaction of the event that causes them, and the worker delivers them afterwards.
//!
//! Delivery guarantee: **at least once** for every message the relay accepts within
//! `ROLLCALL_MAIL_MAX_ATTEMPTS` attempts. A message is marked sent only after the relay accepted
//! it; if the process dies between the relay's acceptance and that update, the message's lease
//! runs out and it is sent once more (with the same `Message-ID`, which lets mail clients drop
//! the copy). Nothing is lost on a crash or a restart: pending rows are picked up again.

pub mod templates;
pub mod worker;

use std::time::Duration;

use anyhow::Context;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Settings, SmtpTls};
use crate::storage::outbox::Due;

/// Parse an e-mail address the way the transport will need it, so that a malformed address
/// is refused when it is entered rather than when it is sent.
pub fn parse_address(raw: &str) -> Result<Address, String> {
    raw.trim()
        .parse::<Address>()
        .map_err(|e| format!("{raw:?} is not a valid e-mail address ({e})"))
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The relay accepted the message.
    Sent,
    /// A temporary failure (relay unreachable, timeout, 4xx): try again later.
    Retry(String),
    /// A permanent failure (5xx, an address that cannot be sent to): retrying will not help.
    Reject(String),
}

/// The SMTP relay of `SMTP_*`.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of message ids, from the sender's address.
    id_domain: String,
    /// Where the relay is, for log lines.
    pub relay: String,
}

impl Mailer {
    /// The configured relay, or `None` when `SMTP_HOST` is unset (mail then stays queued).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let Some(host) = settings.smtp_host.as_deref().map(str::trim) else {
            return Ok(None);
        };
        let from = settings.smtp_sender()?;
        let port = settings.smtp_port();
        let builder = match settings.smtp_tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .with_context(|| format!("SMTP_HOST {host:?}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .with_context(|| format!("SMTP_HOST {host:?}"))?,
        };
        let mut builder = builder
            .port(port)
            .timeout(Some(Duration::from_secs(settings.smtp_timeout_secs)));
        if let Some(user) = settings.smtp_login() {
            builder = builder.credentials(Credentials::new(
                user.to_owned(),
                settings
                    .smtp_password
                    .as_ref()
                    .map(|p| p.expose().to_owned())
                    .unwrap_or_default(),
            ));
        }
        Ok(Some(Self {
            transport: builder.build(),
            id_domain: from.email.domain().to_owned(),
            from,
            relay: format!("{host}:{port} ({:?})", settings.smtp_tls),
        }))
    }

    /// Try to deliver one outbox message.
    pub async fn send(&self, due: &Due) -> Outcome {
        let message = match self.message(due) {
            Ok(m) => m,
            Err(e) => return Outcome::Reject(e),
        };
        match self.transport.send(message).await {
            Ok(_) => Outcome::Sent,
            Err(e) if e.is_permanent() => Outcome::Reject(format!("{e}")),
            Err(e) => Outcome::Retry(format!("{e}")),
        }
    }

    fn message(&self, due: &Due) -> Result<Message, String> {
        let address = parse_address(&due.recipient)?;
        let to = Mailbox::new(
            due.recipient_name.clone().filter(|n| !n.trim().is_empty()),
            address,
        );
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(due.subject.clone())
            // Stable across attempts, so a copy resent after a crash can be recognised.
            .message_id(Some(format!(
                "<rollcall.outbox.{}.{}@{}>",
                due.id, due.created_at, self.id_domain
            )));
        let built = match &due.body_html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                due.body_text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(due.body_text.clone()),
        };
        built.map_err(|e| format!("cannot build the message: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_addresses_are_refused() {
        assert!(parse_address("ann@school.test").is_ok());
        assert!(parse_address(" ann@school.test ").is_ok());
        for bad in [
            "",
            "ann",
            "ann@",
            "@school.test",
            "a b@school.test",
            "ann@school.test>",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?}");
        }
    }
}
