//! Where a key action was started, which is where it returns: the list, or the key's own
//! page.

use actix_web::HttpRequest;

use crate::db::keys::KeyRow;
use crate::domain::KeyId;
use crate::web::paths;

/// Where a key action was started, and so where it returns once made or cancelled: the
/// list, or the key's own page. Started on the key's page, the action's addresses (its
/// form's, and the one the form posts to) end in `?from=key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// API Credentials.
    List,
    /// The key's own page.
    KeyPage,
}

impl Origin {
    /// Where the request's address says the action was started.
    pub(super) fn of_query(req: &HttpRequest) -> Self {
        #[derive(Default, serde::Deserialize)]
        #[serde(default)]
        struct Asked {
            from: Vec<String>,
        }
        // An address that cannot be read returns to the list, which every reader has.
        let asked: Asked = serde_html_form::from_str(req.query_string()).unwrap_or_default();
        if asked.from.iter().any(|from| from == "key") {
            Origin::KeyPage
        } else {
            Origin::List
        }
    }

    /// True when the action was started on the key's page.
    pub fn is_key_page(self) -> bool {
        self == Origin::KeyPage
    }

    /// The address of `action` on the key `key_id`, started from here.
    pub fn action(self, key_id: &KeyId, action: &str) -> String {
        let href = paths::key_action(key_id, action);
        match self {
            Origin::List => href,
            Origin::KeyPage => format!("{href}?from=key"),
        }
    }

    /// Where the action returns for the key `key_id`.
    pub fn href(self, key_id: &KeyId) -> String {
        match self {
            Origin::List => paths::API_CREDENTIALS.to_owned(),
            Origin::KeyPage => paths::key(key_id),
        }
    }

    /// Where a change to the key `row` returns once made: its page, or the list of its
    /// own environment (a test key's change returns to the Test tab, which shows it).
    pub fn after_change(self, row: &KeyRow) -> String {
        match self {
            Origin::List => paths::key_list(row.environment),
            Origin::KeyPage => paths::key(&row.id),
        }
    }

    /// What the way back reads.
    pub fn back_label(self) -> &'static str {
        match self {
            Origin::List => "Back to API Credentials",
            Origin::KeyPage => "Back to the key",
        }
    }
}
