//! `Idempotency-Key` on every POST and PATCH: the first request with a key runs and its
//! answer is kept for 24 hours; a retry with the same key and the same request gets that
//! answer again, changing nothing; the same key with another request is refused. A key's
//! plaintext is never kept: the kept answer is the one a replay gives.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::{Duration, PrimitiveDateTime};
use utoipa::IntoParams;

use super::ManageState;
use super::auth::Caller;
use super::error::ManageError;
use crate::db::management_tokens;
use crate::domain::TokenId;

/// The request header that names a request for retries.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The header a replayed answer carries.
pub const REPLAYED: &str = "Idempotent-Replayed";
/// How long an answer is kept; older ones are ignored, and the sweep removes them.
pub const KEPT_FOR: Duration = Duration::hours(24);
const MAX_KEY_CHARS: usize = 255;

/// The `Idempotency-Key` header, as the OpenAPI document describes it.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(
    dead_code,
    reason = "only its OpenAPI description is used; `key_of` reads the header"
)]
pub struct IdempotencyKeyHeader {
    /// Names this request for retries: the same key with the same request within 24
    /// hours answers as the first time (`Idempotent-Replayed: true`) and changes nothing
    /// more; with another request it is refused. 1 to 255 visible ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[\\x21-\\x7E]+$"
    )]
    idempotency_key: Option<String>,
}

/// What a change answered, as sent now and as a replay would send it.
#[derive(Debug)]
pub struct Answer {
    status: StatusCode,
    body: serde_json::Value,
    /// What is kept for a replay: the body without any plaintext key.
    kept: serde_json::Value,
    location: Option<String>,
}

impl Answer {
    /// 200 with `resource`.
    pub fn ok(resource: &impl Serialize) -> Result<Self, ManageError> {
        let body = to_json(resource)?;
        Ok(Self {
            status: StatusCode::OK,
            kept: body.clone(),
            body,
            location: None,
        })
    }

    /// 201 with a key made now, at `location`: `first` holds its plaintext, `replayed`
    /// says it is not shown again.
    pub fn created(
        first: &impl Serialize,
        replayed: &impl Serialize,
        location: String,
    ) -> Result<Self, ManageError> {
        Ok(Self {
            status: StatusCode::CREATED,
            body: to_json(first)?,
            kept: to_json(replayed)?,
            location: Some(location),
        })
    }

    fn response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(location) = &self.location {
            response.insert_header((header::LOCATION, location.as_str()));
        }
        if self.body != self.kept {
            // A key's plaintext: no cache may keep what Keyward keeps nowhere.
            response.insert_header((header::CACHE_CONTROL, "no-store"));
        }
        response.json(self.body)
    }
}

fn to_json(resource: &impl Serialize) -> Result<serde_json::Value, ManageError> {
    serde_json::to_value(resource).map_err(|err| ManageError::Unexpected(err.into()))
}

