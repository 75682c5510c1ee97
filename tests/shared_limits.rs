//! Rate limits that hold for the whole deployment: three instances on one Postgres,
//! with the counts shared through Redis or through the database, and an unreachable
//! Redis leaving each instance to count alone.

use std::time::{Duration as StdDuration, Instant};

use keyward::config::{RedisUrl, Settings};
use keyward::db::Db;
use keyward::domain::{Actor, ApiKey};
use keyward::service::keys::{self, GenerateRequest};
use reqwest::StatusCode;

use crate::support::{Backend, TestApp, free_port, logs, spawn_app_with, test_secret};

/// The Redis the suite uses; each test here flushes a database index of its own.
const REDIS: &str = "redis://127.0.0.1:6379";

/// The worst case the README states for limits shared through the database: one share
/// of the whole limit over for each other instance.
fn postgres_tolerance(limit: u32, instances: u32) -> u32 {
    (instances - 1) * limit.div_ceil(instances)
}

/// A Redis database index of this test's own, emptied; `None` (skipped with one line)
/// when Redis does not answer outside CI.
fn redis_database(index: u8) -> Option<RedisUrl> {
    let url = format!("{REDIS}/{index}");
    let answered = redis::Client::open(url.as_str()).and_then(|client| {
        let mut connection = client.get_connection_with_timeout(StdDuration::from_secs(1))?;
        redis::cmd("FLUSHDB").query::<()>(&mut connection)
    });
    if let Err(err) = answered {
        assert!(
            !std::env::var("CI").is_ok_and(|ci| ci == "true"),
            "Redis is required in CI but does not answer at {REDIS}: {err}"
        );
        eprintln!("skipped: Redis does not answer at {REDIS}");
        return None;
    }
    Some(RedisUrl::parse(&url).expect("a Redis URL"))
}

/// Three instances on one Postgres, configured alike; their addresses and database
/// handles, the first one's app.
async fn three_instances(configure: impl Fn(&mut Settings)) -> Option<(TestApp, Vec<(String, Db)>)> {
    let app = spawn_app_with(Backend::Postgres, &configure).await?;
    let mut instances = vec![(app.address.clone(), app.db.clone())];
    for _ in 0..2 {
        instances.push(app.another_instance(&configure));
    }
    // Every instance has heard the others' heartbeats (a sync is 200 ms).
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    Some((app, instances))
}

