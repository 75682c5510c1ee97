//! Who calls the management API: a management token, read from `Authorization: Bearer`,
//! checked against the database on every request (so a token revoked on one instance
//! is refused by every instance on its next request), limited per token.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::ManageState;
use super::error::ManageError;
use crate::db::management_tokens::{self, TokenRow};
use crate::domain::{Actor, KEY_PREFIX, ManagementToken, TokenScope};

/// A request's verified management token, and the actor history records for it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token as stored.
    pub token: TokenRow,
    /// "token <name>", created by whom, from where.
    pub actor: Actor,
}

impl Caller {
    /// The caller's token carries `scope`, or the request is refused with 403.
    pub fn require(&self, scope: TokenScope) -> Result<(), ManageError> {
        if self.token.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ManageError::MissingScope(scope))
        }
    }
}

/// Reads the token out of the header without any I/O: a missing header, an API key, or
/// a token with a wrong checksum is refused here.
fn presented(req: &HttpRequest) -> Result<ManagementToken, ManageError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let value = values.next().ok_or(ManageError::MissingToken)?;
    if values.next().is_some() {
        return Err(ManageError::MissingToken);
    }
    let value = value.to_str().map_err(|_| ManageError::MissingToken)?.trim();
    let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
    let credential = credential.trim();
    if scheme.eq_ignore_ascii_case("ApiKey") || credential.starts_with(KEY_PREFIX) {
        return Err(ManageError::ApiKeyNotAccepted);
    }
    if !scheme.eq_ignore_ascii_case("Bearer") || credential.is_empty() {
        return Err(ManageError::MissingToken);
    }
    ManagementToken::parse(credential).map_err(ManageError::MalformedToken)
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(200).collect())
}

async fn authenticate(req: HttpRequest) -> Result<Caller, ManageError> {
    let state = req
        .app_data::<web::Data<ManageState>>()
        .ok_or_else(|| ManageError::Unexpected(anyhow::anyhow!("the management API has no state")))?
        .clone();
    let token = presented(&req)?;
    let digest = token.digest(&state.pepper);
    let client = state.proxies.client_address(&req);
    let address = client.map(|address| address.to_string());
    let client = client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let now = state.clock.now();
    let found = state
        .db
        .run(move |conn| management_tokens::find_by_digest(conn, &digest))
        .await?;
    let Some(row) = found else {
        // Made-up tokens spend their address's budget, and past it are answered 429;
        // the budget is spent only once a token is known to be made up, so a flood of
        // them never locks a real token out.
        if state.unknown.take(client).await.is_none() {
            return Err(ManageError::TooManyUnknownTokens);
        }
        return Err(ManageError::InvalidToken);
    };
    // Revoked and expired tokens count too: retrying one is no cheaper than using it.
    state
        .limits
        .admit(row.id.as_str(), state.requests_per_minute)
        .await
        .map_err(ManageError::RateLimited)?;
    if row.revoked_at.is_some() {
        return Err(ManageError::TokenRevoked);
    }
    if !row.is_usable(now) {
        return Err(ManageError::TokenExpired);
    }
    // Last use is kept to the minute: a busy pipeline costs one write a minute.
    if row
        .last_used_at
        .is_none_or(|at| now - at >= time::Duration::minutes(1))
    {
        let touched = row.id.clone();
        let from = address.clone();
        state
            .db
            .run(move |conn| management_tokens::touch(conn, &touched, now, from.as_deref()))
            .await?;
    }
    let actor = Actor::token(&row.id, &row.name, &row.created_by, address, user_agent(&req));
    Ok(Caller { token: row, actor })
}

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await.map_err(Into::into) })
    }
}
