//! Invitations instead of passwords: an account the school office creates without a password
//! (stored as [`password::NO_PASSWORD`]) gets a single-use link, `{base_url}/app/#/invitation/{token}`,
//! through the outbox; the web page reads who it is for and sets the password with it.
//!
//! The token is 256 random bits, stored only as a keyed hash (HMAC-SHA256 under the signing
//! secret, so a copied database cannot be turned into working links); it runs out after
//! `ROLLCALL_INVITATION_DAYS` and works once. Each account has one link at a time: a new one
//! (the office's resend, or the roster import inviting again) replaces the old one at once.

use std::sync::Arc;

use super::auth::{Auth, Grant, Lifetime, account_key};
use super::tokens::{self, Keys};
use super::{Error, Result, password};
use crate::domain::Id;
use crate::domain::invitations::Invitation;
use crate::domain::users::User;
use crate::notify::templates;
use crate::storage::{Conn, StorageError, audit, invitations, outbox, sessions, users};

/// The outbox kind of invitation mails. It belongs to no switchable topic, so a user's
/// notification preferences never stop it.
pub const MAIL_KIND: &str = "invitation";
/// The answer for an unknown token and a used one alike, so tokens cannot be probed.
pub const INVALID_LINK: &str = "This invitation link is not valid or has already been used; \
     if you have not chosen your password yet, ask your school office for a new link";
pub const EXPIRED_LINK: &str =
    "This invitation link has expired; ask your school office for a new one";
/// The purpose under which tokens are hashed (see `tokens::Keys::mac`).
const MAC_PURPOSE: &str = "invitation";
/// Longer input is not a token of ours (ours are 43 characters).
const MAX_TOKEN_CHARS: usize = 128;

/// Sends invitation links. Cheap to clone; obtained from [`Auth::inviter`].
#[derive(Clone)]
pub struct Inviter {
    /// `settings.base_url()`, without a trailing `/`.
    link_base: String,
    lifetime_secs: i64,
    keys: Arc<Keys>,
}

impl std::fmt::Debug for Inviter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inviter")
            .field("link_base", &self.link_base)
            .field("lifetime_secs", &self.lifetime_secs)
            .finish_non_exhaustive()
    }
}

impl Inviter {
    #[must_use]
    pub(super) fn new(link_base: String, lifetime_secs: i64, keys: Arc<Keys>) -> Self {
        Self {
            link_base: link_base.trim_end_matches('/').to_owned(),
            lifetime_secs,
            keys,
        }
    }

    /// The inviter of a command run next to the server (`rollcall import-roster`): the same
    /// links, lifetime and signing key as the server with these settings, so the links it mails
    /// are the ones the server accepts.
    pub fn for_command(
        db: &crate::storage::Db,
        settings: &crate::config::Settings,
    ) -> anyhow::Result<Self> {
        let secret = super::accounts::signing_secret(db, settings)?;
        Ok(Self::new(
            settings.base_url(),
            settings.invitation_lifetime_secs(),
            Arc::new(Keys::new(&secret)),
        ))
    }

    /// How long a link stays valid, in seconds (`ROLLCALL_INVITATION_DAYS`).
    #[must_use]
    pub fn lifetime_secs(&self) -> i64 {
        self.lifetime_secs
    }

    /// What the database stores for `token`.
    fn token_hash(&self, token: &str) -> String {
        self.keys.mac(MAC_PURPOSE, token)
    }

    /// Inside the caller's write transaction: a fresh single-use set-password link for `user`
    /// (any earlier link of theirs stops working), mailed through the outbox, and the audit
    /// entry `invitation.send` by `by`. Meant for accounts without a password
    /// ([`password::NO_PASSWORD`]): a link to an account that has one is refused when used.
    /// The link is never logged; without a relay the office reads it in the outbox.
    pub fn queue(
        &self,
        tx: &Conn<'_>,
        user: &User,
        by: Option<&Id>,
        now: i64,
    ) -> std::result::Result<(), StorageError> {
        let token = tokens::random_secret();
        let expires_at = now.saturating_add(self.lifetime_secs);
        invitations::put(tx, &user.id, &self.token_hash(&token), now, expires_at, by)?;
        let link = format!("{}/app/#/invitation/{token}", self.link_base);
        let m = templates::invitation(
            &user.name,
            user.email.as_str(),
            user.role.as_str(),
            &link,
            (self.lifetime_secs / 86_400).max(1),
        );
        let id = outbox::enqueue(
            tx,
            &outbox::NewMessage {
                kind: MAIL_KIND,
                recipient: user.email.as_str(),
                subject: &m.subject,
                body_text: &m.text,
                body_html: Some(&m.html),
                user: Some(&user.id),
                recipient_name: Some(&user.name),
                ..outbox::NewMessage::default()
            },
        )?;
        audit::record(
            tx,
            by,
            "invitation.send",
            Some(user.id.as_str()),
            &format!("valid until {expires_at}"),
        )?;
        tracing::info!(kind = MAIL_KIND, outbox_id = ?id, "e-mail queued in the outbox");
        Ok(())
    }

