//! Property tests of every parser of outside input in the domain: the key format and
//! each form field. None may panic, none may accept a value that breaks its rules, and
//! what they accept reads back the same. They also run over the corpus in
//! `tests/corpus/` (inputs found worth keeping; add a line when a bug is found).

use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

use super::validation::is_forbidden_char;
use super::*;

const KEYS: &str = include_str!("../../tests/corpus/keys.txt");
const INPUTS: &str = include_str!("../../tests/corpus/inputs.txt");
const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The corpus lines of `text`, without comments; `\0` stands for NUL.
fn corpus(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.replace("\\0", "\0"))
}

/// What DESIGN.md §4 and issue 15 say a key is, written apart from the parser: the live
/// or test prefix, 40 base62 characters, and the CRC32 of everything before as 6 base62
/// digits.
fn is_valid_key(raw: &str) -> bool {
    let Some(rest) = raw
        .strip_prefix("kw_live_")
        .or_else(|| raw.strip_prefix("kw_test_"))
    else {
        return false;
    };
    if rest.len() != 46 || !rest.chars().all(|c| BASE62.contains(c)) {
        return false;
    }
    let mut crc = u64::from(crc32fast::hash(&raw.as_bytes()[..48]));
    let mut digits = Vec::new();
    for _ in 0..6 {
        digits.push(BASE62.as_bytes()[usize::try_from(crc % 62).unwrap()]);
        crc /= 62;
    }
    digits.reverse();
    rest.as_bytes()[40..] == digits[..]
}

/// Strings near the key format: the right prefix or a close one, then letters, digits
/// and a few strangers, of about the right length.
fn key_like() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            "kw_live_", "kw_test_", "KW_LIVE_", "KW_TEST_", "kw_live", "kw-test_", "kw_tst_", ""
        ],
        "[0-9A-Za-z_é\u{202E} -]{38,48}",
    )
        .prop_map(|(prefix, rest)| format!("{prefix}{rest}"))
}

/// Anything a form field may hold: any text, hostile characters made likely.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ a-zA-Z0-9@._:<>\"'}{\t\n\u{0}\u{202E}\u{2066}\u{200F}\u{200B}\u{FEFF}ＡﬁéP-]{0,120}",
        "[0-9 +-]{0,12}",
    ]
}

fn check_key(raw: &str) {
    let parsed = ApiKey::parse(raw);
    assert_eq!(parsed.is_ok(), is_valid_key(raw), "{raw:?}: {parsed:?}");
    if let Ok(key) = parsed {
        assert_eq!(key.expose(), raw);
        assert!(!key.masked().contains(&raw[12..50]), "the mask hides the secret");
    }
}

fn check_single_line(accepted: Option<&str>, raw: &str, max: usize) {
    if let Some(value) = accepted {
        // Names are kept in their NFKC form, so look-alikes are one name.
        let normalized: String = raw.nfkc().collect();
        let words: Vec<&str> = normalized.split(' ').filter(|word| !word.is_empty()).collect();
        assert_eq!(value, words.join(" ").trim(), "{raw:?}");
        assert!(value.nfkc().eq(value.chars()), "{raw:?} is stored normalized");
        assert!(
            !value.contains(['\u{200B}', '\u{200D}', '\u{FEFF}', '\u{2060}']),
            "{raw:?}"
        );
        assert!((1..=max).contains(&value.chars().count()), "{raw:?}");
        assert!(!value.chars().any(is_forbidden_char), "{raw:?}");
    }
}

