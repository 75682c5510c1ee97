//! API Credentials' lists: a merchant's keys by the state a person sees, narrowed by a
//! search on the name or the visible part of the key, counted and read a page at a time,
//! so a merchant with thousands of revoked keys reads only the rows on screen.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable};
use time::PrimitiveDateTime;

use super::row::KeyRow;
use crate::db::merchants::lower;
use crate::db::schema::api_keys;
use crate::db::{DbConnection, DbError};
use crate::domain::{Environment, KeyStatus, MerchantId};

type Backend = <DbConnection as diesel::Connection>::Backend;

/// A state as API Credentials shows it, told apart in SQL the way
/// [`crate::domain::KeyFacts::display_status`] tells it apart in Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// Active and not expired.
    Active,
    /// Disabled and not expired.
    Disabled,
    /// Active or disabled, past its expiry.
    Expired,
    /// Rotated, its grace period not over.
    InGrace,
    /// Rotated, its grace period over: it no longer works.
    Retired,
    /// Revoked.
    Revoked,
}

/// Which of a merchant's keys a list shows.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    /// The merchant.
    pub merchant_id: &'a MerchantId,
    /// The states shown; none shows nothing.
    pub states: &'a [Listed],
    /// Part of the name or of the masked key, in any letter case, if searching.
    pub search: Option<&'a str>,
    /// Only keys that expire by then, if given.
    pub expiring_by: Option<PrimitiveDateTime>,
    /// Now, which decides what has expired.
    pub now: PrimitiveDateTime,
    /// Only keys of this environment, if given.
    pub environment: Option<Environment>,
}

type Predicate = Box<dyn BoxableExpression<api_keys::table, Backend, SqlType = Nullable<Bool>>>;

fn unexpired(now: PrimitiveDateTime) -> Predicate {
    Box::new(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
}

fn in_state(state: Listed, now: PrimitiveDateTime) -> Predicate {
    let stored = |status: KeyStatus| api_keys::status.eq(status.as_str()).nullable();
    match state {
        Listed::Active => Box::new(stored(KeyStatus::Active).and(unexpired(now))),
        Listed::Disabled => Box::new(stored(KeyStatus::Disabled).and(unexpired(now))),
        Listed::Expired => Box::new(
            api_keys::status
                .eq_any([KeyStatus::Active.as_str(), KeyStatus::Disabled.as_str()])
                .nullable()
                .and(api_keys::expires_at.le(now)),
        ),
        Listed::InGrace => Box::new(stored(KeyStatus::Rotated).and(api_keys::grace_ends_at.gt(now))),
        Listed::Retired => Box::new(stored(KeyStatus::Rotated).and(api_keys::grace_ends_at.le(now))),
        Listed::Revoked => Box::new(stored(KeyStatus::Revoked)),
    }
}

/// `text` as a LIKE pattern that finds it anywhere, its own `%`, `_` and `\\` taken
/// literally.
fn contains_pattern(text: &str) -> String {
    let escaped: String = text
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

fn listed<'a>(listing: &Listing<'a>) -> api_keys::BoxedQuery<'a, Backend> {
    let mut query = api_keys::table
        .filter(api_keys::merchant_id.eq(listing.merchant_id.as_str()))
        .into_boxed();
    let mut states = listing.states.iter().map(|state| in_state(*state, listing.now));
    // No state matches no key: an always-false predicate keeps the query's shape.
    let first = states
        .next()
        .unwrap_or_else(|| Box::new(api_keys::id.ne(api_keys::id).nullable()));
    query = query.filter(states.fold(first, |any, state| Box::new(any.or(state))));
    if let Some(by) = listing.expiring_by {
        query = query.filter(api_keys::expires_at.le(by));
    }
    if let Some(environment) = listing.environment {
        query = query.filter(api_keys::environment.eq(environment.as_str()));
    }
    if let Some(text) = listing.search {
        let pattern = contains_pattern(text);
        query = query.filter(
            lower(api_keys::name)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(api_keys::masked_key).like(pattern).escape('\\')),
        );
    }
    query
}

/// The keys `listing` shows by stored state (whose names sort as the page lists them:
/// active, disabled, rotated, revoked), then newest first; from `offset`, at most
/// `limit`.
pub fn list_page(
    conn: &mut DbConnection,
    listing: &Listing<'_>,
    offset: i64,
    limit: i64,
) -> Result<Vec<KeyRow>, DbError> {
    Ok(listed(listing)
        .select(KeyRow::as_select())
        .order((
            api_keys::status.asc(),
            api_keys::created_at.desc(),
            api_keys::version.desc(),
            api_keys::id.asc(),
        ))
        .offset(offset)
        .limit(limit)
        .load(conn)?)
}

/// How many keys `listing` shows.
pub fn count_listed(conn: &mut DbConnection, listing: &Listing<'_>) -> Result<i64, DbError> {
    Ok(listed(listing).count().get_result(conn)?)
}

/// Where a page of the management API's list starts, and how it narrows the list.
#[derive(Debug, Clone, Copy)]
pub struct Seek<'a> {
    /// Only keys whose name holds this, in any letter case.
    pub name: Option<&'a str>,
    /// Only keys stored before this position (`seq`): the last one of the page before.
    pub before: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// The keys `listing` shows, newest first by their
/// position in the table (`seq`), each with that position: a page that starts after the
/// previous page's last position sees every key once, however many are added meanwhile.
pub fn page_by_seq(
    conn: &mut DbConnection,
    listing: &Listing<'_>,
    seek: Seek<'_>,
) -> Result<Vec<(i64, KeyRow)>, DbError> {
    let mut query = listed(listing);
    if let Some(name) = seek.name {
        query = query.filter(lower(api_keys::name).like(contains_pattern(name)).escape('\\'));
    }
    if let Some(before) = seek.before {
        query = query.filter(api_keys::seq.lt(before));
    }
    Ok(query
        .select((api_keys::seq, KeyRow::as_select()))
        .order(api_keys::seq.desc())
        .limit(seek.limit)
        .load(conn)?)
}
