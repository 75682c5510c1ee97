//! Load benchmark behind BENCHMARKS.md: the release server on SQLite and on Postgres,
//! seeded with 1,000 and 1,000,000 keys, driven by wrk on loopback. `/healthz` runs
//! between each scenario, so every figure is a ratio to it in the same run.
//!
//! Run with `cargo bench --bench load` (needs `wrk` and Postgres on 127.0.0.1:5432).
//! `KW_BENCH_SECONDS` (default 5) sets each run's length; `KW_BENCH_SIZES` (default
//! `1000,1000000`) the key counts, `KW_BENCH_BACKENDS` (default `SQLite,Postgres`) the
//! backends, and `KW_BENCH_CACHE_TTL_MS` (default 1000) the cache lifetime of the
//! cache-hit server. The cache-hit run is made twice, with the request log on (its
//! default, 7 days) and off (`KEYWARD_REQUEST_LOG_DAYS=0`), on two servers over the same
//! database, alternated to even out drift. For each backend and size, a flood of made-up keys from one address
//! runs against the server in this process (to count its statements), with a real key
//! sent from the same address alongside. With Postgres, a last part starts two
//! instances on one database: how long a revocation takes to be seen by the other, and
//! their throughput together. Last, on SQLite, the cost of a key's IP allowlist on a cache
//! hit: a key with a 10-entry list against one with none, in rounds of the same run
//! (`KW_BENCH_ROUNDS`, default 5). `KW_BENCH_ONLY=allowlist` runs only that pair.
//! `KW_BENCH_ONLY=limits` runs only the shared rate limits: cache hits of a key with a
//! large limit on one Postgres database, counted through Redis (needs Redis on
//! 127.0.0.1:6379), through Postgres, and not at all (a key with no limit), in rounds.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use keyward::clock::Clock;
use keyward::config::{DatabaseUrl, Secret};
use keyward::db::{Db, DbConnection};
use keyward::domain::{ApiKey, MerchantName};