/// Every form parser on one raw value: none panics, and what each accepts keeps its rules.
fn check_fields(raw: &str) {
    for required in [true, false] {
        match KeyName::parse(raw, required) {
            Ok(Some(name)) => check_single_line(Some(name.as_str()), raw, 100),
            Ok(None) => assert!(!required && raw.trim().is_empty(), "{raw:?}"),
            Err(_) => {}
        }
    }
    check_single_line(
        PersonName::parse(raw).ok().as_ref().map(PersonName::as_str),
        raw,
        100,
    );
    check_single_line(
        MerchantName::parse(raw).ok().as_ref().map(MerchantName::as_str),
        raw,
        100,
    );
    if let Ok(description) = KeyDescription::parse(raw) {
        assert!(description.as_str().chars().count() <= 500);
        assert!(
            !description
                .as_str()
                .chars()
                .any(|c| is_forbidden_char(c) && !matches!(c, '\n' | '\r' | '\t'))
        );
    }
    if let Ok(email) = Email::parse(raw) {
        let email = email.as_str();
        assert_eq!(email, raw.trim().to_lowercase());
        assert!(
            email.chars().count() <= 254 && email.matches('@').count() == 1,
            "{raw:?}"
        );
        assert!(
            !email.chars().any(|c| c.is_whitespace() || is_forbidden_char(c)),
            "{raw:?}"
        );
        let (local, domain) = email.split_once('@').unwrap();
        assert!(
            !local.is_empty() && domain.contains('.') && !domain.ends_with('.'),
            "{raw:?}"
        );
    }
    let owner = Email::parse("ana@example.com").unwrap();
    if let Ok(password) = Password::parse_new(raw.to_owned(), &owner) {
        assert_eq!(password.expose(), raw, "kept exactly as typed");
        assert!((12..=1024).contains(&raw.chars().count()));
    }
    assert!(Password::attempt(raw.to_owned()).expose().chars().count() <= 1024);
    if let Ok(grace) = GracePeriod::parse(raw) {
        assert_eq!(grace.as_str(), raw.trim());
    }
    if let Ok(Some(limit)) = parse_rate_limit(raw) {
        assert!((1..=1_000_000).contains(&limit), "{raw:?}");
        assert_eq!(raw.trim().parse::<u32>(), Ok(limit));
    }
    for choice in [raw, "custom"] {
        match Expiry::parse(choice, raw) {
            Ok(Expiry::Days(days)) => assert!((1..=3650).contains(&days), "{raw:?}"),
            Ok(Expiry::Never) => assert!(matches!(choice.trim(), "" | "never")),
            Ok(Expiry::On(date)) => assert_eq!(date.to_string(), raw.trim()),
            Err(_) => {}
        }
    }
    if let Ok(scopes) = Scopes::parse(&[raw]) {
        assert_eq!(scopes.names(), [raw]);
        assert_eq!(Scopes::from_stored(&scopes.to_stored()), Ok(scopes));
    }
    if let Ok(preset) = PolicyPreset::parse(raw) {
        assert_eq!(preset.as_str(), raw);
        assert_eq!(preset.policy().validate(), Ok(preset.policy()));
    }
    if let Ok(role) = raw.parse::<Role>() {
        assert_eq!(role.as_str(), raw);
    }
    check_support_query(raw);
}

/// The support search never shows a whole key back, whatever was typed.
fn check_support_query(raw: &str) {
    let Some(query) = SupportQuery::parse(raw) else {
        assert!(raw.trim().is_empty(), "{raw:?}");
        return;
    };
    let shown = query.display();
    let chars: Vec<char> = shown.chars().collect();
    for window in chars.windows(54) {
        let window: String = window.iter().collect();
        assert!(ApiKey::parse(&window).is_err(), "{raw:?} shows a key: {shown}");
    }
}

#[test]
fn the_key_corpus_is_judged_as_marked() {
    let mut seen = 0;
    for line in corpus(KEYS) {
        let (mark, raw) = line.split_at(2);
        check_key(raw);
        assert_eq!(ApiKey::parse(raw).is_ok(), mark == "+ ", "{line:?}");
        seen += 1;
    }
    assert!(seen > 20);
}

#[test]
fn the_input_corpus_keeps_every_parsers_rules() {
    let mut seen = 0;
    for raw in corpus(INPUTS) {
        check_fields(&raw);
        check_key(&raw);
        seen += 1;
    }
    assert!(seen > 100);
}

