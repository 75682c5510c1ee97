//! What the areas of Management Tokens share: a token as the page shows it, finding the
//! token a form acts on, the modal frame, and how a refused change is shown.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use time::PrimitiveDateTime;

use crate::db::management_tokens::{self, TokenRow};
use crate::domain::{MerchantId, TokenId};
use crate::service::tokens::TokenError;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::sentence;
use crate::web::shell::Area;
use crate::web::state::AppState;
use crate::web::{format, modal};

pub(super) const LIST: &str = crate::web::paths::MANAGEMENT_TOKENS;

/// The token's last accepted request.
pub struct LastUse {
    /// Relative ("5 minutes ago").
    pub ago: String,
    /// Exactly, for the hover text.
    pub exact: String,
    /// As RFC 3339.
    pub iso: String,
    /// The client's address, or empty.
    pub from: String,
}

/// A token as a row of the list and at the top of its dialogs.
pub struct TokenView {
    /// Its ID.
    pub id: TokenId,
    /// Its name.
    pub name: String,
    /// `kw_mgmt_AbCd…WxYz`.
    pub masked: String,
    /// Its scope names.
    pub scopes: Vec<&'static str>,
    /// Who created it.
    pub created_by: String,
    /// When, as shown.
    pub created: String,
    /// When, as RFC 3339.
    pub created_iso: String,
    /// Its last use; `None` when never used.
    pub last_used: Option<LastUse>,
    /// "Never", the expiry, or "Expired …".
    pub expires: String,
    /// Active, Expired or Revoked.
    pub status: &'static str,
    /// The status for CSS.
    pub status_class: &'static str,
    /// When it was revoked, as shown; empty when it was not.
    pub revoked: String,
    /// Who revoked it.
    pub revoked_by: String,
}

impl TokenView {
    /// Revoke is offered for every token not revoked yet, expired ones included.
    pub fn revocable(&self) -> bool {
        self.revoked.is_empty()
    }
}

/// Reads `row` as the page shows it at `now`: revoked, else expired once its expiry has
/// passed (the time the API refuses it from), else active.
pub(super) fn view(row: &TokenRow, now: PrimitiveDateTime) -> TokenView {
    let (status, status_class) = if row.revoked_at.is_some() {
        ("Revoked", "inactive")
    } else if row.is_usable(now) {
        ("Active", "active")
    } else {
        ("Expired", "disabled")
    };
    let expires = match row.expires_at {
        None => "Never".to_owned(),
        Some(at) if at <= now => format!("Expired {}", format::datetime(at)),
        Some(at) => format::datetime(at),
    };
    TokenView {
        id: row.id.clone(),
        name: row.name.clone(),
        masked: row.masked_token.clone(),
        scopes: row.scopes.names(),
        created_by: row.created_by.clone(),
        created: format::datetime(row.created_at),
        created_iso: format::iso(row.created_at),
        last_used: row.last_used_at.map(|at| LastUse {
            ago: format::ago(now, at),
            exact: format::datetime(at),
            iso: format::iso(at),
            from: row.last_used_from.clone().unwrap_or_default(),
        }),
        expires,
        status,
        status_class,
        revoked: row.revoked_at.map(format::datetime).unwrap_or_default(),
        revoked_by: row.revoked_by.clone().unwrap_or_default(),
    }
}

/// A modal in its frame (for htmx) or as a page of its own (without JavaScript).
pub(super) fn modal(
    req: &HttpRequest,
    user: &CurrentUser,
    status: StatusCode,
    title: &str,
    body: &impl Template,
) -> Result<HttpResponse, WebError> {
    modal::show(req, user, Area::ManagementTokens, status, title, body)
}

/// The merchant's token a form acts on, for an admin; another merchant's token is not
/// found.
pub(super) async fn token_of(
    user: &CurrentUser,
    state: &AppState,
    token_id: &TokenId,
) -> Result<(MerchantId, TokenRow), WebError> {
    let merchant_id = user.admin()?.merchant_id.clone();
    let (wanted, id) = (merchant_id.clone(), token_id.clone());
    let row = state
        .db
        .run(move |conn| management_tokens::find(conn, &wanted, &id))
        .await?
        .ok_or(WebError::NotFound)?;
    Ok((merchant_id, row))
}

/// A refused token change as the form shows it: its status, its message, and the
/// label of the field it is about, if it is about one.
pub(super) struct Refused {
    /// 409 for a conflict, 422 for a wrong value.
    pub status: StatusCode,
    /// What to tell the admin, as a sentence.
    pub message: String,
    /// The field's label ("Name", "Scopes", "Expiration").
    pub field: Option<&'static str>,
}

/// How a refused token change is shown in place; what no form can fix is an error page.
pub(super) fn in_place(err: TokenError) -> Result<Refused, WebError> {
    let refused = |status, field, message| {
        Ok(Refused {
            status,
            message,
            field,
        })
    };
    match err {
        TokenError::Invalid(invalid) => refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(invalid.field()),
            sentence(&invalid),
        ),
        TokenError::NameTaken(_) => refused(StatusCode::CONFLICT, Some("Name"), err.to_string()),
        TokenError::RevokeNotConfirmed => refused(StatusCode::UNPROCESSABLE_ENTITY, None, err.to_string()),
        TokenError::AlreadyRevoked | TokenError::AlreadySubmitted => {
            refused(StatusCode::CONFLICT, None, err.to_string())
        }
        TokenError::NotFound => Err(WebError::NotFound),
        TokenError::NotPermitted => Err(WebError::Forbidden),
        TokenError::Db(err) => Err(err.into()),
    }
}