/// Waits until `instances` servers have opened their connection to `redis` (in the
/// background, after they start; requests before count per instance).
async fn connected_to_redis(redis: &RedisUrl, instances: usize) {
    let field = format!("redis={redis}");
    let deadline = Instant::now() + StdDuration::from_secs(5);
    while logs()
        .lines()
        .filter(|line| line.contains("Redis connection open") && line.ends_with(&field))
        .count()
        < instances
    {
        assert!(
            Instant::now() < deadline,
            "{instances} servers connect to {redis}"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// Shared windows start on the minute: a test that must fit in one waits out the end
/// of this one if it is near.
async fn clear_of_the_minute_edge() {
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 60_000;
    if into_minute > 50_000 {
        let wait = u64::try_from(60_000 - into_minute).unwrap() + 200;
        tokio::time::sleep(StdDuration::from_millis(wait)).await;
    }
}

fn limited_key(app: &TestApp, limit: u32) -> String {
    keys::generate(
        &mut app.db.get().unwrap(),
        &app.demo_merchant_id(),
        &GenerateRequest {
            name: "Limited".to_owned(),
            rate_limit: limit.to_string(),
            ..Default::default()
        },
        &Actor::cli(),
        &keyward::startup::key_pepper(&test_secret()),
        app.clock.now(),
    )
    .unwrap()
    .key
    .expose()
    .to_owned()
}

/// Sends `count` requests with `key` round-robin over `addresses`, one after another;
/// returns how many were accepted, after checking every other one was `rate_limited`.
async fn round_robin(addresses: &[String], key: &str, count: usize) -> u32 {
    let client = reqwest::Client::new();
    let mut accepted = 0;
    for n in 0..count {
        let res = client
            .get(format!("{}/api/v1/whoami", addresses[n % addresses.len()]))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .unwrap();
        match res.status() {
            StatusCode::OK => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let body: serde_json::Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
            }
            other => panic!("request {n}: {other}"),
        }
    }
    accepted
}

async fn a_limit_of_ten_a_minute_holds_across_three_instances(redis: Option<RedisUrl>) -> Option<u32> {
    let (app, instances) = three_instances(|settings| settings.redis_url = redis.clone()).await?;
    if let Some(redis) = &redis {
        connected_to_redis(redis, instances.len()).await;
    }
    let key = limited_key(&app, 10);
    let addresses: Vec<String> = instances.into_iter().map(|(address, _)| address).collect();
    clear_of_the_minute_edge().await;
    Some(round_robin(&addresses, &key, 60).await)
}

#[tokio::test]
async fn a_key_limit_holds_across_three_instances_through_redis() {
    let Some(redis) = redis_database(11) else {
        return;
    };
    let Some(accepted) = a_limit_of_ten_a_minute_holds_across_three_instances(Some(redis)).await else {
        return;
    };
    // Redis counts every instance's requests in one counter: exact.
    assert_eq!(accepted, 10, "per instance would have let 30 through");
}

#[tokio::test]
async fn a_key_limit_holds_across_three_instances_through_postgres() {
    let Some(accepted) = a_limit_of_ten_a_minute_holds_across_three_instances(None).await else {
        return;
    };
    assert!(
        (10..=10 + postgres_tolerance(10, 3)).contains(&accepted),
        "{accepted} accepted; per instance would have let 30 through"
    );
    assert!(logs().contains("rate limits shared through Postgres"));
}

#[tokio::test]
async fn an_instance_started_mid_minute_starts_from_what_the_minute_spent() {
    let Some(app) = spawn_app_with(Backend::Postgres, |_| {}).await else {
        return;
    };
    let key = limited_key(&app, 10);
    clear_of_the_minute_edge().await;
    assert_eq!(
        round_robin(std::slice::from_ref(&app.address), &key, 12).await,
        10
    );
    // Two syncs: the first instance's count is in the database.
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    // A restart (a new instance, as after a crash or a rolling deploy) in the same
    // minute: it reads what was spent when it joins, so it gives no fresh share away.
    let (restarted, _) = app.another_instance(|_| {});
    assert_eq!(
        round_robin(&[restarted], &key, 10).await,
        0,
        "a restarted instance let a new share of the limit through"
    );
}

/// Sends `count` made-up keys (valid checksums, no key has them) all at once,
/// round-robin over `addresses`; every one is answered 401.
async fn unknown_keys(addresses: &[String], count: usize) {
    let client = reqwest::Client::new();
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..count {
        let request = client
            .get(format!("{}/api/v1/whoami", addresses[n % addresses.len()]))
            .header("Authorization", format!("ApiKey {}", ApiKey::generate().expose()));
        requests.spawn(async move { request.send().await.unwrap().status() });
    }
    while let Some(status) = requests.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn the_unknown_key_budget_per_address_holds_across_three_instances() {
    let Some((_app, instances)) = three_instances(|_| {}).await else {
        return;
    };
    let addresses: Vec<String> = instances.iter().map(|(address, _)| address.clone()).collect();
    let statements = || instances.iter().map(|(_, db)| db.queries_started()).sum::<u64>();
    clear_of_the_minute_edge().await;
    let (before, started) = (statements(), Instant::now());
    unknown_keys(&addresses, 180).await;
    let (reads, took) = (statements() - before, started.elapsed());
    // Each made-up key within the budget costs one read; past it, an instance screens
    // them in memory, reading new keys at most once per `known::READ_INTERVAL` (plus a
    // first read of every digest). The limits' own sync has a pool of its own and is
    // not counted here.
    let interval = keyward::api::known::READ_INTERVAL.as_millis();
    let screening = 3 * (2 + u64::try_from(took.as_millis() / interval).unwrap());
    let budget = u64::from(keyward::api::limits::UNKNOWN_KEY_READS_PER_MINUTE);
    let most = budget + u64::from(postgres_tolerance(60, 3)) + screening;
    assert!(
        (budget..=most).contains(&reads),
        "{reads} statements for 180 made-up keys in {took:?} (at most {most}); per instance it would be 180 reads"
    );
    assert!(most < 180, "the bound tells shared from per instance: {most}");
}

#[tokio::test]
async fn an_unreachable_redis_leaves_each_instance_its_own_limits_with_one_warning() {
    // A port nothing listens on.
    let port = free_port();
    let url = RedisUrl::parse(&format!("redis://:not-logged@127.0.0.1:{port}/0")).unwrap();
    let Some(app) = spawn_app_with(Backend::Sqlite, |settings| settings.redis_url = Some(url.clone())).await
    else {
        return;
    };
    let key = limited_key(&app, 3);
    let started = Instant::now();
    let accepted = round_robin(std::slice::from_ref(&app.address), &key, 8).await;
    let took = started.elapsed();
    assert_eq!(accepted, 3, "the instance keeps the key's limit by itself");
    assert!(
        took < StdDuration::from_secs(2),
        "8 requests took {took:?}: requests must not wait for Redis"
    );
    let logged = logs();
    let about_it: Vec<&str> = logged
        .lines()
        .filter(|line| line.contains(&format!("127.0.0.1:{port}")))
        .collect();
    assert!(
        about_it
            .iter()
            .any(|line| line.contains("rate limits shared through Redis at redis://")),
        "the start-up line names the store: {about_it:?}"
    );
    let warnings = about_it
        .iter()
        .filter(|line| line.contains("WARN") && line.contains("Redis is out of reach"))
        .count();
    assert_eq!(warnings, 1, "one warning, not one per request: {about_it:?}");
    assert!(!logged.contains("not-logged"), "the password is never logged");
}

/// A `redis-server` of the test's own on `port`, killed when dropped.
struct PrivateRedis {
    child: std::process::Child,
    /// Where a Cluster node keeps its configuration, removed after it stops.
    _cluster_dir: Option<tempfile::TempDir>,
}

impl PrivateRedis {
    /// Starts it and waits until it answers; `None` (skipped with one line) when there
    /// is no `redis-server` outside CI.
    fn start(port: u16) -> Option<Self> {
        Self::start_with(port, None)
    }

    /// A Redis Cluster node, alone in its cluster and serving no hash slot yet.
    fn start_cluster_node(port: u16) -> Option<Self> {
        Self::start_with(port, Some(tempfile::tempdir().unwrap()))
    }

    fn start_with(port: u16, cluster: Option<tempfile::TempDir>) -> Option<Self> {
        let mut command = std::process::Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null());
        if let Some(dir) = &cluster {
            command
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-require-full-coverage",
                    "no",
                ])
                .arg("--dir")
                .arg(dir.path());
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(err) => {
                assert!(
                    !std::env::var("CI").is_ok_and(|ci| ci == "true"),
                    "redis-server is required in CI: {err}"
                );
                eprintln!("skipped: no redis-server ({err})");
                return None;
            }
        };
        let server = Self {
            child,
            _cluster_dir: cluster,
        };
        let deadline = Instant::now() + StdDuration::from_secs(5);
        while server.counters(port).is_none() {
            assert!(Instant::now() < deadline, "the private redis-server answers");
            std::thread::sleep(StdDuration::from_millis(20));
        }
        Some(server)
    }

    /// Sends it one command as an operator would; its answer.
    fn admin(port: u16, args: &[&str]) -> redis::Value {
        let mut connection = redis::Client::open(format!("redis://127.0.0.1:{port}/0"))
            .unwrap()
            .get_connection_with_timeout(StdDuration::from_secs(1))
            .unwrap();
        redis::cmd(args[0])
            .arg(&args[1..])
            .query(&mut connection)
            .unwrap_or_else(|err| panic!("{args:?}: {err}"))
    }

    /// Every rate limit counter it holds and its value; `None` while it does not answer.
    fn counters(&self, port: u16) -> Option<Vec<(String, i64)>> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0")).ok()?;
        let mut connection = client
            .get_connection_with_timeout(StdDuration::from_secs(1))
            .ok()?;
        let names: Vec<String> = redis::cmd("KEYS")
            .arg("keyward:limits:*")
            .query(&mut connection)
            .ok()?;
        names
            .into_iter()
            .map(|name| {
                let value: i64 = redis::cmd("GET").arg(&name).query(&mut connection).ok()?;
                Some((name, value))
            })
            .collect()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server on SQLite whose limits are counted in a Redis of the test's own, on a free
/// port, which the test may stop, start and reconfigure.
struct OnPrivateRedis {
    redis: PrivateRedis,
    port: u16,
    app: TestApp,
}

impl OnPrivateRedis {
    async fn start() -> Option<Self> {
        let port = free_port();
        let redis = PrivateRedis::start(port)?;
        let url = RedisUrl::parse(&format!("redis://127.0.0.1:{port}/0")).unwrap();
        let app = spawn_app_with(Backend::Sqlite, |settings| settings.redis_url = Some(url.clone())).await?;
        connected_to_redis(&url, 1).await;
        Some(Self { redis, port, app })
    }
}

/// How many lines the server logged about the Redis on `port` that say `text`.
fn logged_about(port: u16, text: &str) -> usize {
    logs()
        .lines()
        .filter(|line| line.contains(&format!("127.0.0.1:{port}")) && line.contains(text))
        .count()
}

/// Sends `key` a request every 150 ms for three seconds (each accepted, counted per
/// instance): the Redis on `port` was found out of reach once, with one warning, and
/// was not taken back (`why` otherwise).
async fn stays_out_with_one_warning(address: &[String], key: &str, port: u16, why: &str) {
    for _ in 0..20 {
        assert_eq!(round_robin(address, key, 1).await, 1);
        tokio::time::sleep(StdDuration::from_millis(150)).await;
    }
    assert_eq!(
        logged_about(port, "Redis is out of reach"),
        1,
        "one warning, not one a probe"
    );
    assert_eq!(logged_about(port, "Redis answers again"), 0, "{why}");
}

#[tokio::test]
async fn a_redis_that_goes_away_and_comes_back_is_used_again() {
    let Some(OnPrivateRedis { redis, port, app, .. }) = OnPrivateRedis::start().await else {
        return;
    };
    let key = limited_key(&app, 5);
    let address = std::slice::from_ref(&app.address);
    clear_of_the_minute_edge().await;
    assert_eq!(round_robin(address, &key, 2).await, 2);
    let counted = |redis: &PrivateRedis| {
        redis
            .counters(port)
            .unwrap()
            .into_iter()
            .filter(|(name, _)| name.starts_with("keyward:limits:key:"))
            .map(|(_, value)| value)
            .collect::<Vec<_>>()
    };
    assert_eq!(counted(&redis), [2], "the key's requests are counted in Redis");

    drop(redis);
    let started = Instant::now();
    let accepted = round_robin(address, &key, 7).await;
    assert_eq!(
        accepted, 5,
        "counted alone, the instance still keeps the key's limit"
    );
    assert!(
        started.elapsed() < StdDuration::from_secs(2),
        "no request waits for Redis"
    );
    let about_it = |text: &str| logged_about(port, text);
    assert_eq!(about_it("Redis is out of reach"), 1, "one warning");

    let redis = PrivateRedis::start(port).expect("redis-server starts again");
    let deadline = Instant::now() + StdDuration::from_secs(5);
    while about_it("Redis answers again") == 0 {
        assert!(
            Instant::now() < deadline,
            "the probe finds Redis again within seconds"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert_eq!(round_robin(address, &key, 1).await, 1);
    assert_eq!(counted(&redis), [1], "counted in Redis again");
    assert_eq!(about_it("Redis is out of reach"), 1, "still one warning");
}

#[test]
fn a_malformed_redis_url_stops_the_start_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("k.db").display());
    let output = crate::support::cli::keyward(&sqlite)
        .env("KEYWARD_REDIS_URL", "redis://:hunter2@cache.internal:99999/0")
        .output()
        .unwrap();
    crate::support::cli::assert_one_line_error(&output, "KEYWARD_REDIS_URL");
    assert_eq!(output.status.code(), Some(2));
    assert!(!crate::support::cli::stderr(&output).contains("hunter2"));
}

#[tokio::test]
async fn a_redis_that_answers_but_refuses_writes_stays_out_until_it_takes_them() {
    let Some(OnPrivateRedis {
        redis: _redis,
        port,
        app,
        ..
    }) = OnPrivateRedis::start().await
    else {
        return;
    };
    let admin = |args: &[&str]| PrivateRedis::admin(port, args);
    let key = limited_key(&app, 100);
    let address = std::slice::from_ref(&app.address);
    let about_it = |text: &str| logged_about(port, text);
    clear_of_the_minute_edge().await;
    assert_eq!(round_robin(address, &key, 1).await, 1);
    // A replica of nothing: it answers PING and reads, and refuses every write.
    admin(&["REPLICAOF", "127.0.0.1", "9"]);
    stays_out_with_one_warning(
        address,
        &key,
        port,
        "a Redis that refuses writes was not taken back",
    )
    .await;
    admin(&["REPLICAOF", "NO", "ONE"]);
    let deadline = Instant::now() + StdDuration::from_secs(5);
    while about_it("Redis answers again") == 0 {
        assert!(Instant::now() < deadline, "taken back once it takes writes");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert_eq!(round_robin(address, &key, 1).await, 1);
    assert_eq!(about_it("Redis is out of reach"), 1, "still one warning");
}

/// A Redis Cluster node serves only its own hash slots, and an ACL may allow only some
/// keys: Redis then refuses one key's counter while it takes writes to others. The
/// circuit opens once, with one warning, and the probe does not take Redis back on a
/// write to another key (it used to, every second, for the next request to open it
/// again).
#[tokio::test]
async fn a_redis_that_refuses_a_keys_counter_stays_out_without_flapping() {
    let port = free_port();
    let Some(_redis) = PrivateRedis::start_cluster_node(port) else {
        return;
    };
    PrivateRedis::admin(port, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    let deadline = Instant::now() + StdDuration::from_secs(10);
    loop {
        let info = PrivateRedis::admin(port, &["CLUSTER", "INFO"]);
        let info: String = redis::from_redis_value(info).unwrap();
        if info.contains("cluster_state:ok") {
            break;
        }
        assert!(Instant::now() < deadline, "the node serves its slots: {info}");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    let url = RedisUrl::parse(&format!("redis://127.0.0.1:{port}/0")).unwrap();
    let Some(app) = spawn_app_with(Backend::Sqlite, |settings| settings.redis_url = Some(url.clone())).await
    else {
        return;
    };
    connected_to_redis(&url, 1).await;
    let key = limited_key(&app, 100);
    let address = std::slice::from_ref(&app.address);
    clear_of_the_minute_edge().await;
    assert_eq!(round_robin(address, &key, 1).await, 1);
    let (counter, _) = _redis
        .counters(port)
        .unwrap()
        .into_iter()
        .find(|(name, _)| name.starts_with("keyward:limits:key:"))
        .expect("the key's request is counted in Redis");
    // This minute's counter and the next's, should the test cross a minute.
    let (scope, window) = counter.rsplit_once(':').unwrap();
    let next = format!("{scope}:{}", window.parse::<i64>().unwrap() + 60_000);
    let mut slots = Vec::new();
    for name in [&counter, &next] {
        let slot: i64 =
            redis::from_redis_value(PrivateRedis::admin(port, &["CLUSTER", "KEYSLOT", name])).unwrap();
        if !slots.contains(&slot) {
            PrivateRedis::admin(port, &["CLUSTER", "DELSLOTS", &slot.to_string()]);
            slots.push(slot);
        }
    }
    stays_out_with_one_warning(
        address,
        &key,
        port,
        "taken back on a write to a key Redis takes, not to the key's counter",
    )
    .await;
}