proptest! {
    #[test]
    fn any_string_is_a_key_exactly_when_it_has_the_format(raw in any::<String>()) {
        check_key(&raw);
    }

    #[test]
    fn strings_near_the_format_are_keys_exactly_when_the_checksum_holds(raw in key_like()) {
        check_key(&raw);
    }

    #[test]
    fn a_well_formed_body_with_any_checksum_is_accepted_only_with_its_own(
        prefix in prop_oneof!["kw_live_", "kw_test_"],
        secret in "[0-9A-Za-z]{40}",
        checksum in "[0-9A-Za-z]{6}",
    ) {
        check_key(&format!("{prefix}{secret}{checksum}"));
    }

    #[test]
    fn every_generated_key_round_trips_and_any_single_change_is_refused(
        environment in prop_oneof![Just(Environment::Live), Just(Environment::Test)],
        position in 0usize..54,
        replacement in "[0-9A-Za-z_ é-]",
    ) {
        let key = ApiKey::generate_in(environment);
        prop_assert!(key.expose().starts_with(environment.key_prefix()));
        prop_assert_eq!(key.environment(), environment);
        let raw = key.expose();
        prop_assert!(is_valid_key(raw));
        prop_assert_eq!(ApiKey::parse(raw), Ok(key.clone()));
        let mut changed: String = raw.chars().take(position).collect();
        changed.push_str(&replacement);
        changed.extend(raw.chars().skip(position + 1));
        if changed != raw {
            prop_assert!(ApiKey::parse(&changed).is_err(), "{} accepted", changed);
        }
        let shortened: String = raw.chars().enumerate().filter(|(i, _)| *i != position).map(|(_, c)| c).collect();
        prop_assert!(ApiKey::parse(&shortened).is_err());
    }

    #[test]
    fn every_form_parser_survives_any_field_and_keeps_its_rules(raw in field()) {
        check_fields(&raw);
    }

    #[test]
    fn scope_lists_are_accepted_only_from_the_catalogue(names in prop::collection::vec(
        prop_oneof![
            prop::sample::select(Scope::ALL.map(Scope::as_str).to_vec()).prop_map(str::to_owned),
            field(),
        ],
        0..10,
    )) {
        let catalogue: Vec<&str> = Scope::ALL.map(Scope::as_str).to_vec();
        match Scopes::parse(&names) {
            Ok(scopes) => {
                prop_assert!(names.iter().all(|name| catalogue.contains(&name.as_str())));
                let mut expected: Vec<&str> = catalogue.clone();
                expected.retain(|scope| names.iter().any(|name| name == scope));
                prop_assert_eq!(scopes.names(), expected);
            }
            Err(_) => prop_assert!(names.iter().any(|name| !catalogue.contains(&name.as_str()))),
        }
    }

    #[test]
    fn valid_names_emails_and_passwords_are_accepted_as_typed(
        name in "[A-Za-z0-9é][A-Za-z0-9é'.-]{0,10}( [A-Za-z0-9é'.-]{1,10}){0,7}[A-Za-z0-9é]",
        local in "[a-z0-9._+-]{1,40}",
        domain in "[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?\\.[a-z]{2,10}",
        password in "[ -~é]{12,200}",
    ) {
        let key_name = KeyName::parse(&name, true).unwrap().unwrap();
        prop_assert_eq!(key_name.as_str(), name.as_str());
        let person = PersonName::parse(&name).unwrap();
        prop_assert_eq!(person.as_str(), name.as_str());
        let email = format!("{local}@{domain}");
        let parsed = Email::parse(&email.to_uppercase()).unwrap();
        prop_assert_eq!(parsed.as_str(), email.as_str());
        // Of the right length, a password is kept as typed or refused as guessable.
        match Password::parse_new(password.clone(), &parsed) {
            Ok(typed) => prop_assert_eq!(typed.expose(), password.as_str()),
            Err(err) => prop_assert!(
                matches!(err, ValidationError::TooEasyToGuess { .. }),
                "{:?}: {}", password, err
            ),
        }
    }
}
