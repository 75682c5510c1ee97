//! `GET /settings/api-credentials`: the merchant's keys. A handful of current keys show
//! as cards, with their usage and actions; past a handful, or once searched, every key
//! is one compact row, paged. Revoked keys are paged either way, so the page stays
//! readable and light however many keys accumulate.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use time::PrimitiveDateTime;

use super::cards::{KeyCard, Usage, card};
use super::list_query::{Asked, ListParams, ListQuery, StatusFilter};
use crate::db::keys::{KeyRow, Listed, Listing};
use crate::db::{DbConnection, DbError, key_policies, keys as key_rows, usage as db_usage};
use crate::domain::{
    AllowedActions, Environment, KeyPolicy, KeySurroundings, MerchantId, Refusal, Role, allowed_actions,
    allowed_generate, allowed_reveal,
};
use crate::usage::hour_of as usage_hour;
use crate::web::current_user::CurrentUser;
use crate::web::error::WebError;
use crate::web::forms::Query;
use crate::web::paths;
use crate::web::respond::{render, see_other};
use crate::web::shell::{Area, Shell};
use crate::web::state::AppState;

/// Current keys shown as cards; past this many, the compact list.
const CARDS_UP_TO: i64 = 5;

/// Rows a page of the compact list shows: the policy's largest limit of active keys, so
/// every active key fits on the first page.
const ROWS_PER_PAGE: i64 = crate::domain::MAX_ACTIVE_KEYS_LIMIT as i64;

/// Revoked keys a page shows under the cards.
const REVOKED_PER_PAGE: i64 = 25;

/// Retired versions (rotated, grace period over) the cards view lists: the latest ones;
/// the compact list and its search reach every one.
const RETIRED_SHOWN: i64 = 25;

/// What the cards hold: active, disabled and expired keys.
const CURRENT: [Listed; 3] = [Listed::Active, Listed::Disabled, Listed::Expired];

/// Why Generate New API Key is shown disabled, and what to do instead.
pub struct LimitAdvice {
    /// The refusal: the limit and the policy.
    pub reason: String,
    /// Under a one-key policy, Rotate Key is what replaces the key: its address, or why
    /// it waits.
    pub rotate: Option<Result<String, String>>,
}

/// A status in the filter.
pub struct StatusChoice {
    /// Value in the address.
    pub value: &'static str,
    /// Label.
    pub label: &'static str,
    /// Chosen.
    pub selected: bool,
}

/// A link to another page of the list.
pub struct PageLink {
    /// Its address.
    pub href: String,
    /// Its number.
    pub number: i64,
}

/// Settings → API Credentials.
#[derive(Template)]
#[template(path = "settings/api_credentials.html")]
struct ApiCredentialsPage {
    shell: Shell,
    expiring_count: i64,
    expiring_filter: bool,
    can_manage: bool,
    generate_refused: Option<LimitAdvice>,
    flash: Option<String>,
    error: Option<String>,
    active_count: u64,
    max_active: u32,
    /// One compact row a key instead of cards.
    compact: bool,
    /// The search and status filter are offered.
    searchable: bool,
    search: String,
    statuses: Vec<StatusChoice>,
    searching: bool,
    /// Cards: the current keys; compact: the page's rows.
    current: Vec<KeyCard>,
    rotated: Vec<KeyCard>,
    /// Earlier versions whose grace period ended, with when they stopped working.
    retired: Vec<KeyCard>,
    /// How many retired versions there are, shown or not.
    retired_total: i64,
    revoked: Vec<KeyCard>,
    /// What the paged part (revoked keys, or every row) counts.
    paged_total: i64,
    page: i64,
    pages: i64,
    previous: Option<PageLink>,
    next: Option<PageLink>,
    /// The environment shown.
    environment: Environment,
    /// The Live / Test switch.
    environments: Vec<EnvironmentTab>,
    /// Generate New API Key, for the environment shown.
    new_key_href: String,
    /// The whole list of the environment shown, unfiltered.
    all_href: String,
    /// Its keys expiring soon.
    expiring_href: String,
}

/// One side of the Live / Test switch.
pub struct EnvironmentTab {
    /// Its address.
    pub href: String,
    /// Live or Test.
    pub label: &'static str,
    /// The one shown.
    pub current: bool,
}