    /// The stored hash of a token as presented, or the refusal for input that cannot be one.
    fn presented(&self, token: &str) -> Result<String> {
        let token = token.trim();
        if token.is_empty() || token.chars().count() > MAX_TOKEN_CHARS {
            return Err(Error::BadRequest(INVALID_LINK.into()));
        }
        Ok(self.token_hash(token))
    }
}

/// The account a token invites, when the token is still usable at `now`; else which refusal.
fn usable(
    conn: &Conn<'_>,
    token_hash: &str,
    now: i64,
) -> std::result::Result<std::result::Result<(User, Invitation), &'static str>, StorageError> {
    let Some(invitation) = invitations::by_token_hash(conn, token_hash)? else {
        return Ok(Err(INVALID_LINK));
    };
    if invitation.accepted_at.is_some() {
        return Ok(Err(INVALID_LINK));
    }
    let Some(user) = users::by_id(conn, &invitation.user_id)? else {
        return Ok(Err(INVALID_LINK));
    };
    // A password chosen another way (a reset code) ends the invitation too.
    if !password::is_unset(&user.password_hash) {
        return Ok(Err(INVALID_LINK));
    }
    if invitation.expires_at <= now {
        return Ok(Err(EXPIRED_LINK));
    }
    Ok(Ok((user, invitation)))
}

impl Auth {
    /// Who a still-usable invitation link is for (the web page greets them with it). 400 for an
    /// unknown, used or expired link.
    pub async fn invitation(&self, token: &str) -> Result<(User, Invitation)> {
        let hash = self.inviter.presented(token)?;
        let now = self.clock.now();
        self.db
            .run(move |c| usable(c, &hash, now))
            .await?
            .map_err(|m| Error::BadRequest(m.into()))
    }

    /// Choose the password with an invitation link: the policy is checked, the link is checked
    /// before any hashing (a guess costs no worker) and again, and spent, in the transaction
    /// that sets the password and marks the account verified (so of two concurrent uses exactly
    /// one succeeds). Then the account is signed in, as a login would.
    pub async fn accept_invitation(
        &self,
        token: &str,
        new_password: String,
        client: &str,
        lifetime: Lifetime,
    ) -> Result<Grant> {
        password::check_policy(&new_password).map_err(Error::Invalid)?;
        let hash = self.inviter.presented(token)?;
        let (check, now) = (hash.clone(), self.clock.now());
        self.db
            .run(move |c| usable(c, &check, now))
            .await?
            .map_err(|m| Error::BadRequest(m.into()))?;
        let password_hash = self.hashing.hash(new_password).await?;
        let now = self.clock.now();
        let accepted = self
            .db
            .transaction(move |tx| {
                let (user, _) = match usable(tx, &hash, now)? {
                    Ok(found) => found,
                    Err(refusal) => return Ok::<_, Error>(Err(refusal)),
                };
                if !invitations::accept(tx, &user.id, &hash, now)? {
                    return Ok(Err(INVALID_LINK));
                }
                users::set_password_hash(tx, &user.id, &password_hash)?;
                users::set_verified(tx, &user.id)?;
                sessions::revoke_all_for_user(tx, &user.id)?;
                audit::record(
                    tx,
                    Some(&user.id),
                    "invitation.accept",
                    Some(user.id.as_str()),
                    "password chosen",
                )?;
                Ok(Ok(user))
            })
            .await?;
        let mut user = accepted.map_err(|m| Error::BadRequest(m.into()))?;
        user.is_verified = true;
        let account = account_key(user.email.as_str());
        self.start_session(user, client.to_owned(), account, lifetime)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_mails_belong_to_no_switchable_topic() {
        assert_eq!(outbox::topic_of(MAIL_KIND), None);
    }

    #[test]
    fn tokens_are_hashed_under_the_key_and_odd_input_is_refused() {
        let a = Inviter::new("http://x.test/".into(), 60, Arc::new(Keys::new(&[1u8; 32])));
        let b = Inviter::new("http://x.test".into(), 60, Arc::new(Keys::new(&[2u8; 32])));
        assert_eq!(a.link_base, "http://x.test");
        let token = tokens::random_secret();
        let ha = a.presented(&token).unwrap_or_default();
        assert_eq!(ha.len(), 64);
        assert_ne!(ha, tokens::sha256_hex(&token), "keyed, not a plain hash");
        assert_ne!(ha, b.presented(&token).unwrap_or_default());
        assert_eq!(a.presented(&format!(" {token}\n")).ok(), Some(ha));
        for bad in ["", "   ", &"x".repeat(129)] {
            assert!(matches!(a.presented(bad), Err(Error::BadRequest(_))));
        }
        assert!(!format!("{a:?}").contains("keys"));
    }
}
