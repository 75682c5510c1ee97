//! What API Credentials is asked to show, read from its address: `environment` (`test`;
//! live when left out), `q` (part of a key's name or of its visible key), `status`,
//! `filter=expiring` and `page`.

use crate::domain::{ApiKey, Environment};
use crate::web::paths;

/// The longest search accepted, in characters.
const MAX_SEARCH: usize = 100;

/// A status to list keys in, as the filter offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Working keys.
    Active,
    /// Switched off.
    Disabled,
    /// Replaced, in their grace period.
    Rotated,
    /// Past their expiry.
    Expired,
    /// Revoked.
    Revoked,
}

impl StatusFilter {
    /// Every choice, in the filter's order.
    pub const ALL: [StatusFilter; 5] = [
        StatusFilter::Active,
        StatusFilter::Disabled,
        StatusFilter::Rotated,
        StatusFilter::Expired,
        StatusFilter::Revoked,
    ];

    /// The value in the address.
    pub fn value(self) -> &'static str {
        match self {
            StatusFilter::Active => "active",
            StatusFilter::Disabled => "disabled",
            StatusFilter::Rotated => "rotated",
            StatusFilter::Expired => "expired",
            StatusFilter::Revoked => "revoked",
        }
    }

    /// What the filter shows.
    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::Active => "Active",
            StatusFilter::Disabled => "Disabled",
            StatusFilter::Rotated => "Rotated (in grace period)",
            StatusFilter::Expired => "Expired",
            StatusFilter::Revoked => "Revoked",
        }
    }
}

/// The list as asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListQuery {
    /// Part of a name or of a visible key, as typed (trimmed).
    pub(super) search: Option<String>,
    /// Only keys in this status.
    pub(super) status: Option<StatusFilter>,
    /// Only keys that expire within 7 days.
    pub(super) expiring: bool,
    /// The page asked for, from 1; pages past the last show the last.
    pub(super) page: i64,
    /// The environment whose keys are shown: each has its own list, count and limit.
    pub(super) environment: Environment,
}

/// What reading an address gives.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Asked {
    /// A list to show.
    List(ListQuery),
    /// A whole key was searched for: the same search (`then`, from page 1) is to be made
    /// by the key's stored mask, so that the key leaves the address bar and the
    /// browser's history.
    WholeKey {
        /// The key searched for.
        key: ApiKey,
        /// The rest of the search.
        then: ListQuery,
    },
    /// Something the page cannot read, and why.
    Invalid(&'static str),
}

/// API Credentials' query string as sent.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListParams {
    environment: String,
    q: String,
    status: String,
    filter: String,
    page: Option<String>,
}

impl ListParams {
    /// The environment asked for, or live when it cannot be read: where a list whose
    /// other filters are refused is shown.
    pub(super) fn environment(&self) -> Environment {
        self.environment.parse().unwrap_or_default()
    }
}

impl ListQuery {
    /// Reads the address's query string, as sent.
    pub(super) fn read(params: &ListParams) -> Asked {
        // A key anywhere in the search leaves the address first, whatever else is wrong,
        // and is looked for among the keys of its own environment.
        if let Some(key) = ApiKey::find_in(&params.q) {
            let then = ListQuery {
                environment: key.environment(),
                status: StatusFilter::ALL
                    .into_iter()
                    .find(|status| status.value() == params.status),
                expiring: params.filter == "expiring",
                ..ListQuery::default()
            };
            return Asked::WholeKey {
                key,
                then: ListQuery { page: 1, ..then },
            };
        }
        let environment = match params.environment.as_str() {
            "" => Environment::Live,
            value => match value.parse() {
                Ok(environment) => environment,
                Err(_) => return Asked::Invalid("Choose Live or Test keys."),
            },
        };
        let text = params.q.trim();
        if text.chars().count() > MAX_SEARCH || text.chars().any(char::is_control) {
            return Asked::Invalid(
                "Search for at most 100 characters of a name or a key, without control characters.",
            );
        }
        let status = match params.status.as_str() {
            "" => None,
            value => match StatusFilter::ALL
                .into_iter()
                .find(|status| status.value() == value)
            {
                Some(status) => Some(status),
                None => return Asked::Invalid("Choose a status from the list."),
            },
        };
        let page = match params.page.as_deref().map(|page| page.trim().parse::<i64>()) {
            None => 1,
            Some(Ok(page)) if page >= 1 => page,
            Some(_) => return Asked::Invalid("The page must be a whole number from 1."),
        };
        let mut query = ListQuery {
            search: None,
            status,
            expiring: params.filter == "expiring",
            page,
            environment,
        };
        // Masks show an ellipsis; people type three dots.
        query.search = Some(text.replace("...", "…")).filter(|text| !text.is_empty());
        Asked::List(query)
    }

