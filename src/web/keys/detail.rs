//! A key's own page, for everyone who may read the merchant's keys: its actions for
//! those who may take them, the developers corner, the 24-hour chart and its history.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::cards::{KeyCard, RefusedAttempt, card, stopped_at};
use super::origin::Origin;
use super::requests::{KeyLog, KeyLogQuery, key_log};
use super::shared::{any_key_of, offers, policy_of};
use crate::db::keys::KeyLabel;
use crate::db::{DbError, keys as key_rows, usage as db_usage};
use crate::domain::{KeyId, allowed_reveal};
use crate::usage;
use crate::web::chart::UsageChart;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Query;
use crate::web::respond::render;
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;
use crate::web::{format, history};

/// A version in the lineage list.
pub struct VersionView {
    /// ID.
    pub id: KeyId,
    /// Version number.
    pub version: i32,
    /// Masked key.
    pub masked: String,
    /// Status badge.
    pub status: &'static str,
    /// Created.
    pub created: String,
    /// When it stopped working (grace period ended, revoked…), if it has.
    pub stopped: String,
    /// This is the page's key.
    pub current: bool,
}

/// The key page.
#[derive(Template)]
#[template(path = "settings/key_detail.html")]
struct KeyDetailPage {
    shell: Shell,
    flash: Option<String>,
    error: Option<String>,
    card: KeyCard,
    versions: Vec<VersionView>,
    chart: UsageChart,
    events: Vec<history::EventView>,
    log: KeyLog,
}

/// `GET /settings/api-credentials/{key_id}`: the key's actions (Duplicate at the top),
/// the developers corner (ID, masked key, version, earlier versions), the 24-hour chart,
/// the key's request log (`outcome`, `after`) and its history.
pub async fn detail(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<KeyId>,
    Query(log): Query<KeyLogQuery>,
) -> Result<HttpResponse, WebError> {
    key_page(&user, &state, &path, StatusCode::OK, None, &log).await
}

/// The key page with `status`, and `error` when an action started there was refused.
pub(super) async fn key_page(
    user: &CurrentUser,
    state: &AppState,
    key_id: &KeyId,
    status: StatusCode,
    error: Option<String>,
    log: &KeyLogQuery,
) -> Result<HttpResponse, WebError> {
    let merchant = user.merchant()?.clone();
    // Deleted keys keep their page: their history stays readable.
    let row = any_key_of(state, &merchant.merchant_id, key_id).await?;
    let now = state.clock.now();
    let (merchant_id, lineage_id, key_id) = (
        merchant.merchant_id.clone(),
        row.lineage_id.clone(),
        row.id.clone(),
    );
    let (lineage, hours, refused, events) = state
        .db
        .run(move |conn| -> Result<_, DbError> {
            Ok((
                key_rows::lineage(conn, &merchant_id, &lineage_id)?,
                db_usage::hourly(conn, key_id.as_str(), usage::day_start(now))?,
                db_usage::last_refusals(conn, &[key_id.to_string()])?.remove(key_id.as_str()),
                crate::db::key_events::for_key(conn, &merchant_id, &key_id)?,
            ))
        })
        .await?;
    let versions = lineage
        .iter()
        .rev()
        .map(|version| {
            Ok(VersionView {
                id: version.id.clone(),
                version: version.version,
                masked: version.masked_key.clone(),
                status: version.facts().display_status(now).label(),
                created: format::datetime(version.created_at),
                stopped: stopped_at(version, now).map(format::datetime).unwrap_or_default(),
                current: version.id == row.id,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    let labels = lineage
        .iter()
        .map(|version| {
            (
                version.id.to_string(),
                KeyLabel {
                    id: version.id.to_string(),
                    name: version.name.clone(),
                    version: version.version,
                    masked_key: version.masked_key.clone(),
                },
            )
        })
        .collect();
    let events = events
        .iter()
        .rev()
        .map(|event| history::view(event, &labels))
        .collect();
    let log = key_log(state, &row, log).await?;
    let mut card = card(&row, now)?;
    card.offer(&offers(state, &merchant, &row).await?);
    let policy = policy_of(state, &merchant.merchant_id).await?;
    card.can_reveal = allowed_reveal(merchant.role, &row.facts(), row.environment, &policy).is_ok();
    card.shown_on = Origin::KeyPage;
    let chart = UsageChart::new(now, &hours);
    card.succeeded_24h = chart.succeeded;
    card.failed_24h = chart.failed;
    card.last_refused = refused.map(|(at, code)| RefusedAttempt::new(now, at, &code));
    render(
        status,
        &KeyDetailPage {
            shell: Shell::new(user, Area::ApiCredentials),
            flash: user.session.take_flash(),
            error,
            card,
            versions,
            chart,
            events,
            log,
        },
    )
}
