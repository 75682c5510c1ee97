use super::*;

#[test]
fn database_urls_pick_their_backend() {
    assert_eq!(
        DatabaseUrl::parse("sqlite://keyward.db").unwrap(),
        DatabaseUrl::Sqlite("keyward.db".into())
    );
    assert_eq!(
        DatabaseUrl::parse("sqlite:///var/lib/keyward.db").unwrap(),
        DatabaseUrl::Sqlite("/var/lib/keyward.db".into())
    );
    assert_eq!(
        DatabaseUrl::parse("data/k.db").unwrap(),
        DatabaseUrl::Sqlite("data/k.db".into())
    );
    assert!(matches!(
        DatabaseUrl::parse("postgresql://u@h/db").unwrap(),
        DatabaseUrl::Postgres(_)
    ));
    assert!(matches!(
        DatabaseUrl::parse("mysql://u@h/db"),
        Err(ConfigError::UnsupportedScheme(s)) if s == "mysql"
    ));
    assert!(matches!(
        DatabaseUrl::parse(" "),
        Err(ConfigError::EmptyDatabaseUrl)
    ));
}

#[test]
fn postgres_passwords_are_redacted_in_debug() {
    let url = DatabaseUrl::parse("postgres://kw:s3cret@db.internal/keyward").unwrap();
    let shown = format!("{url:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("kw:<redacted>@db.internal"), "{shown}");
}

#[test]
fn durations_take_a_unit() {
    assert_eq!(parse_duration("X", "30m").unwrap(), Duration::minutes(30));
    assert_eq!(parse_duration("X", "12h").unwrap(), Duration::hours(12));
    assert_eq!(parse_duration("X", "90s").unwrap(), Duration::seconds(90));
    for bad in [
        "30",
        "m",
        "0m",
        "1.5h",
        "-3m",
        "3 weeks",
        "999999999999999d",
        "367d",
    ] {
        assert!(parse_duration("X", bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn short_secrets_are_refused_and_named() {
    let err = Secret::load(
        Some("short".into()),
        None,
        &DatabaseUrl::Postgres("postgres://x".into()),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("KEYWARD_SECRET:"), "{err}");
}

#[test]
fn postgres_requires_a_shared_secret() {
    let err = Secret::load(None, None, &DatabaseUrl::Postgres("postgres://x".into())).unwrap_err();
    assert!(matches!(err, ConfigError::SecretRequired));
}

#[test]
fn sqlite_generates_a_private_secret_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = DatabaseUrl::Sqlite(dir.path().join("keyward.db"));
    let first = Secret::load(None, None, &db).unwrap();
    let second = Secret::load(None, None, &db).unwrap();
    assert_eq!(first.derive("x"), second.derive("x"));
    let mode = std::fs::metadata(dir.path().join("keyward.secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn derived_keys_differ_by_purpose() {
    let secret = Secret::from_bytes(vec![7; 64]).unwrap();
    assert_ne!(secret.derive("a"), secret.derive("b"));
}