/// The request's `Idempotency-Key`, if it sent one: 1 to 255 visible ASCII characters.
fn key_of(req: &HttpRequest) -> Result<Option<String>, ManageError> {
    let mut values = req.headers().get_all(IDEMPOTENCY_KEY);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = || {
        ManageError::invalid(
            IDEMPOTENCY_KEY,
            "Send one Idempotency-Key of 1 to 255 visible ASCII characters (a UUID, for example).",
        )
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    let key = value.as_bytes();
    if key.is_empty() || key.len() > MAX_KEY_CHARS || !key.iter().all(u8::is_ascii_graphic) {
        return Err(invalid());
    }
    Ok(Some(String::from_utf8_lossy(key).into_owned()))
}

/// What identifies a request: its method, path and body.
fn request_hash(req: &HttpRequest, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(req.method().as_str());
    digest.update(b"\n");
    digest.update(req.path());
    digest.update(b"\n");
    digest.update(body);
    hex::encode(digest.finalize())
}

/// The one-time value a key made under this `Idempotency-Key` is stored with: the same
/// for every retry within the claim's 24 hours (so even a retry after a first attempt
/// that committed but failed to answer makes no second key), and a new one when the
/// same `Idempotency-Key` comes back after them.
fn request_id(token_id: &TokenId, key: &str, claimed_at: PrimitiveDateTime) -> String {
    let mut digest = Sha256::new();
    digest.update(token_id.as_str());
    digest.update(b"\n");
    digest.update(key);
    digest.update(b"\n");
    digest.update(claimed_at.to_string());
    format!("api:{}", hex::encode(digest.finalize()))
}

/// The request that claimed a key, to keep its answer under.
struct Claim {
    token_id: TokenId,
    key: String,
    /// When the key was first claimed: its 24 hours count from then.
    claimed_at: PrimitiveDateTime,
}

enum Claimed {
    /// This request runs.
    First(Claim),
    /// An earlier one answered: this is its answer again.
    Replay(HttpResponse),
}

/// Claims `key` for this request, or finds what the first request with it left.
async fn claim(
    state: &ManageState,
    token_id: &TokenId,
    key: String,
    hash: String,
) -> Result<Claimed, ManageError> {
    let now = state.clock.now();
    let (token, wanted) = (token_id.clone(), key.clone());
    let found = state
        .db
        .run(move |conn| {
            // Outside any transaction: the claim must be seen by a concurrent retry
            // before this request's change commits.
            if management_tokens::claim(conn, &token, &wanted, &hash, now)? {
                return Ok(Err(now));
            }
            match management_tokens::answer(conn, &token, &wanted)? {
                Some(earlier) if !is_stale(earlier.created_at, now) => {
                    if earlier.request_hash != hash {
                        Err(ManageError::IdempotencyKeyReused)
                    } else if given_up(conn, &token, &wanted, &earlier, now)?
                        && management_tokens::retake(conn, &token, &wanted, GIVEN_UP, now)?
                    {
                        // The first attempt failed on our side: this retry runs, within
                        // the first attempt's 24 hours.
                        Ok(Err(earlier.created_at))
                    } else {
                        Ok(Ok(earlier))
                    }
                }
                // Kept too long ago to count: the key starts afresh.
                Some(_) => {
                    management_tokens::release(conn, &token, &wanted)?;
                    if management_tokens::claim(conn, &token, &wanted, &hash, now)? {
                        Ok(Err(now))
                    } else {
                        Err(ManageError::IdempotencyInProgress)
                    }
                }
                None => Err(ManageError::IdempotencyInProgress),
            }
        })
        .await?;
    let earlier = match found {
        Ok(earlier) => earlier,
        Err(claimed_at) => {
            return Ok(Claimed::First(Claim {
                token_id: token_id.clone(),
                key,
                claimed_at,
            }));
        }
    };
    let (Some(status), Some(body)) = (
        earlier.status_code.filter(|status| *status != GIVEN_UP),
        earlier.response_body,
    ) else {
        return Err(ManageError::IdempotencyInProgress);
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|status| StatusCode::from_u16(status).ok())
        .ok_or_else(|| ManageError::Unexpected(anyhow::anyhow!("a kept answer has status {status}")))?;
    let mut response = HttpResponse::build(status);
    response.insert_header((REPLAYED, "true"));
    if let Some(location) = earlier.location {
        response.insert_header((header::LOCATION, location));
    }
    Ok(Claimed::Replay(
        response.content_type("application/json").body(body),
    ))
}

/// How long an attempt may run: past it, its instance stopped without answering (a
/// request's body and its database work end long before).
const ATTEMPT_LEASE: time::Duration = time::Duration::minutes(5);

/// Whether the earlier attempt failed on the server's side: it said so, or it has been
/// running past its lease (then it is marked given up here, once).
fn given_up(
    conn: &mut crate::db::DbConnection,
    token: &TokenId,
    key: &str,
    earlier: &management_tokens::IdempotentAnswer,
    now: PrimitiveDateTime,
) -> Result<bool, ManageError> {
    Ok(match earlier.status_code {
        Some(status) => status == GIVEN_UP,
        None if earlier.attempted_at <= now - ATTEMPT_LEASE => {
            management_tokens::abandon(conn, token, key, earlier.attempted_at, GIVEN_UP)?
        }
        None => false,
    })
}

/// The status a claim keeps when its request failed on the server's side: a retry with
/// the same request may run again, under the same claim.
const GIVEN_UP: i32 = 0;

fn is_stale(created_at: PrimitiveDateTime, now: PrimitiveDateTime) -> bool {
    created_at <= now - KEPT_FOR
}

/// Keeps the answer to a claimed request (an error too, unless the server failed:
/// a retry may then succeed), and sends it.
async fn settle(
    state: &ManageState,
    claim: Claim,
    outcome: Result<Answer, ManageError>,
) -> Result<HttpResponse, ManageError> {
    let Claim { token_id, key, .. } = claim;
    let kept = match &outcome {
        Ok(answer) => Some((answer.status, answer.kept.to_string(), answer.location.clone())),
        Err(err) if err.status_code().is_server_error() => None,
        Err(err) => Some((err.status_code(), err.body().to_string(), None)),
    };
    let stored = state
        .db
        .run(move |conn| match kept {
            Some((status, body, location)) => {
                management_tokens::finish(conn, &token_id, &key, status.as_u16(), &body, location.as_deref())
            }
            None => management_tokens::give_up(conn, &token_id, &key, GIVEN_UP),
        })
        .await;
    if let Err(err) = stored {
        // The change itself is made (or refused) already: answer it. A retry then finds
        // the key still claimed, and the key a created key was stored with stops a
        // second one.
        tracing::warn!(error = %crate::error::cause_chain(&err), "an Idempotency-Key answer could not be kept");
    }
    outcome.map(Answer::response)
}

/// Runs `change` once per `Idempotency-Key` (or every time, without one): `change` is
/// given the one-time value to store a created key with, and answers; a retry gets
/// the same answer again, marked `Idempotent-Replayed: true`.
pub async fn once<F, Fut>(
    state: &ManageState,
    caller: &Caller,
    req: &HttpRequest,
    body: &[u8],
    change: F,
) -> Result<HttpResponse, ManageError>
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: Future<Output = Result<Answer, ManageError>>,
{
    let Some(key) = key_of(req)? else {
        return change(None).await.map(Answer::response);
    };
    let token_id = &caller.token.id;
    match claim(state, token_id, key.clone(), request_hash(req, body)).await? {
        Claimed::Replay(response) => Ok(response),
        Claimed::First(claim) => {
            let outcome = change(Some(request_id(token_id, &key, claim.claimed_at))).await;
            settle(state, claim, outcome).await
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        let with = |value: &str| {
            key_of(
                &TestRequest::default()
                    .insert_header((IDEMPOTENCY_KEY, value))
                    .to_http_request(),
            )
        };
        assert_eq!(with("a-b_c:1").unwrap().as_deref(), Some("a-b_c:1"));
        assert_eq!(with(&"k".repeat(255)).unwrap().map(|key| key.len()), Some(255));
        for bad in ["", "has space", "tab\tkey", &"k".repeat(256)] {
            assert!(matches!(with(bad), Err(ManageError::Invalid { .. })), "{bad:?}");
        }
        assert_eq!(key_of(&TestRequest::default().to_http_request()).unwrap(), None);
    }

    #[test]
    fn the_request_hash_covers_method_path_and_body() {
        let post = |path: &str| TestRequest::post().uri(path).to_http_request();
        let first = request_hash(&post("/api/v1/keys"), b"{}");
        assert_eq!(first, request_hash(&post("/api/v1/keys"), b"{}"));
        assert_ne!(first, request_hash(&post("/api/v1/keys"), b"{ }"));
        assert_ne!(first, request_hash(&post("/api/v1/keys/x/rotate"), b"{}"));
        let patch = TestRequest::patch().uri("/api/v1/keys").to_http_request();
        assert_ne!(first, request_hash(&patch, b"{}"));
    }

    #[test]
    fn a_created_keys_one_time_value_is_the_same_for_every_retry_of_one_claim() {
        let token = TokenId::generate();
        let at = time::macros::datetime!(2026-12-01 10:00);
        assert_eq!(request_id(&token, "k1", at), request_id(&token, "k1", at));
        assert_ne!(request_id(&token, "k1", at), request_id(&token, "k2", at));
        assert_ne!(
            request_id(&token, "k1", at),
            request_id(&TokenId::generate(), "k1", at)
        );
        assert_ne!(
            request_id(&token, "k1", at),
            request_id(&token, "k1", at + time::Duration::days(1)),
            "the same key claimed afresh after its 24 hours"
        );
    }
}