/// What one view of the list read.
struct Read {
    policy: KeyPolicy,
    active_count: u64,
    expiring_count: i64,
    current_total: i64,
    in_grace: Vec<KeyRow>,
    rows: Vec<KeyRow>,
    retired: Vec<KeyRow>,
    retired_total: i64,
    revoked: Vec<KeyRow>,
    paged_total: i64,
    page: i64,
    /// The one active key, when there is exactly one under a one-key policy.
    only_active: Option<KeyRow>,
    usage: Usage,
}

fn listing<'a>(
    (merchant_id, environment): (&'a MerchantId, Environment),
    states: &'a [Listed],
    search: Option<&'a str>,
    now: PrimitiveDateTime,
) -> Listing<'a> {
    Listing {
        merchant_id,
        states,
        search,
        expiring_by: None,
        now,
        environment: Some(environment),
    }
}

/// The states the compact list shows first (working keys) and then (keys that no
/// longer work), narrowed by the status filter.
fn compact_states(status: Option<StatusFilter>, expiring: bool) -> (Vec<Listed>, Vec<Listed>) {
    let (working, ended) = match status {
        None => (
            vec![Listed::Active, Listed::Disabled, Listed::InGrace],
            vec![Listed::Expired, Listed::Retired, Listed::Revoked],
        ),
        Some(StatusFilter::Active) => (vec![Listed::Active], vec![]),
        Some(StatusFilter::Disabled) => (vec![Listed::Disabled], vec![]),
        Some(StatusFilter::Rotated) => (vec![Listed::InGrace], vec![Listed::Retired]),
        Some(StatusFilter::Expired) => (vec![], vec![Listed::Expired]),
        Some(StatusFilter::Revoked) => (vec![], vec![Listed::Revoked]),
    };
    if expiring {
        // Only active and disabled keys have an expiry still ahead.
        let soon = |state: &Listed| matches!(state, Listed::Active | Listed::Disabled);
        return (working.into_iter().filter(soon).collect(), Vec::new());
    }
    (working, ended)
}

/// The page `page` (clamped to the last) of `total` rows, `per_page` a page.
fn clamp_page(page: i64, total: i64, per_page: i64) -> (i64, i64) {
    let pages = ((total + per_page - 1) / per_page).max(1);
    (page.clamp(1, pages), pages)
}

fn read(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    query: &ListQuery,
    now: PrimitiveDateTime,
) -> Result<Read, DbError> {
    let expiring_by = now + time::Duration::days(7);
    let soon = [Listed::Active, Listed::Disabled];
    // Each environment has its own list, count and limit: everything below is of the
    // environment shown.
    let shown = (merchant_id, query.environment);
    let policy = key_policies::get(conn, merchant_id)?;
    let active_count = key_rows::count_active(conn, merchant_id, query.environment, now)?;
    let expiring_count = key_rows::count_listed(
        conn,
        &Listing {
            expiring_by: Some(expiring_by),
            ..listing(shown, &soon, None, now)
        },
    )?;
    let current_total = key_rows::count_listed(conn, &listing(shown, &CURRENT, None, now))?;
    let in_grace = key_rows::list_page(conn, &listing(shown, &[Listed::InGrace], None, now), 0, i64::MAX)?;
    let search = query.search.as_deref();
    let expiring = query.expiring.then_some(expiring_by);
    let compact = current_total > CARDS_UP_TO || query.searching();
    let (rows, revoked, paged_total, page) = if compact {
        // Working keys first, then those that no longer work, each newest first, paged
        // as one list.
        let (working, ended) = compact_states(query.status, query.expiring);
        let working = Listing {
            expiring_by: expiring,
            ..listing(shown, &working, search, now)
        };
        let ended = listing(shown, &ended, search, now);
        let working_total = key_rows::count_listed(conn, &working)?;
        let total = working_total + key_rows::count_listed(conn, &ended)?;
        let (page, _) = clamp_page(query.page, total, ROWS_PER_PAGE);
        let start = (page - 1) * ROWS_PER_PAGE;
        let mut rows = key_rows::list_page(conn, &working, start, ROWS_PER_PAGE)?;
        let room = ROWS_PER_PAGE - i64::try_from(rows.len()).unwrap_or(ROWS_PER_PAGE);
        if room > 0 {
            let from = (start - working_total).max(0);
            rows.extend(key_rows::list_page(conn, &ended, from, room)?);
        }
        (rows, Vec::new(), total, page)
    } else {
        let current = Listing {
            expiring_by: expiring,
            ..listing(shown, if query.expiring { &soon } else { &CURRENT }, None, now)
        };
        let rows = key_rows::list_page(conn, &current, 0, CARDS_UP_TO)?;
        let revoked = listing(shown, &[Listed::Revoked], None, now);
        let total = key_rows::count_listed(conn, &revoked)?;
        let (page, _) = clamp_page(query.page, total, REVOKED_PER_PAGE);
        let revoked = key_rows::list_page(conn, &revoked, (page - 1) * REVOKED_PER_PAGE, REVOKED_PER_PAGE)?;
        (rows, revoked, total, page)
    };
    // Under a one-key policy, Rotate Key is what replaces the one active key.
    let only_active = if active_count == 1 && policy.max_active_keys == 1 {
        key_rows::list_page(conn, &listing(shown, &[Listed::Active], None, now), 0, 1)?.pop()
    } else {
        None
    };
    // The compact list holds retired versions among its rows; the cards list them apart.
    let retired_listing = listing(shown, &[Listed::Retired], None, now);
    let (retired, retired_total) = if compact || query.expiring {
        (Vec::new(), 0)
    } else {
        (
            key_rows::list_page(conn, &retired_listing, 0, RETIRED_SHOWN)?,
            key_rows::count_listed(conn, &retired_listing)?,
        )
    };
    let ids: Vec<String> = rows
        .iter()
        .chain(&in_grace)
        .chain(&retired)
        .chain(&revoked)
        .map(|row| row.id.to_string())
        .collect();
    let usage = Usage {
        day: db_usage::totals_since(conn, &ids, usage_hour(now - time::Duration::hours(23)))?,
        hour: db_usage::totals_since(conn, &ids, usage_hour(now - time::Duration::hours(1)))?,
        refused: db_usage::last_refusals(conn, &ids)?,
    };
    Ok(Read {
        policy,
        active_count,
        expiring_count,
        current_total,
        in_grace,
        rows,
        retired,
        retired_total,
        revoked,
        paged_total,
        page,
        only_active,
        usage,
    })
}

