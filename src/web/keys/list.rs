//! `GET /settings/api-credentials`: the merchant's keys by state, with their usage.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::cards::{KeyCard, Usage, card};
use crate::db::{DbError, key_policies, keys as key_rows, usage as db_usage};
use crate::domain::{DisplayStatus, KeySurroundings, allowed_actions};
use crate::usage::hour_of as usage_hour;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::respond::render;
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;

/// Settings → API Credentials.
#[derive(Template)]
#[template(path = "settings/api_credentials.html")]
struct ApiCredentialsPage {
    shell: Shell,
    expiring_count: usize,
    expiring_filter: bool,
    can_manage: bool,
    flash: Option<String>,
    error: Option<String>,
    active_count: usize,
    max_active: u32,
    current: Vec<KeyCard>,
    rotated: Vec<KeyCard>,
    retired: Vec<KeyCard>,
    revoked: Vec<KeyCard>,
}

/// A narrowing of the list.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Filter {
    /// Keys that expire within 7 days.
    ExpiringSoon,
}

pub(super) async fn list_page(
    user: &CurrentUser,
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
    filter: Option<Filter>,
) -> Result<HttpResponse, WebError> {
    let shell = Shell::new(user, Area::ApiCredentials);
    let Some(merchant) = user.merchant.clone() else {
        // Support staff pick a merchant in the console first; an account in no merchant
        // yet has only its invitations to answer.
        let elsewhere = if user.is_support() {
            crate::web::paths::SUPPORT
        } else {
            crate::web::paths::INVITATIONS
        };
        return Ok(crate::web::respond::see_other(elsewhere));
    };
    let now = state.clock.now();
    let merchant_id = merchant.merchant_id.clone();
    let (rows, policy, usage) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            let rows = key_rows::list(conn, &merchant_id)?;
            let ids: Vec<String> = rows.iter().map(|row| row.id.to_string()).collect();
            let usage = Usage {
                day: db_usage::totals_since(conn, &ids, usage_hour(now - time::Duration::hours(23)))?,
                hour: db_usage::totals_since(conn, &ids, usage_hour(now - time::Duration::hours(1)))?,
                refused: db_usage::last_refusals(conn, &ids)?,
            };
            Ok((rows, key_policies::get(conn, &merchant_id)?, usage))
        })
        .await?;
    let facts: Vec<_> = rows.iter().map(|row| (row, row.facts())).collect();
    let active_keys = facts
        .iter()
        .filter(|(_, facts)| facts.counts_toward_limit(now))
        .count();
    // Lineages with a version in its grace period: their current version waits to rotate.
    let in_grace: HashSet<&str> = facts
        .iter()
        .filter(|(_, key)| key.in_grace(now))
        .map(|(row, _)| row.lineage_id.as_str())
        .collect();
    let mut cards = Vec::with_capacity(facts.len());
    for (row, key) in &facts {
        let lineage_in_grace = !key.in_grace(now) && in_grace.contains(row.lineage_id.as_str());
        let mut card = card(row, now)?;
        card.offer(&allowed_actions(
            key,
            &KeySurroundings {
                lineage_in_grace,
                active_keys: u64::try_from(active_keys).unwrap_or(u64::MAX),
                policy: &policy,
                role: merchant.role,
                now,
            },
        ));
        cards.push(card);
    }
    for card in &mut cards {
        usage.apply(card, now);
    }
    let (mut current, mut rotated, mut retired, mut revoked) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for card in cards {
        match card.display {
            DisplayStatus::Active | DisplayStatus::Disabled | DisplayStatus::Expired => current.push(card),
            DisplayStatus::Rotated => rotated.push(card),
            // Earlier versions whose grace period ended stay listed, with when they stopped.
            DisplayStatus::Retired => retired.push(card),
            DisplayStatus::Revoked => revoked.push(card),
            DisplayStatus::Deleted => {}
        }
    }
    current.sort_by(|a, b| a.display.cmp(&b.display).then(b.created_at.cmp(&a.created_at)));
    retired.sort_by_key(|card| std::cmp::Reverse(card.stopped_at));
    for old in &mut rotated {
        if let Some(successor) = current
            .iter()
            .find(|card| card.lineage_id == old.lineage_id && card.version > old.version)
        {
            old.successor_last_hour = successor.last_hour;
            old.successor_version = successor.version;
        }
    }
    let expiring_count = current.iter().filter(|card| card.expires_soon).count();
    if filter == Some(Filter::ExpiringSoon) {
        current.retain(|card| card.expires_soon);
    }
    render(
        status,
        &ApiCredentialsPage {
            expiring_count,
            expiring_filter: filter == Some(Filter::ExpiringSoon),
            can_manage: merchant.role.can_manage_keys(),
            flash: user.session.take_flash(),
            error,
            // The merchant's active keys whatever the filter shows: what the limit counts.
            active_count: active_keys,
            max_active: policy.max_active_keys,
            current,
            rotated,
            retired,
            revoked,
            shell,
        },
    )
}

/// `GET /settings/api-credentials` (`?filter=expiring` for keys expiring within 7 days).
pub async fn list(
    req: HttpRequest,
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let query: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let filter = query
        .iter()
        .any(|(name, value)| name == "filter" && value == "expiring")
        .then_some(Filter::ExpiringSoon);
    list_page(&user, &state, StatusCode::OK, None, filter).await
}
