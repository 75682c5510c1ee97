//! The real-browser suite: Debian's headless chromium follows each seed page step by step
//! under the seed's key policy preset, as a new user would, and fails on any console error
//! or CSP violation. Screenshots of every screen land in `target/e2e/<test>/<backend>/`.

mod allowlist;
mod asking;
mod audit_log;
mod chrome;
mod dashboard;
mod environments;
mod gelato;
mod many_keys;
mod payments_platform;
mod plain_http;
mod readers;
mod request_log;
mod reveal;
mod screens;
mod tokens;
mod violet;
mod vtex;
mod warehouse_api;
mod without_javascript;

use allowlist::an_admin_restricts_a_key_to_addresses_from_the_keyboard;
use keyward::config::SessionSettings;
use time::Duration;
use tokens::an_admin_creates_copies_and_revokes_a_management_token_from_the_keyboard;
use violet::violets_guide_generates_copies_rotates_and_revokes_the_one_key;
use without_javascript::without_javascript_plain_pages_generate_rotate_and_revoke_a_key;

use crate::db_test;
use crate::support::{Backend, TestApp, spawn_app_with};

/// The server for a browser test: sessions outlast the clock moves a test makes to show a
/// countdown or an expiry.
async fn spawn_app_for_a_browser(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |settings| {
        settings.session = SessionSettings {
            idle_timeout: Duration::days(365),
            absolute_timeout: Duration::days(365),
        };
    })
    .await
}

/// Runs a browser test on SQLite: `browser_test!(module::name)` makes `name::sqlite` from
/// `async fn name(backend: Backend)` in `module`. (The HTTP tests cover both backends; a
/// browser costs seconds per test, so only the tests below `db_test!` run on Postgres too.)
macro_rules! browser_test {
    ($($module:ident::$name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$module::$name(crate::support::Backend::Sqlite).await
            }
        }
    )+};
}

browser_test!(
    chrome::the_journal_reports_csp_violations_console_errors_and_failed_requests,
    payments_platform::the_payments_platforms_keys_go_enabled_disabled_revoked_with_scopes_fixed_at_creation,
    gelato::gelatos_guide_replaces_a_key_deactivating_then_deleting_the_old_one,
    warehouse_api::the_warehouse_apis_five_keys_take_optional_names_and_the_sixth_is_refused,
    vtex::vtexs_keys_need_a_name_get_roles_edited_renewed_and_deleted_once_inactive,
    audit_log::the_audit_log_breaks_no_word_at_1280_and_policy_changes_read_before_and_after,
    many_keys::a_hundred_active_and_a_thousand_revoked_keys_are_searched_filtered_and_paged,
    readers::viewers_and_support_staff_open_each_keys_page_from_api_credentials,
    request_log::a_member_pastes_a_request_id_and_filters_a_keys_log_from_the_keyboard_on_a_phone,
    reveal::the_reveal_shows_the_whole_key_on_a_phone_and_asks_before_an_uncopied_key_is_closed,
    screens::every_page_and_dialog_passes_axe_for_every_role,
    screens::no_page_or_dialog_scrolls_sideways_on_a_phone,
    environments::the_live_test_switch_and_reveal_work_from_the_keyboard_on_a_phone,
    plain_http::over_plain_http_on_a_network_name_signing_in_says_to_use_https_unless_cookies_are_insecure,
);

// Rotation with its grace countdown, every plain page, Management Tokens and the IP
// allowlist field, on both backends.
db_test!(
    an_admin_restricts_a_key_to_addresses_from_the_keyboard,
    violets_guide_generates_copies_rotates_and_revokes_the_one_key,
    without_javascript_plain_pages_generate_rotate_and_revoke_a_key,
    an_admin_creates_copies_and_revokes_a_management_token_from_the_keyboard,
);