    /// True when a search or a status narrows the list.
    pub(super) fn searching(&self) -> bool {
        self.search.is_some() || self.status.is_some()
    }

    /// The address of page `page` of this list.
    pub(super) fn href(&self, page: i64) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if self.environment != Environment::Live {
            pairs.push(("environment", self.environment.as_str().to_owned()));
        }
        if let Some(search) = &self.search {
            pairs.push(("q", search.clone()));
        }
        if let Some(status) = self.status {
            pairs.push(("status", status.value().to_owned()));
        }
        if self.expiring {
            pairs.push(("filter", "expiring".to_owned()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            paths::API_CREDENTIALS.to_owned()
        } else {
            format!("{}?{query}", paths::API_CREDENTIALS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl ListQuery {
        fn read_str(query: &str) -> Asked {
            ListQuery::read(&serde_html_form::from_str(query).unwrap())
        }
    }

    #[test]
    fn a_search_status_filter_and_page_are_read_and_written_back() {
        let Asked::List(query) = ListQuery::read_str("q=+Sync+&status=disabled&filter=expiring&page=3")
        else {
            panic!("not read");
        };
        assert_eq!(query.search.as_deref(), Some("Sync"));
        assert_eq!(query.status, Some(StatusFilter::Disabled));
        assert!(query.expiring && query.searching());
        assert_eq!(query.page, 3);
        assert_eq!(
            query.href(2),
            "/settings/api-credentials?q=Sync&status=disabled&filter=expiring&page=2"
        );
        assert_eq!(
            ListQuery::read_str(""),
            Asked::List(ListQuery {
                page: 1,
                ..ListQuery::default()
            })
        );
    }

    #[test]
    fn the_test_environment_is_kept_in_every_address_and_live_is_the_default() {
        let Asked::List(query) = ListQuery::read_str("environment=test&status=active") else {
            panic!("not read");
        };
        assert_eq!(query.environment, Environment::Test);
        assert_eq!(
            query.href(2),
            "/settings/api-credentials?environment=test&status=active&page=2"
        );
        let Asked::List(live) = ListQuery::read_str("environment=live") else {
            panic!("not read");
        };
        assert_eq!(live.environment, Environment::Live);
        assert_eq!(live.href(1), "/settings/api-credentials");
        let test_key = ApiKey::generate_in(Environment::Test);
        let Asked::WholeKey { then, .. } = ListQuery::read_str(&format!("q={}", test_key.expose())) else {
            panic!("a whole key stays in the address");
        };
        assert_eq!(then.environment, Environment::Test);
    }

    #[test]
    fn three_dots_read_as_the_masks_ellipsis() {
        let Asked::List(query) = ListQuery::read_str("q=kw_live_AbCd...WxYz") else {
            panic!("not read");
        };
        assert_eq!(query.search.as_deref(), Some("kw_live_AbCd…WxYz"));
    }

    #[test]
    fn a_whole_key_is_searched_by_its_mask_only() {
        let key = ApiKey::generate();
        let Asked::WholeKey { key: read, then } =
            ListQuery::read_str(&format!("q={}&status=active", key.expose()))
        else {
            panic!("a whole key stays in the address");
        };
        assert_eq!(read, key);
        assert_eq!(
            (then.search, then.status, then.page),
            (None, Some(StatusFilter::Active), 1)
        );
    }

    #[test]
    fn unreadable_filters_are_refused() {
        for bad in [
            "status=gone",
            "page=0",
            "page=two",
            "q=a%07b",
            "environment=prod",
            "environment=Test",
        ] {
            assert!(matches!(ListQuery::read_str(bad), Asked::Invalid(_)), "{bad}");
        }
        assert!(matches!(
            ListQuery::read_str(&format!("q={}", "x".repeat(101))),
            Asked::Invalid(_)
        ));
    }
}
