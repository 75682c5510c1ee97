//! What a support engineer types into the console's search box.

use super::environment::Environment;
use super::key::{ApiKey, KEY_PREFIX, MASK_SHOWS};

/// A parsed support search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupportQuery {
    /// A merchant or key ID.
    Id(String),
    /// The visible part of a key as a merchant reads it out: the first characters after
    /// the prefix and, when read, the last four (`kw_live_AbCd…WxYz`).
    Visible {
        /// Up to four characters after `kw_live_`.
        head: String,
        /// The last four characters, when given.
        tail: Option<String>,
    },
    /// Four letters or digits: the end of a masked key, or part of a merchant's name.
    LastFour(String),
    /// Part of a merchant's name.
    Name(String),
}

impl SupportQuery {
    /// Parses the search box; `None` when it is empty.
    pub fn parse(raw: &str) -> Option<Self> {
        let text = raw.trim();
        if text.is_empty() {
            return None;
        }
        if let Ok(id) = uuid::Uuid::parse_str(text) {
            return Some(SupportQuery::Id(id.hyphenated().to_string()));
        }
        if let Ok(key) = ApiKey::parse(text) {
            // A whole key pasted by mistake: searched by the part a masked key shows,
            // so the key itself goes no further. (The console finds a pasted key by its
            // digest first, whichever form of mask it was stored with.)
            let masked = key.masked();
            return Self::visible(masked.get(KEY_PREFIX.len()..).unwrap_or(&masked));
        }
        let prefixed = Environment::ALL
            .into_iter()
            .find_map(|environment| text.strip_prefix(environment.key_prefix()));
        if let Some(rest) = prefixed {
            return Self::visible(rest).or_else(|| Some(SupportQuery::Name(text.to_owned())));
        }
        if text.len() == MASK_SHOWS && text.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Some(SupportQuery::LastFour(text.to_owned()));
        }
        Some(SupportQuery::Name(text.to_owned()))
    }

    fn visible(rest: &str) -> Option<Self> {
        let rest = rest.replace("...", "…");
        let (head, tail) = match rest.split_once('…') {
            Some((head, tail)) => (head, Some(tail.trim())),
            None => (rest.as_str(), None),
        };
        let head: String = head.trim().chars().take(MASK_SHOWS).collect();
        let alphanumeric = |part: &str| part.chars().all(|c| c.is_ascii_alphanumeric());
        let tail = tail.filter(|tail| !tail.is_empty());
        if let Some(tail) = tail
            && (tail.len() > MASK_SHOWS || !alphanumeric(tail))
        {
            return None;
        }
        if head.is_empty() {
            // `kw_live_…WxYz`: only the end was read out.
            return tail
                .filter(|tail| tail.len() == MASK_SHOWS)
                .map(|tail| SupportQuery::LastFour(tail.to_owned()));
        }
        if !alphanumeric(&head) {
            return None;
        }
        Some(SupportQuery::Visible {
            head,
            tail: tail.map(str::to_owned),
        })
    }

    /// The key, when `raw` is a whole key: the console sends the browser on to its
    /// masked form at once, so the key stays in no address bar or history.
    pub fn whole_key(raw: &str) -> Option<ApiKey> {
        ApiKey::find_in(raw)
    }

    /// What the search box shows back: never a whole key.
    pub fn display(&self) -> String {
        match self {
            SupportQuery::Id(text) | SupportQuery::LastFour(text) | SupportQuery::Name(text) => text.clone(),
            SupportQuery::Visible { head, tail } => {
                format!("{KEY_PREFIX}{head}…{}", tail.as_deref().unwrap_or(""))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible(head: &str, tail: Option<&str>) -> SupportQuery {
        SupportQuery::Visible {
            head: head.to_owned(),
            tail: tail.map(str::to_owned),
        }
    }

    #[test]
    fn ids_are_found_by_id() {
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(SupportQuery::parse(id), Some(SupportQuery::Id(id.to_owned())));
        assert_eq!(
            SupportQuery::parse(&format!(" {} ", id.to_uppercase())),
            Some(SupportQuery::Id(id.to_owned()))
        );
    }

    #[test]
    fn the_visible_part_of_a_key_is_read_as_a_merchant_reads_it_out() {
        assert_eq!(SupportQuery::parse("kw_live_AbCd…"), Some(visible("AbCd", None)));
        assert_eq!(SupportQuery::parse("kw_live_AbCd"), Some(visible("AbCd", None)));
        assert_eq!(
            SupportQuery::parse("kw_live_AbCd...WxYz"),
            Some(visible("AbCd", Some("WxYz")))
        );
        assert_eq!(
            SupportQuery::parse("kw_live_AbCd…WxYz"),
            Some(visible("AbCd", Some("WxYz")))
        );
        assert_eq!(
            SupportQuery::parse("WxYz"),
            Some(SupportQuery::LastFour("WxYz".to_owned()))
        );
        assert_eq!(
            SupportQuery::parse("kw_live_…WxYz"),
            Some(SupportQuery::LastFour("WxYz".to_owned()))
        );
        assert_eq!(
            SupportQuery::parse("kw_live_<b>"),
            Some(SupportQuery::Name("kw_live_<b>".to_owned()))
        );
    }

    #[test]
    fn a_whole_key_is_searched_by_its_masked_form_and_never_shown_back() {
        let key = ApiKey::generate();
        let query = SupportQuery::parse(key.expose()).expect("a query");
        assert_eq!(SupportQuery::whole_key(key.expose()), Some(key.clone()));
        assert_eq!(query.display(), key.masked());
        assert!(!query.display().contains(key.expose()));
    }

    #[test]
    fn names_are_anything_else() {
        assert_eq!(SupportQuery::parse("   "), None);
        assert_eq!(
            SupportQuery::parse("Acme Ltd"),
            Some(SupportQuery::Name("Acme Ltd".to_owned()))
        );
    }
}