/// Asks the rules what each key offers `role`, with what they look at.
struct Rules<'a> {
    policy: &'a KeyPolicy,
    active_keys: u64,
    /// Lineages with a version in its grace period: their current version waits to rotate.
    waiting: HashSet<&'a str>,
    role: Role,
    now: PrimitiveDateTime,
}

impl Rules<'_> {
    fn allowed(&self, row: &KeyRow) -> Result<AllowedActions, DbError> {
        let key = row.facts();
        Ok(allowed_actions(
            &key,
            &KeySurroundings {
                lineage_in_grace: !key.in_grace(self.now) && self.waiting.contains(row.lineage_id.as_str()),
                active_keys: self.active_keys,
                policy: self.policy,
                role: self.role,
                now: self.now,
            },
        ))
    }

    fn card(&self, row: &KeyRow, usage: &Usage) -> Result<KeyCard, DbError> {
        let mut card = card(row, self.now)?;
        card.offer(&self.allowed(row)?);
        card.can_reveal = allowed_reveal(self.role, &row.facts(), row.environment, self.policy).is_ok();
        usage.apply(&mut card, self.now);
        Ok(card)
    }
}

pub(super) async fn list_page(
    user: &CurrentUser,
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
    query: &ListQuery,
) -> Result<HttpResponse, WebError> {
    let shell = Shell::new(user, Area::ApiCredentials);
    let Some(merchant) = user.merchant.clone() else {
        // Support staff pick a merchant in the console first; an account in no merchant
        // yet has only its invitations to answer.
        let elsewhere = if user.is_support() {
            paths::SUPPORT
        } else {
            paths::INVITATIONS
        };
        return Ok(see_other(elsewhere));
    };
    let now = state.clock.now();
    let merchant_id = merchant.merchant_id.clone();
    let asked = query.clone();
    let read = state
        .db
        .run(move |conn| read(conn, &merchant_id, &asked, now))
        .await?;
    let compact = read.current_total > CARDS_UP_TO || query.searching();
    let rules = Rules {
        policy: &read.policy,
        active_keys: read.active_count,
        waiting: read.in_grace.iter().map(|row| row.lineage_id.as_str()).collect(),
        role: merchant.role,
        now,
    };
    let mut current = read
        .rows
        .iter()
        .map(|row| rules.card(row, &read.usage))
        .collect::<Result<Vec<_>, _>>()?;
    if !compact {
        // Cards by what they show (active, disabled, expired), then newest first.
        current.sort_by(|a, b| a.display.cmp(&b.display).then(b.created_at.cmp(&a.created_at)));
    }
    let mut rotated = Vec::new();
    if !compact {
        for row in &read.in_grace {
            let mut old = rules.card(row, &read.usage)?;
            if let Some(successor) = current
                .iter()
                .find(|card| card.lineage_id == old.lineage_id && card.version > old.version)
            {
                old.successor_last_hour = successor.last_hour;
                old.successor_version = successor.version;
            }
            rotated.push(old);
        }
    }
    let mut retired = read
        .retired
        .iter()
        .map(|row| rules.card(row, &read.usage))
        .collect::<Result<Vec<_>, _>>()?;
    retired.sort_by_key(|card| std::cmp::Reverse(card.stopped_at));
    let revoked = read
        .revoked
        .iter()
        .map(|row| rules.card(row, &read.usage))
        .collect::<Result<Vec<_>, _>>()?;
    let generate_refused = match allowed_generate(merchant.role, read.active_count, &read.policy) {
        Err(refusal @ Refusal::LimitReached { .. }) => Some(LimitAdvice {
            reason: refusal.to_string(),
            rotate: match &read.only_active {
                Some(only) => Some(match rules.allowed(only)?.rotate {
                    Ok(()) => Ok(paths::key_action(&only.id, "rotate")),
                    Err(why) => Err(why.to_string()),
                }),
                None => None,
            },
        }),
        _ => None,
    };
    let per_page = if compact { ROWS_PER_PAGE } else { REVOKED_PER_PAGE };
    let (page, pages) = clamp_page(read.page, read.paged_total, per_page);
    let link = |number: i64| PageLink {
        href: query.href(number),
        number,
    };
    render(
        status,
        &ApiCredentialsPage {
            expiring_count: read.expiring_count,
            expiring_filter: query.expiring,
            can_manage: merchant.role.can_manage_keys(),
            generate_refused,
            flash: user.session.take_flash(),
            error,
            active_count: read.active_count,
            max_active: read.policy.max_active_keys,
            compact,
            searchable: compact || read.current_total + read.paged_total > CARDS_UP_TO,
            search: query.search.clone().unwrap_or_default(),
            statuses: StatusFilter::ALL
                .into_iter()
                .map(|choice| StatusChoice {
                    value: choice.value(),
                    label: choice.label(),
                    selected: query.status == Some(choice),
                })
                .collect(),
            searching: query.searching(),
            current,
            rotated,
            retired,
            retired_total: read.retired_total,
            revoked,
            paged_total: read.paged_total,
            page,
            pages,
            previous: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
            environment: query.environment,
            environments: Environment::ALL
                .into_iter()
                .map(|environment| EnvironmentTab {
                    href: ListQuery {
                        environment,
                        ..ListQuery::default()
                    }
                    .href(1),
                    label: environment.label(),
                    current: environment == query.environment,
                })
                .collect(),
            new_key_href: paths::new_key(query.environment),
            all_href: ListQuery {
                environment: query.environment,
                ..ListQuery::default()
            }
            .href(1),
            expiring_href: ListQuery {
                environment: query.environment,
                expiring: true,
                ..ListQuery::default()
            }
            .href(1),
            shell,
        },
    )
}

/// `GET /settings/api-credentials`: `q` searches names and visible keys, `status` and
/// `filter=expiring` narrow the list, `page` pages it.
pub async fn list(
    user: CurrentUser,
    state: web::Data<AppState>,
    Query(params): Query<ListParams>,
) -> Result<HttpResponse, WebError> {
    match ListQuery::read(&params) {
        Asked::List(query) => list_page(&user, &state, StatusCode::OK, None, &query).await,
        Asked::WholeKey { key, mut then } => {
            // By the mask the key was stored with: keys made before masks ended in the
            // checksum keep their older form.
            let digest = key.digest(&state.pepper);
            let stored = state
                .db
                .run(move |conn| key_rows::masked_by_digest(conn, &digest))
                .await?;
            then.search = Some(stored.unwrap_or_else(|| key.masked()));
            Ok(see_other(&then.href(1)))
        }
        Asked::Invalid(message) => {
            let query = ListQuery {
                page: 1,
                environment: params.environment(),
                ..ListQuery::default()
            };
            list_page(
                &user,
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(message.to_owned()),
                &query,
            )
            .await
        }
    }
}
