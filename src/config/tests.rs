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

#[test]
fn insecure_cookies_is_a_plain_yes_or_no_and_off_unless_said() {
    for yes in ["true", "TRUE", "1", "yes", "on"] {
        assert!(parse_insecure_cookies(yes).unwrap(), "{yes}");
    }
    for no in ["false", "0", "no", "off", ""] {
        assert!(!parse_insecure_cookies(no).unwrap(), "{no}");
    }
    let err = parse_insecure_cookies("maybe").unwrap_err().to_string();
    assert_eq!(err, "KEYWARD_INSECURE_COOKIES: `maybe` is not true or false");
}

#[test]
fn metrics_tokens_are_long_printable_and_never_shown() {
    let long = "m".repeat(MIN_METRICS_TOKEN_BYTES);
    let token = MetricsToken::parse(&long, "KEYWARD_METRICS_TOKEN").unwrap();
    assert!(token.matches(long.as_bytes()));
    assert!(!token.matches(format!("{long}x").as_bytes()));
    assert!(!token.matches(b""));
    assert!(!format!("{token:?}").contains(&long));
    let short = MetricsToken::parse("short", "KEYWARD_METRICS_TOKEN").unwrap_err();
    assert_eq!(
        short.to_string(),
        format!(
            "KEYWARD_METRICS_TOKEN: the metrics token must be at least {MIN_METRICS_TOKEN_BYTES} characters long (it has 5)"
        )
    );
    let spaced = format!("{long} x");
    assert!(matches!(
        MetricsToken::parse(&spaced, "KEYWARD_METRICS_TOKEN"),
        Err(ConfigError::BadMetricsToken("KEYWARD_METRICS_TOKEN"))
    ));
    assert!(
        MetricsToken::load(Some("  ".into()), None).unwrap().is_none(),
        "blank is unset"
    );
    assert!(MetricsToken::load(None, None).unwrap().is_none());
}

#[test]
fn metrics_token_files_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("metrics-token");
    let token = "t".repeat(40);
    std::fs::write(&path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let loaded = MetricsToken::load(None, Some(&path)).unwrap().unwrap();
    assert!(loaded.matches(token.as_bytes()), "the line end is not part of it");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        MetricsToken::load(None, Some(&path)),
        Err(ConfigError::SecretFileExposed {
            setting: "KEYWARD_METRICS_TOKEN_FILE",
            ..
        })
    ));
}

#[test]
fn a_blank_metrics_bind_opens_no_listener() {
    assert_eq!(parse_metrics_bind("").unwrap(), None);
    assert_eq!(
        parse_metrics_bind("127.0.0.1:9090").unwrap(),
        Some("127.0.0.1:9090".parse().unwrap())
    );
    assert!(matches!(
        parse_metrics_bind("9090"),
        Err(ConfigError::BadMetricsBind(_))
    ));
}

#[test]
fn redis_urls_are_checked_and_their_passwords_never_shown() {
    let url = RedisUrl::parse("redis://:hunter2@cache.internal:6379/3").unwrap();
    assert_eq!(url.expose(), "redis://:hunter2@cache.internal:6379/3");
    for shown in [format!("{url:?}"), url.to_string()] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("cache.internal:6379/3"), "{shown}");
    }
    assert!(RedisUrl::parse("redis://127.0.0.1:6379/0").is_ok());
    for bad in [
        "",
        "127.0.0.1:6379",
        "http://127.0.0.1",
        "redis://",
        "redis://:pw@h:99999",
        "rediss://h",
    ] {
        let refused = RedisUrl::parse(bad).unwrap_err().to_string();
        assert!(refused.starts_with("KEYWARD_REDIS_URL: "), "{bad}: {refused}");
    }
    let socket = RedisUrl::parse("redis+unix:///tmp/redis.sock?pass=R3disPW")
        .unwrap_err()
        .to_string();
    assert!(!socket.contains("R3disPW"), "{socket}");
    for raw in [
        "redis://:Top#Secret111@127.0.0.1:19379/10",
        "redis://:Top/Secret333@127.0.0.1:19379/10",
        "redis://:Top?Secret222@127.0.0.1:19379/10",
    ] {
        let shown = RedisUrl::parse(raw).map_or_else(|err| err.to_string(), |url| url.to_string());
        assert!(!shown.contains("Secret"), "{shown}");
    }
    let at_in_password = RedisUrl::parse("redis://:p@ss@cache:6379").unwrap();
    for shown in [format!("{at_in_password:?}"), at_in_password.to_string()] {
        assert!(!shown.contains("ss@"), "no part of the password: {shown}");
        assert!(shown.contains("<redacted>@cache:6379"), "{shown}");
    }
    let refused = RedisUrl::parse("redis://:hunter2@h:99999")
        .unwrap_err()
        .to_string();
    assert!(!refused.contains("hunter2"), "{refused}");
}

#[test]
fn a_libpq_connection_string_is_refused_without_being_repeated() {
    for raw in [
        "host=127.0.0.1 user=alice password=S3cretPW dbname=x",
        "dbname=keyward",
        "service=keyward",
    ] {
        let refused = DatabaseUrl::parse(raw).unwrap_err();
        assert!(matches!(refused, ConfigError::KeyValueDatabaseUrl), "{raw}");
        assert!(!refused.to_string().contains("S3cret"));
    }
    assert!(matches!(
        DatabaseUrl::parse("data/keyward=old.db"),
        Ok(DatabaseUrl::Sqlite(_))
    ));
}

#[test]
fn libpq_messages_lose_every_trace_of_the_password() {
    let cases = [
        (
            "postgres://alice:S3cret%zzPW@127.0.0.1:5432/x",
            r#"invalid percent-encoded token: "S3cret%zzPW""#,
        ),
        (
            "postgres://alice:S3cret%21PW@127.0.0.1/x",
            "password authentication failed: S3cret!PW",
        ),
        (
            "postgres://alice:S3cretPW@[::1:5432/x",
            "invalid URI: postgres://alice:S3cretPW@[::1:5432/x?connect_timeout=2",
        ),
        (
            "postgres://alice:x@y/z?S3cretPW@127.0.0.1:5432/x",
            r#"missing key/value separator "=" in URI query parameter: "S3cretPW@127.0.0.1:5432/x""#,
        ),
        (
            "postgres://alice:S3c/retPW@127.0.0.1/x",
            r#"could not translate host name "retPW@127.0.0.1" to address; invalid port "S3c""#,
        ),
    ];
    for (url, message) in cases {
        let scrubbed = without_password(message, url);
        for trace in ["S3c", "retPW", "zzPW"] {
            assert!(!scrubbed.contains(trace), "{url}: {scrubbed}");
        }
        assert!(scrubbed.contains("<redacted>"), "{url}: {scrubbed}");
    }
    assert_eq!(
        without_password("no such host", "postgres://alice@db/x"),
        "no such host",
        "no password, nothing to hide"
    );
}
