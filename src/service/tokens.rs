//! Management tokens: created and revoked by a merchant's admins, each change with its
//! history event in one transaction.

use serde_json::json;
use time::{Duration, PrimitiveDateTime};

use super::authority::Denied;
use super::change::Change;
use crate::db::key_events::EventType;
use crate::db::management_tokens::{self, NewToken, TokenRow};
use crate::db::{DbConnection, DbError, write_transaction};
use crate::domain::{
    KeyName, KeyPepper, ManagementToken, MerchantId, Permission, TokenId, TokenScopes, ValidationError,
};

/// The longest lifetime a token may be given.
pub const MAX_TOKEN_DAYS: u32 = 3650;

/// The lifetimes the page offers, in days.
pub const TOKEN_LIFETIMES: [u32; 4] = [7, 30, 90, 365];

/// Why a token change did not happen. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No such token for this merchant.
    #[error("no such token")]
    NotFound,
    /// A field is wrong.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Another token that still works has this name.
    #[error("Another token is already named \"{0}\". Choose a different name.")]
    NameTaken(String),
    /// The typed confirmation was not exactly REVOKE.
    #[error("Type REVOKE, in capital letters, to confirm.")]
    RevokeNotConfirmed,
    /// The token was revoked before.
    #[error("This token is revoked already.")]
    AlreadyRevoked,
    /// The actor may no longer manage tokens.
    #[error("You no longer have permission to make this change.")]
    NotPermitted,
    /// The form that asks for it made a token already (sent twice at once).
    #[error("This form was already submitted, so no other token was made.")]
    AlreadySubmitted,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<Denied> for TokenError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotPermitted => TokenError::NotPermitted,
            Denied::Db(err) => TokenError::Db(err),
        }
    }
}

impl From<diesel::result::Error> for TokenError {
    fn from(err: diesel::result::Error) -> Self {
        TokenError::Db(err.into())
    }
}

/// What the New Token form asks for, as typed.
#[derive(Debug, Clone, Default)]
pub struct CreateToken {
    /// The token's name.
    pub name: String,
    /// Scope names; at least one.
    pub scopes: Vec<String>,
    /// Days until it stops working; `None` for never.
    pub expires_in_days: Option<u32>,
    /// The one-time value of the form that asks for it: a second token with the same
    /// value is refused, so a form sent twice at once makes one token.
    pub request_id: Option<String>,
}

/// A token just created: the plaintext, to show once, and its row.
#[derive(Debug)]
pub struct CreatedToken {
    /// The whole token. Shown once; stored nowhere.
    pub token: ManagementToken,
    /// The stored token.
    pub row: TokenRow,
}

fn parse_days(days: Option<u32>) -> Result<Option<u32>, ValidationError> {
    match days {
        Some(days) if days == 0 || days > MAX_TOKEN_DAYS => Err(ValidationError::Invalid {
            field: "Expiration",
            reason: "choose between 1 and 3650 days, or no expiry",
        }),
        other => Ok(other),
    }
}

/// Creates a token for the merchant: an admin's change, recorded in history. The
/// plaintext is returned once and kept nowhere.
pub fn create(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    request: &CreateToken,
    actor: &crate::domain::Actor,
    pepper: &KeyPepper,
    now: PrimitiveDateTime,
) -> Result<CreatedToken, TokenError> {
    // A token's name follows a key's rules, which also refuse a key or token inside it.
    let name = KeyName::parse(&request.name, true)?.ok_or(ValidationError::Empty { field: "Name" })?;
    let scopes = TokenScopes::parse(&request.scopes)?;
    let days = parse_days(request.expires_in_days)?;
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::Admin, now)?;
        if management_tokens::name_taken(conn, merchant_id, name.as_str())? {
            return Err(TokenError::NameTaken(name.as_str().to_owned()));
        }
        let token = ManagementToken::generate();
        let id = TokenId::generate();
        let expires_at = days.map(|days| now + Duration::days(i64::from(days)));
        management_tokens::insert(
            conn,
            NewToken {
                id: &id,
                merchant_id,
                name: name.as_str(),
                scopes: &scopes,
                digest: &token.digest(pepper),
                masked_token: &token.masked(),
                created_at: now,
                created_by: &actor.name,
                created_by_id: actor.id.as_deref(),
                expires_at,
                request_id: request.request_id.as_deref(),
            },
        )
        .map_err(|err| match err {
            DbError::UniqueViolation(message) if message.contains("request_id") => {
                TokenError::AlreadySubmitted
            }
            other => TokenError::Db(other),
        })?;
        let details = json!({
            "token_id": id,
            "name": name.as_str(),
            "token": token.masked(),
            "scopes": scopes.names(),
            "expires_at": expires_at.map(|at| at.to_string()),
        });
        change.record(conn, None, EventType::TokenCreated, &details)?;
        let row = management_tokens::find(conn, merchant_id, &id)?.ok_or(TokenError::NotFound)?;
        Ok(CreatedToken { token, row })
    })
}

/// Revokes a token for good, once `REVOKE` was typed exactly. Every instance reads the
/// token on each request, so the next request with it is refused everywhere.
pub fn revoke(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    token_id: &TokenId,
    confirmation: &str,
    actor: &crate::domain::Actor,
    now: PrimitiveDateTime,
) -> Result<TokenRow, TokenError> {
    write_transaction(conn, |conn| {
        let change = Change::begin(conn, merchant_id, actor, Permission::Admin, now)?;
        let token = management_tokens::find(conn, merchant_id, token_id)?.ok_or(TokenError::NotFound)?;
        if token.revoked_at.is_some() {
            return Err(TokenError::AlreadyRevoked);
        }
        if confirmation != "REVOKE" {
            return Err(TokenError::RevokeNotConfirmed);
        }
        management_tokens::revoke(conn, token_id, now, &actor.name)?;
        let details = json!({ "token_id": token.id, "name": token.name, "token": token.masked_token });
        change.record(conn, None, EventType::TokenRevoked, &details)?;
        management_tokens::find(conn, merchant_id, token_id)?.ok_or(TokenError::NotFound)
    })
}