const SECRET: &str = "bench-secret-bench-secret-bench-secret-bench-secret-bench-secret-bench";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
/// Keys the cache-miss run cycles through, spread over the seeded table.
const MISS_KEYS: usize = 50_000;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One wrk run's results.
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    non_2xx: u64,
    cpu_us_per_request: f64,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seconds() -> u64 {
    std::env::var("KW_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

fn sizes() -> Vec<usize> {
    std::env::var("KW_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

fn millis(value: &str) -> f64 {
    let value = value.trim();
    let (number, factor) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (value, 1.0)
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * factor
}

fn wrk(url: &str, script: &str, env: &[(&str, String)], server_pid: u32) -> Run {
    wrk_with(url, script, env, server_pid, 64)
}

/// wrk with `connections` over two threads.
fn wrk_with(url: &str, script: &str, env: &[(&str, String)], server_pid: u32, connections: u32) -> Run {
    let before = cpu_ticks(server_pid);
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{}s", seconds()),
            "--latency",
            "-s",
        ])
        .arg(root().join("benches/wrk").join(script))
        .arg(url)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let after = cpu_ticks(server_pid);
    let text = String::from_utf8_lossy(&output.stdout);
    let find = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(prefix).map(|rest| rest.trim().to_owned()))
    };
    let requests: u64 = text
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let ticks_per_second = 100.0;
    let cpu_us = (after - before) as f64 / ticks_per_second * 1_000_000.0;
    Run {
        rps: find("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or(0.0),
        p50_ms: find("50%").map_or(f64::NAN, |v| millis(&v)),
        p99_ms: find("99%").map_or(f64::NAN, |v| millis(&v)),
        requests,
        non_2xx: find("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        cpu_us_per_request: if requests > 0 {
            cpu_us / requests as f64
        } else {
            f64::NAN
        },
    }
}

/// Generates a key through the service, as the dashboard does, with the server's
/// pepper; returns it in full.
fn generate_key(
    db: &Db,
    merchant: &keyward::domain::MerchantId,
    request: keyward::service::keys::GenerateRequest,
) -> String {
    let pepper = keyward::startup::key_pepper(&Secret::from_bytes(SECRET.as_bytes().to_vec()).unwrap());
    keyward::service::keys::generate(
        &mut connection_of(db),
        merchant,
        &request,
        &keyward::domain::Actor::cli(),
        &pepper,
        Clock::default().now(),
    )
    .unwrap()
    .key
    .expose()
    .to_owned()
}

fn connection_of(db: &Db) -> keyward::db::PooledConnection {
    db.get().expect("a database connection")
}

/// Inserts `count` active keys with literal values (all generated here), a thousand a
/// statement; returns the plaintext of about `keep` of them, spread over the table.
fn seed(db: &Db, merchant_id: &str, count: usize, keep: usize) -> Vec<String> {
    let pepper = keyward::startup::key_pepper(&Secret::from_bytes(SECRET.as_bytes().to_vec()).unwrap());
    let now = Clock::default().now();
    let stamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut kept = Vec::with_capacity(keep);
    let mut conn = connection_of(db);
    conn.batch_execute("BEGIN").unwrap();
    for start in (0..count).step_by(1000) {
        let mut sql = String::from(
            "INSERT INTO api_keys (id, merchant_id, lineage_id, version, name, description, scopes, key_hash, \
             masked_key, status, created_at, created_by, updated_at, updated_by) VALUES ",
        );
        for i in start..(start + 1000).min(count) {
            let key = ApiKey::generate();
            if i % count.div_ceil(keep).max(1) == 0 {
                kept.push(key.expose().to_owned());
            }
            let id = uuid::Uuid::new_v4();
            if i > start {
                sql.push(',');
            }
            write!(
                sql,
                "('{id}', '{merchant_id}', '{id}', 1, 'Key {i}', '', 'orders:read', '{}', '{}', 'active', '{stamp}', 'bench', '{stamp}', 'bench')",
                key.digest(&pepper).as_str(),
                key.masked()
            )
            .unwrap();
        }
        conn.batch_execute(&sql).unwrap();
    }
    conn.batch_execute("COMMIT").unwrap();
    if matches!(&**conn, DbConnection::Postgres(_)) {
        conn.batch_execute("ANALYZE api_keys").unwrap();
    }
    kept
}

fn start_server(url: &str, cache_ttl_ms: &str) -> (Server, String) {
    start_server_logging(url, cache_ttl_ms, "7")
}

/// [`start_server`] keeping the request log `request_log_days` (0: off).
fn start_server_logging(url: &str, cache_ttl_ms: &str, request_log_days: &str) -> (Server, String) {
    start_server_with(url, cache_ttl_ms, request_log_days, &[])
}

/// [`start_server_logging`] with more environment variables.
fn start_server_with(
    url: &str,
    cache_ttl_ms: &str,
    request_log_days: &str,
    more: &[(&str, &str)],
) -> (Server, String) {
    let mut server = Server(
        Command::new(root().join("target/release/keyward"))
            .arg("serve")
            .envs(more.iter().copied())
            .env("KEYWARD_KEY_CACHE_TTL_MS", cache_ttl_ms)
            .env("KEYWARD_REQUEST_LOG_DAYS", request_log_days)
            .env("DATABASE_URL", url)
            .env("KEYWARD_SECRET", SECRET)
            .env("KEYWARD_BIND", "127.0.0.1:0")
            .env("KEYWARD_TRUSTED_PROXIES", "127.0.0.1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the release binary starts"),
    );
    let mut reader = BufReader::new(server.0.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the server exited");
        if let Some(rest) = line.strip_prefix("Keyward is listening on ") {
            let address = rest.split_whitespace().next().unwrap().to_owned();
            return (server, address);
        }
    }
}

/// Creates the Postgres database `name` anew; returns its URL.
fn fresh_postgres(name: &str) -> String {
    let mut admin = connection_of(&Db::connect(&DatabaseUrl::Postgres(format!("{POSTGRES}/test"))).unwrap());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    format!("{POSTGRES}/{name}")
}

fn made_up_keys(count: usize) -> Vec<String> {
    (0..count)
        .map(|_| ApiKey::generate().expose().to_owned())
        .collect()
}

fn bad_checksum_key() -> String {
    let mut key = ApiKey::generate().expose().to_owned();
    key.truncate(48);
    key + "000000"
}

fn postgres_row_writes(db: &Db) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Writes {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = connection_of(db);
    let DbConnection::Postgres(pg) = &mut **conn else {
        return -1;
    };
    diesel::sql_query(
        "SELECT CAST(COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) AS BIGINT) AS n FROM pg_stat_user_tables",
    )
    .get_result::<Writes>(pg)
    .map_or(-1, |w| w.n)
}

struct Config {
    backend: &'static str,
    keys: usize,
    healthz: Vec<Run>,
    hit: Run,
    /// Cache hits with the request log on and off, alternated: (on, off) pairs.
    log_pairs: Vec<(Run, Run)>,
    miss: Run,
    unknown: Run,
    invalid: Run,
    writes_during_hit: Option<i64>,
    floods: Vec<Flood>,
}

fn bench(backend: &'static str, keys: usize, dir: &Path) -> Config {
    let url = match backend {
        "SQLite" => format!("sqlite://{}", dir.join(format!("bench-{keys}.db")).display()),
        _ => fresh_postgres(&format!("kw_bench_{keys}")),
    };
    let plaintexts = {
        // Its own pool, closed after seeding: Postgres reports a connection's row counts
        // when it closes, not during the runs.
        let seeding = Db::connect(&DatabaseUrl::parse(&url).unwrap()).unwrap();
        seeding.migrate().unwrap();
        let merchant = keyward::db::merchants::create(
            &mut connection_of(&seeding),
            &MerchantName::parse("Bench").unwrap(),
            Clock::default().now(),
        )
        .unwrap();
        eprintln!("{backend}: seeding {keys} keys…");
        seed(&seeding, &merchant.id, keys, MISS_KEYS)
    };
    let db = Db::connect(&DatabaseUrl::parse(&url).unwrap()).unwrap();
    let keys_file = dir.join(format!("keys-{backend}-{keys}.txt"));
    std::fs::write(&keys_file, plaintexts.join("\n")).unwrap();
    let unknown_file = dir.join("unknown.txt");
    std::fs::write(&unknown_file, made_up_keys(MISS_KEYS).join("\n")).unwrap();

    let ttl = std::env::var("KW_BENCH_CACHE_TTL_MS").unwrap_or_else(|_| "1000".into());
    let (server, address) = start_server(&url, &ttl);
    let pid = server.0.id();
    let whoami = format!("{address}/api/v1/whoami");
    let hit_auth = format!("ApiKey {}", plaintexts[0]);
    let healthz_run = |address: &str, pid: u32| {
        wrk(
            &format!("{address}/healthz"),
            "fixed.lua",
            &[("KW_AUTH", String::new())],
            pid,
        )
    };
    // Warm-up: connections, the page cache, the hit key in the cache.
    wrk(&whoami, "fixed.lua", &[("KW_AUTH", hit_auth.clone())], pid);

    eprintln!("{backend} {keys}: running");
    let mut healthz = vec![healthz_run(&address, pid)];
    // Postgres reports a backend's row counts up to a second after its transaction.
    std::thread::sleep(Duration::from_millis(2000));
    let writes_before = postgres_row_writes(&db);
    let hit = wrk(&whoami, "fixed.lua", &[("KW_AUTH", hit_auth.clone())], pid);
    std::thread::sleep(Duration::from_millis(2000));
    let writes_after = postgres_row_writes(&db);
    healthz.push(healthz_run(&address, pid));
    let log_pairs = log_on_and_off(&url, &ttl, &hit_auth, (&whoami, pid));
    let unknown = wrk(
        &whoami,
        "rotate.lua",
        &[("KW_KEYS", unknown_file.display().to_string())],
        pid,
    );
    healthz.push(healthz_run(&address, pid));
    let invalid = wrk(
        &whoami,
        "fixed.lua",
        &[("KW_AUTH", format!("ApiKey {}", bad_checksum_key()))],
        pid,
    );
    healthz.push(healthz_run(&address, pid));
    drop(server);

    // The same server with the cache off: every verification reads the database, over
    // keys spread across the whole table.
    let (server, address) = start_server(&url, "0");
    let pid = server.0.id();
    let whoami = format!("{address}/api/v1/whoami");
    wrk(
        &whoami,
        "rotate.lua",
        &[("KW_KEYS", keys_file.display().to_string())],
        pid,
    );
    healthz.push(healthz_run(&address, pid));
    let miss = wrk(
        &whoami,
        "rotate.lua",
        &[("KW_KEYS", keys_file.display().to_string())],
        pid,
    );
    healthz.push(healthz_run(&address, pid));
    drop(server);
    let floods = [1000, 0]
        .into_iter()
        .map(|ttl_ms| flood(&url, &plaintexts[0], &unknown_file, ttl_ms))
        .collect();
    Config {
        backend,
        keys,
        healthz,
        hit,
        log_pairs,
        miss,
        unknown,
        invalid,
        writes_during_hit: (writes_before >= 0).then_some(writes_after - writes_before),
        floods,
    }
}

/// Cache hits with the request log on (the server at `on`) and off (a second server on
/// the same database), alternated three times so drift on a shared machine falls on both.
fn log_on_and_off(url: &str, ttl: &str, auth: &str, on: (&str, u32)) -> Vec<(Run, Run)> {
    let (off_server, off_address) = start_server_logging(url, ttl, "0");
    let off = (format!("{off_address}/api/v1/whoami"), off_server.0.id());
    let env = [("KW_AUTH", auth.to_owned())];
    wrk(&off.0, "fixed.lua", &env, off.1);
    (0..3)
        .map(|_| {
            let logged = wrk(on.0, "fixed.lua", &env, on.1);
            let unlogged = wrk(&off.0, "fixed.lua", &env, off.1);
            (logged, unlogged)
        })
        .collect()
}

/// The one client address every flood request and the real key's requests come from.
const FLOODER: &str = "203.0.113.7";
/// Connections the flood keeps busy: made-up keys past the budget wait for the next
/// read of new keys, so the flood's rate grows with them.
const FLOOD_CONNECTIONS: u32 = 256;
/// How often the real key is sent from the flooding address meanwhile.
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// A flood of made-up keys from one address, with a real key sent from the same address
/// alongside.
struct Flood {
    cache_ttl_ms: u64,
    /// The first made-up key past the budget: it waits for the first read of every
    /// stored digest.
    first_screened_ms: f64,
    /// The growth of the server process's resident memory over that first read.
    first_read_rss_mb: f64,
    made_up: Run,
    seconds: f64,
    /// Every statement the server started during the run.
    statements: u64,
    /// The real key's requests during the run: how many, how many got 200, and their
    /// latencies in milliseconds, sorted.
    real: Vec<(u16, f64)>,
}

fn resident_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs the server in this process (so its statement counter can be read) with the cache
/// lifetime `ttl_ms`, spends the flooding address's budget of unknown keys, then floods
/// from it with wrk while sending `real_key` from it every [`PROBE_EVERY`].
fn flood(url: &str, real_key: &str, made_up_file: &Path, ttl_ms: u64) -> Flood {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let settings = keyward::config::Settings {
        database: DatabaseUrl::parse(url).unwrap(),
        bind: "127.0.0.1:0".parse().unwrap(),
        secret: Secret::from_bytes(SECRET.as_bytes().to_vec()).unwrap(),
        session: keyward::config::SessionSettings::default(),
        workers: None,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        key_cache_ttl: Duration::from_millis(ttl_ms),
        sweep_interval: keyward::config::DEFAULT_SWEEP_INTERVAL,
        body_timeout: keyward::config::DEFAULT_BODY_TIMEOUT,
        token_requests_per_minute: keyward::api::manage::DEFAULT_TOKEN_REQUESTS_PER_MINUTE,
        request_log_days: keyward::config::DEFAULT_REQUEST_LOG_DAYS,
        drain_timeout: keyward::config::DEFAULT_DRAIN_TIMEOUT,
        insecure_cookies: false,
        metrics: keyward::config::MetricsSettings::default(),
        redis_url: None,
    };
    let app = runtime
        .block_on(async { keyward::startup::Application::build(settings, Clock::default()) })
        .expect("the server starts");
    let (address, db, handle) = (format!("http://127.0.0.1:{}", app.port()), app.db(), app.handle());
    let served = runtime.spawn(app.run_until_stopped());

    let made_up = std::fs::read_to_string(made_up_file).unwrap();
    let mut made_up = made_up.lines();
    for _ in 0..keyward::api::limits::UNKNOWN_KEY_READS_PER_MINUTE {
        assert_eq!(
            whoami_status(&address, made_up.next().unwrap(), Some(FLOODER)),
            401
        );
    }
    let (rss_before, started) = (resident_mb(), std::time::Instant::now());
    assert_eq!(
        whoami_status(&address, made_up.next().unwrap(), Some(FLOODER)),
        401
    );
    let first_screened_ms = started.elapsed().as_secs_f64() * 1000.0;
    let first_read_rss_mb = resident_mb() - rss_before;

    let stop = std::sync::atomic::AtomicBool::new(false);
    let (made_up, seconds, statements, mut real) = std::thread::scope(|scope| {
        let prober = scope.spawn(|| {
            let mut real = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let started = std::time::Instant::now();
                let status = whoami_status(&address, real_key, Some(FLOODER));
                real.push((status, started.elapsed().as_secs_f64() * 1000.0));
                std::thread::sleep(PROBE_EVERY);
            }
            real
        });
        let (before, started) = (db.queries_started(), std::time::Instant::now());
        let made_up = wrk_with(
            &format!("{address}/api/v1/whoami"),
            "flood.lua",
            &[
                ("KW_KEYS", made_up_file.display().to_string()),
                ("KW_FLOODER", FLOODER.to_owned()),
            ],
            std::process::id(),
            FLOOD_CONNECTIONS,
        );
        let (statements, seconds) = (db.queries_started() - before, started.elapsed().as_secs_f64());
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (made_up, seconds, statements, prober.join().unwrap())
    });
    runtime.block_on(handle.stop(true));
    runtime.block_on(served).unwrap().unwrap();
    real.sort_by(|a, b| a.1.total_cmp(&b.1));
    Flood {
        cache_ttl_ms: ttl_ms,
        first_screened_ms,
        first_read_rss_mb,
        made_up,
        seconds,
        statements,
        real,
    }
}

