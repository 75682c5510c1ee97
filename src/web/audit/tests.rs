use super::*;

fn typed(from: &str, to: &str) -> Typed {
    Typed {
        from: from.to_owned(),
        to: to.to_owned(),
        ..Typed::default()
    }
}

#[test]
fn a_date_range_includes_the_whole_last_day() {
    let filter = typed("2026-11-01", "2026-11-03").parse().unwrap();
    assert_eq!(filter.since, Some(time::macros::datetime!(2026-11-01 00:00)));
    assert_eq!(filter.before, Some(time::macros::datetime!(2026-11-04 00:00)));
}

#[test]
fn bad_filters_say_what_is_wrong() {
    assert_eq!(
        typed("2026-13-01", "").parse().unwrap_err(),
        "From must be a date such as 2026-11-03."
    );
    assert_eq!(
        typed("2026-11-05", "2026-11-01").parse().unwrap_err(),
        "From must be on or before To."
    );
    let bad_type = Typed {
        event_type: "exploded".to_owned(),
        ..Typed::default()
    };
    assert!(bad_type.parse().is_err());
}

#[test]
fn csv_fields_are_quoted_and_formulas_defused() {
    assert_eq!(csv_field("a \"b\", c"), "\"a \"\"b\"\", c\"");
    assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    assert_eq!(csv_field("-1"), "\"'-1\"");
    assert_eq!(csv_field("a\u{202E}b"), "\"a\u{FFFD}b\"");
}

#[test]
fn links_keep_the_filter() {
    let typed = Typed {
        event_type: "revoked".to_owned(),
        ..Typed::default()
    };
    assert_eq!(
        typed.href(&[("page", "2")]),
        "/settings/audit-log?type=revoked&page=2"
    );
    assert_eq!(Typed::default().href(&[]), "/settings/audit-log");
}

const CORPUS: &str = include_str!("../../../tests/corpus/inputs.txt");

/// Whatever the query, the filter is refused with a sentence or holds only valid
/// values, and its links give the same filter back.
fn read(query: &str) -> Option<Typed> {
    serde_html_form::from_str::<AuditQuery>(query)
        .ok()
        .map(|query| query.split().0)
}

fn check(query: &str) {
    // A query naming a field twice is refused before any filter is read.
    let Some(typed) = read(query) else {
        return;
    };
    match typed.parse() {
        Ok(filter) => {
            if let Some(key_id) = &filter.key_id {
                assert_eq!(KeyId::parse(key_id.as_str()).as_ref(), Ok(key_id));
            }
            if let (Some(since), Some(before)) = (filter.since, filter.before) {
                assert!(since < before, "{query:?}");
            }
            let href = typed.href(&[]);
            let again = href.split_once('?').map_or("", |(_, query)| query);
            assert!(read(again).is_some_and(|typed| typed.parse().is_ok()), "{href}");
        }
        Err(message) => assert!(message.ends_with('.') && message.contains(" must "), "{message}"),
    }
}

#[test]
fn every_corpus_value_in_every_filter_gives_a_filter_or_a_message() {
    for raw in CORPUS.lines().filter(|line| !line.starts_with('#')) {
        let raw = raw.replace("\\0", "\0");
        for name in ["key", "actor", "type", "from", "to", "page"] {
            check(&serde_urlencoded::to_string([(name, raw.as_str())]).unwrap());
        }
    }
}

proptest::proptest! {
    #[test]
    fn any_query_string_gives_a_filter_or_a_message(query in "([a-z]{1,6}=[^&]{0,20}&?){0,6}|.{0,60}") {
        check(&query);
    }

    #[test]
    fn any_typed_filter_gives_a_filter_or_a_message(
        values in proptest::collection::vec(proptest::prelude::any::<String>(), 5),
    ) {
        let pairs: Vec<(&str, &str)> = ["key", "actor", "type", "from", "to"]
            .into_iter()
            .zip(values.iter().map(String::as_str))
            .collect();
        check(&serde_urlencoded::to_string(pairs).unwrap());
    }
}