/// The status `GET /api/v1/whoami` answers with `key`, over a connection of its own,
/// sent for the client `forwarded_for` if given.
fn whoami_status(address: &str, key: &str, forwarded_for: Option<&str>) -> u16 {
    use std::io::{Read, Write};
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("the server answers");
    let forwarded = forwarded_for.map_or_else(String::new, |client| format!("X-Forwarded-For: {client}\r\n"));
    write!(
        stream,
        "GET /api/v1/whoami HTTP/1.1\r\nHost: {host}\r\nAuthorization: ApiKey {key}\r\n{forwarded}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0)
}

/// Two instances on one Postgres.
struct ScaleOut {
    /// Milliseconds from a revocation's commit (through the library, as the CLI does)
    /// to the other instance refusing the key, sorted.
    propagation_ms: Vec<f64>,
    one: Run,
    two: [Run; 2],
}

/// Revocations seen by another instance, and the cache-hit throughput of one instance
/// against two sharing the same load.
fn scale_out() -> ScaleOut {
    const REVOCATIONS: usize = 100;
    let url = fresh_postgres("kw_bench_scaleout");
    let seeding = Db::connect(&DatabaseUrl::parse(&url).unwrap()).unwrap();
    seeding.migrate().unwrap();
    let merchant = keyward::db::merchants::create(
        &mut connection_of(&seeding),
        &MerchantName::parse("Bench").unwrap(),
        Clock::default().now(),
    )
    .unwrap();
    let keys = seed(&seeding, &merchant.id, 1000, 1000);
    // A minute of cache: only the change notification can make a revocation seen sooner.
    let (first, first_address) = start_server(&url, "60000");
    let (second, second_address) = start_server(&url, "60000");
    let pepper = keyward::startup::key_pepper(&Secret::from_bytes(SECRET.as_bytes().to_vec()).unwrap());
    let actor = keyward::domain::Actor::cli();
    let mut propagation_ms = Vec::with_capacity(REVOCATIONS);
    for key in keys.iter().skip(1).take(REVOCATIONS) {
        let digest = ApiKey::parse(key).unwrap().digest(&pepper);
        let id = keyward::db::keys::find_for_verification(&mut connection_of(&seeding), &digest)
            .unwrap()
            .unwrap()
            .id;
        assert_eq!(whoami_status(&second_address, key, None), 200);
        let started = std::time::Instant::now();
        keyward::service::keys::revoke(
            &mut connection_of(&seeding),
            &merchant.id,
            &id,
            "REVOKE",
            &actor,
            Clock::default().now(),
        )
        .unwrap();
        while whoami_status(&second_address, key, None) == 200 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "a revocation was not seen"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        propagation_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    propagation_ms.sort_by(f64::total_cmp);

    let auth = [("KW_AUTH", format!("ApiKey {}", keys[0]))];
    let one = wrk(
        &format!("{first_address}/api/v1/whoami"),
        "fixed.lua",
        &auth,
        first.0.id(),
    );
    let (first_pid, second_pid) = (first.0.id(), second.0.id());
    let two = std::thread::scope(|scope| {
        let a = scope.spawn(|| {
            wrk_with(
                &format!("{first_address}/api/v1/whoami"),
                "fixed.lua",
                &auth,
                first_pid,
                32,
            )
        });
        let b = scope.spawn(|| {
            wrk_with(
                &format!("{second_address}/api/v1/whoami"),
                "fixed.lua",
                &auth,
                second_pid,
                32,
            )
        });
        [a.join().unwrap(), b.join().unwrap()]
    });
    drop((first, second));
    ScaleOut {
        propagation_ms,
        one,
        two,
    }
}

fn scale_out_report(result: &ScaleOut) -> String {
    let ms = &result.propagation_ms;
    let at = |share: f64| ms[((ms.len() - 1) as f64 * share).round() as usize];
    let two_rps = result.two[0].rps + result.two[1].rps;
    let mut out = String::new();
    writeln!(out, "\n### Scale-out (Postgres, two instances)\n").unwrap();
    writeln!(
        out,
        "- Revocation seen by the other instance ({} revocations): median {:.1} ms, p90 {:.1} ms, worst {:.1} ms.",
        ms.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    )
    .unwrap();
    writeln!(
        out,
        "- Cache-hit throughput: one instance {:.0} req/s (64 connections); two instances {:.0} + {:.0} = {:.0} req/s (32 connections each): {:.2}× one instance.",
        result.one.rps,
        result.two[0].rps,
        result.two[1].rps,
        two_rps,
        two_rps / result.one.rps
    )
    .unwrap();
    out
}

fn report(configs: &[Config]) -> String {
    let mut out = String::new();
    writeln!(out, "| backend | keys | run | req/s | × healthz | p50 ms | p99 ms | × healthz p99 | server CPU µs/req | × healthz CPU | non-2xx |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    for config in configs {
        let n = config.healthz.len() as f64;
        let base_rps = config.healthz.iter().map(|r| r.rps).sum::<f64>() / n;
        let base_p99 = config.healthz.iter().map(|r| r.p99_ms).sum::<f64>() / n;
        let base_cpu = config.healthz.iter().map(|r| r.cpu_us_per_request).sum::<f64>() / n;
        let mut row = |name: &str, run: &Run| {
            writeln!(
                out,
                "| {} | {} | {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {} |",
                config.backend,
                config.keys,
                run.rps,
                run.rps / base_rps,
                run.p50_ms,
                run.p99_ms,
                run.p99_ms / base_p99,
                run.cpu_us_per_request,
                run.cpu_us_per_request / base_cpu,
                run.non_2xx,
            )
            .unwrap();
        };
        row("healthz (first)", &config.healthz[0]);
        row("cache hit", &config.hit);
        for (on, off) in &config.log_pairs {
            row("cache hit, request log on", on);
            row("cache hit, request log off", off);
        }
        row("cache miss", &config.miss);
        row("unknown key (valid checksum)", &config.unknown);
        row("invalid key (bad checksum)", &config.invalid);
    }
    writeln!(out).unwrap();
    writeln!(
        out,
        "Flood from one address ({FLOOD_CONNECTIONS} connections of made-up keys past the address's budget, the real key sent from the same address every {} ms):\n",
        PROBE_EVERY.as_millis()
    )
    .unwrap();
    writeln!(out, "| backend | keys | cache | made-up req/s | made-up p50 ms | non-2xx | statements/s | of which the real key's reads/s | real key 200s | real key p50 ms | real key p99 ms | first past the budget ms | its memory MB |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    for config in configs {
        for flood in &config.floods {
            let real = &flood.real;
            let at = |share: f64| real[((real.len() - 1) as f64 * share).round() as usize].1;
            let ok = real.iter().filter(|(status, _)| *status == 200).count();
            // Uncached, each of the real key's requests is one read.
            let real_reads = if flood.cache_ttl_ms == 0 {
                real.len() as f64
            } else {
                0.0
            };
            writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.1} | {} | {:.1} | {:.1} | {ok} / {} | {:.2} | {:.2} | {:.0} | {:.1} |",
                config.backend,
                config.keys,
                if flood.cache_ttl_ms == 0 { "off".to_owned() } else { format!("{} ms", flood.cache_ttl_ms) },
                flood.made_up.rps,
                flood.made_up.p50_ms,
                flood.made_up.non_2xx,
                flood.statements as f64 / flood.seconds,
                real_reads / flood.seconds,
                real.len(),
                at(0.5),
                at(0.99),
                flood.first_screened_ms,
                flood.first_read_rss_mb,
            )
            .unwrap();
        }
    }
    writeln!(out).unwrap();
    for config in configs {
        if let Some(writes) = config.writes_during_hit {
            writeln!(
                out,
                "- {} {} keys: {} row writes in Postgres during the {} cache-hit requests (the flusher's once-a-second batch).",
                config.backend, config.keys, writes, config.hit.requests
            )
            .unwrap();
        }
    }
    for config in configs {
        let mean = |pick: fn(&(Run, Run)) -> &Run, of: fn(&Run) -> f64| {
            config.log_pairs.iter().map(pick).map(of).sum::<f64>() / config.log_pairs.len() as f64
        };
        let (on, off) = (
            mean(|pair| &pair.0, |run| run.rps),
            mean(|pair| &pair.1, |run| run.rps),
        );
        let cpu = |run: &Run| run.cpu_us_per_request;
        let (on_cpu, off_cpu) = (mean(|pair| &pair.0, cpu), mean(|pair| &pair.1, cpu));
        writeln!(
            out,
            "- {} {} keys: cache hits with the request log on are {:.3}× the throughput with it off ({on:.0} vs {off:.0} req/s, the mean of {} alternated runs each); server CPU {on_cpu:.1} vs {off_cpu:.1} µs per request ({:.3}×).",
            config.backend,
            config.keys,
            on / off,
            config.log_pairs.len(),
            on_cpu / off_cpu,
        )
        .unwrap();
    }
    for backend in ["SQLite", "Postgres"] {
        let of = |keys: usize| configs.iter().find(|c| c.backend == backend && c.keys == keys);
        if let (Some(small), Some(large)) = (of(1_000), of(1_000_000)) {
            writeln!(
                out,
                "- {backend}: 1,000,000 keys vs 1,000 keys: cache hit {:.2}×, cache miss {:.2}× the throughput.",
                large.hit.rps / small.hit.rps,
                large.miss.rps / small.miss.rps
            )
            .unwrap();
        }
    }
    out
}

/// Ten entries, the bench client's address (127.0.0.1) matched only by the last, so a
/// request is checked against all of them.
const TEN_ENTRIES: [&str; 10] = [
    "203.0.113.0/24",
    "198.51.100.0/24",
    "192.0.2.0/24",
    "2001:db8::/32",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "2001:db8:1::/48",
    "127.0.0.0/8",
];

/// Cache-hit throughput of a key with no allowlist and of one with [`TEN_ENTRIES`], on one
/// server, in alternating rounds (the order swapped each round, so drift in the machine's
/// load falls on both); each side's figure is the median of its rounds.
fn allowlist_pair(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("bench-allowlist.db").display());
    let (open, listed) = {
        let seeding = Db::connect(&DatabaseUrl::parse(&url).unwrap()).unwrap();
        seeding.migrate().unwrap();
        let merchant = keyward::db::merchants::create(
            &mut connection_of(&seeding),
            &MerchantName::parse("Bench").unwrap(),
            Clock::default().now(),
        )
        .unwrap();
        let generate = |name: &str, allowed_ips: &[&str]| {
            generate_key(
                &seeding,
                &merchant.id,
                keyward::service::keys::GenerateRequest {
                    name: name.to_owned(),
                    scopes: vec!["orders:read".to_owned()],
                    allowed_ips: allowed_ips.iter().map(|entry| (*entry).to_owned()).collect(),
                    ..Default::default()
                },
            )
        };
        (generate("Open", &[]), generate("Listed", &TEN_ENTRIES))
    };
    let (server, address) = start_server(&url, "1000");
    let pid = server.0.id();
    let whoami = format!("{address}/api/v1/whoami");
    let run = |key: &str| wrk(&whoami, "fixed.lua", &[("KW_AUTH", format!("ApiKey {key}"))], pid);
    run(&open);
    run(&listed);
    let rounds: usize = std::env::var("KW_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let (mut none, mut ten) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        eprintln!("allowlist: round {}/{rounds}", round + 1);
        if round % 2 == 0 {
            none.push(run(&open));
            ten.push(run(&listed));
        } else {
            ten.push(run(&listed));
            none.push(run(&open));
        }
    }
    drop(server);
    let median = |runs: &[Run], of: fn(&Run) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(of).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let rps = |run: &Run| run.rps;
    let cpu = |run: &Run| run.cpu_us_per_request;
    let mut out = String::new();
    writeln!(
        out,
        "\n### IP allowlist on a cache hit (SQLite, {rounds} rounds of {} s)\n",
        seconds()
    )
    .unwrap();
    writeln!(
        out,
        "| key | median req/s | median server CPU µs/req | rounds (req/s) | non-2xx |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|").unwrap();
    for (name, runs) in [("no allowlist", &none), ("10-entry allowlist", &ten)] {
        let each: Vec<String> = runs.iter().map(|run| format!("{:.0}", run.rps)).collect();
        let non_2xx: u64 = runs.iter().map(|run| run.non_2xx).sum();
        writeln!(
            out,
            "| {name} | {:.0} | {:.1} | {} | {non_2xx} |",
            median(runs, rps),
            median(runs, cpu),
            each.join(", ")
        )
        .unwrap();
    }
    writeln!(
        out,
        "\n10-entry allowlist / none: {:.3}× the throughput, {:.3}× the server CPU per request",
        median(&ten, rps) / median(&none, rps),
        median(&ten, cpu) / median(&none, cpu)
    )
    .unwrap();
    out
}

/// The largest limit a key may have: more than a run sends in a minute, so the
/// limiter counts every request and refuses none.
const MOST_PER_MINUTE: u32 = 1_000_000;

/// Where the limits server counts: its name in the table and its extra environment.
const LIMIT_STORES: [(&str, &[(&str, &str)]); 2] = [
    ("Redis", &[("KEYWARD_REDIS_URL", "redis://127.0.0.1:6379/14")]),
    ("Postgres", &[]),
];

/// Cache-hit throughput with the shared rate limits on (a key limited to
/// [`MOST_PER_MINUTE`], counted through Redis and through
/// Postgres) and off (a key with no limit, which no limiter counts), on one Postgres
/// database, one server per store, in alternating rounds; medians of the rounds.
fn limits_trio() -> String {
    let url = fresh_postgres("kw_bench_limits");
    let seeding = Db::connect(&DatabaseUrl::parse(&url).unwrap()).unwrap();
    seeding.migrate().unwrap();
    let merchant = keyward::db::merchants::create(
        &mut connection_of(&seeding),
        &MerchantName::parse("Bench").unwrap(),
        Clock::default().now(),
    )
    .unwrap();
    let generate = |name: &str, rate_limit: String| {
        generate_key(
            &seeding,
            &merchant.id,
            keyward::service::keys::GenerateRequest {
                name: name.to_owned(),
                rate_limit,
                ..Default::default()
            },
        )
    };
    let policy = keyward::domain::KeyPolicy {
        max_active_keys: 100,
        ..keyward::domain::KeyPolicy::default()
    };
    keyward::service::policy::set_policy(
        &mut connection_of(&seeding),
        &merchant.id,
        &policy,
        &keyward::domain::Actor::cli(),
        Clock::default().now(),
    )
    .unwrap();
    let unlimited = generate("Unlimited", String::new());
    // A new limited key for every run: a run sends fewer than its limit, while all the
    // runs of one minute together might not.
    let fresh = {
        let made = std::cell::Cell::new(0);
        move || {
            made.set(made.get() + 1);
            generate(&format!("Limited {}", made.get()), MOST_PER_MINUTE.to_string())
        }
    };
    let servers: Vec<(&str, Server, String)> = LIMIT_STORES
        .iter()
        .map(|(store, env)| {
            let (server, address) = start_server_with(&url, "1000", "7", env);
            (*store, server, address)
        })
        .collect();
    let run = |address: &str, pid: u32, key: &str| {
        wrk(
            &format!("{address}/api/v1/whoami"),
            "fixed.lua",
            &[("KW_AUTH", format!("ApiKey {key}"))],
            pid,
        )
    };
    let rounds: usize = std::env::var("KW_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    // Per side: (name, runs); off runs on the Postgres server, so its only difference
    // from "Postgres" is the limiter.
    let mut sides: Vec<(String, Vec<Run>)> = servers
        .iter()
        .map(|(store, ..)| (format!("limit on, shared through {store}"), Vec::new()))
        .chain(std::iter::once(("no limit (limiter off)".to_owned(), Vec::new())))
        .collect();
    let (_, postgres_server, postgres_address) = servers.last().unwrap();
    for (_, server, address) in &servers {
        run(address, server.0.id(), &fresh());
    }
    for round in 0..rounds {
        eprintln!("limits: round {}/{rounds}", round + 1);
        let mut order: Vec<usize> = (0..sides.len()).collect();
        order.rotate_left(round % sides.len());
        for side in order {
            let measured = match servers.get(side) {
                Some((_, server, address)) => run(address, server.0.id(), &fresh()),
                None => run(postgres_address, postgres_server.0.id(), &unlimited),
            };
            sides[side].1.push(measured);
        }
    }
    drop(servers);
    let median = |runs: &[Run], of: fn(&Run) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(of).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let rps = |run: &Run| run.rps;
    let cpu = |run: &Run| run.cpu_us_per_request;
    let mut out = String::new();
    writeln!(
        out,
        "\n### Shared rate limits on a cache hit (Postgres, {rounds} rounds of {} s)\n",
        seconds()
    )
    .unwrap();
    writeln!(
        out,
        "| key and store | median req/s | median p99 ms | median server CPU µs/req | rounds (req/s) | non-2xx |"
    )
    .unwrap();
    writeln!(out, "|---|---|---|---|---|---|").unwrap();
    for (name, runs) in &sides {
        let each: Vec<String> = runs.iter().map(|run| format!("{:.0}", run.rps)).collect();
        let non_2xx: u64 = runs.iter().map(|run| run.non_2xx).sum();
        writeln!(
            out,
            "| {name} | {:.0} | {:.2} | {:.1} | {} | {non_2xx} |",
            median(runs, rps),
            median(runs, |run| run.p99_ms),
            median(runs, cpu),
            each.join(", ")
        )
        .unwrap();
    }
    let off = median(&sides.last().unwrap().1, rps);
    for (name, runs) in &sides[..sides.len() - 1] {
        writeln!(
            out,
            "\n{name} / off: {:.3}× the throughput",
            median(runs, rps) / off
        )
        .unwrap();
    }
    out
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "keyward"])
        .current_dir(root())
        .status()
        .expect("cargo builds the release binary");
    assert!(status.success());
    keyward::db::prepare_tls();
    let dir = tempfile::tempdir().unwrap();
    if std::env::var("KW_BENCH_ONLY").is_ok_and(|only| only == "allowlist") {
        println!("{}", allowlist_pair(dir.path()));
        return;
    }
    if std::env::var("KW_BENCH_ONLY").is_ok_and(|only| only == "limits") {
        println!("{}", limits_trio());
        return;
    }
    let mut configs = Vec::new();
    let backends = std::env::var("KW_BENCH_BACKENDS").unwrap_or_else(|_| "SQLite,Postgres".into());
    for backend in ["SQLite", "Postgres"] {
        if !backends
            .split(',')
            .any(|wanted| wanted.trim().eq_ignore_ascii_case(backend))
        {
            continue;
        }
        for keys in sizes() {
            configs.push(bench(backend, keys, dir.path()));
        }
    }
    let mut report = report(&configs);
    if backends
        .split(',')
        .any(|wanted| wanted.trim().eq_ignore_ascii_case("Postgres"))
    {
        eprintln!("Postgres: two instances");
        report.push_str(&scale_out_report(&scale_out()));
    }
    report.push_str(&allowlist_pair(dir.path()));
    let out_dir = root().join("target/bench");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(out_dir.join("report.md"), &report).unwrap();
    println!("{report}");
}
