//! A stop signal drains: the server refuses new connections, answers every request that
//! still comes on an open keep-alive connection (with `Connection: close`), and exits once
//! they are closed. actix's own graceful stop dropped such requests unanswered.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::db_test;
use crate::support::cli::{start_server_at, start_server_with};
use crate::support::postgres::PrivatePostgres;
use crate::support::{Backend, TestDb};

/// One HTTP/1.1 answer read off a kept-alive connection.
struct Answer {
    status: u16,
    closes: bool,
    body: String,
}

/// Sends `GET path` on `stream` and reads the whole answer; `None` when the connection
/// ended before an answer came (the request was dropped).
fn get(stream: &mut TcpStream, path: &str) -> Option<Answer> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: keyward.test\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut status_line = String::new();
    if reader.read_line(&mut status_line).ok()? == 0 {
        return None;
    }
    let status = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = 0;
    let mut closes = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "connection" => closes = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Answer {
        status,
        closes,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn connect(address: &str) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(address.trim_start_matches("http://"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// How a client that keeps sending on its connection ended.
#[derive(Debug, PartialEq)]
enum Ending {
    /// An answer said `Connection: close`, and the client stopped there.
    ToldToClose,
    /// A request went unanswered.
    Dropped,
}

db_test!(a_stop_signal_answers_what_comes_on_open_connections_then_exits);

async fn a_stop_signal_answers_what_comes_on_open_connections_then_exits(backend: Backend) {
    let Some(db) = TestDb::create(backend) else { return };
    let (mut server, _, address) = start_server_with(&db, backend, |command| {
        command
            .env("KEYWARD_WORKERS", "2")
            .stderr(std::process::Stdio::piped());
    });
    let log = read_in_the_background(server.0.stderr.take().unwrap());

    // Busy clients: each sends request after request on one kept-alive connection.
    let answered = Arc::new(AtomicUsize::new(0));
    let busy: Vec<_> = (0..6)
        .map(|_| {
            let mut stream = connect(&address).unwrap();
            let answered = answered.clone();
            std::thread::spawn(move || {
                loop {
                    match get(&mut stream, "/healthz") {
                        Some(answer) => {
                            assert_eq!(answer.status, 200);
                            answered.fetch_add(1, Ordering::Relaxed);
                            if answer.closes {
                                return Ending::ToldToClose;
                            }
                        }
                        None => return Ending::Dropped,
                    }
                }
            })
        })
        .collect();
    // Newcomers: a new connection for each request, until connections are refused.
    let newcomers = {
        let address = address.clone();
        std::thread::spawn(move || {
            let mut answered = 0;
            while let Ok(mut stream) = connect(&address) {
                if get(&mut stream, "/healthz").is_some() {
                    answered += 1;
                }
            }
            answered
        })
    };
    // A quiet client: one request, then its connection idles through the signal.
    let mut quiet = connect(&address).unwrap();
    let first = get(&mut quiet, "/readyz").expect("an answer before the signal");
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(!first.closes, "kept alive before the signal");

    let started = Instant::now();
    while answered.load(Ordering::Relaxed) < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the busy clients are answered"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.terminate();
    let endings: Vec<Ending> = busy.into_iter().map(|client| client.join().unwrap()).collect();
    assert!(
        endings.iter().all(|ending| *ending == Ending::ToldToClose),
        "every request sent on a busy connection was answered, the last with Connection: close: {endings:?}"
    );
    assert!(
        newcomers.join().unwrap() > 0,
        "new connections were served before the signal"
    );

    // No new connection is taken while draining: refused at once, so a load balancer
    // moves on instead of waiting.
    let refused = connect(&address);
    assert!(
        refused.is_err(),
        "a new connection is refused while the server drains"
    );

    // The idle connection is still served, with the news that this instance is going.
    let late =
        get(&mut quiet, "/readyz").expect("a request on an idle connection after the signal is answered");
    assert_eq!(late.status, 503, "{}", late.body);
    assert!(late.body.contains("\"draining\""), "{}", late.body);
    assert!(late.closes, "the answer closes the connection");
    drop(quiet);

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server exits once its connections are closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "a clean exit: {status:?}");
    // Refusing new connections in the middle of traffic is the plan, not a fault.
    let log = log.join().unwrap();
    let errors: Vec<&str> = log.lines().filter(|line| line.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "the drain logged errors:\n{}",
        errors.join("\n")
    );
}

/// Everything `stream` gives until it ends, read as it comes (so the server never
/// blocks on a full pipe).
fn read_in_the_background(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
}

db_test!(a_connection_left_open_past_the_drain_time_does_not_keep_the_server_running);

async fn a_connection_left_open_past_the_drain_time_does_not_keep_the_server_running(backend: Backend) {
    let Some(db) = TestDb::create(backend) else { return };
    let (mut server, _, address) = start_server_with(&db, backend, |command| {
        command.env("KEYWARD_DRAIN_TIMEOUT", "1s");
    });
    // Half a request, never finished: the connection stays open.
    let mut stalled = connect(&address).unwrap();
    stalled.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let signalled = Instant::now();
    server.terminate();
    let deadline = signalled + Duration::from_secs(8);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server exits after the drain time");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(1),
        "the open connection was given the drain time"
    );
}

#[test]
fn a_stop_signal_ends_the_process_even_while_postgres_hangs() {
    let Some(mut pg) = PrivatePostgres::create() else {
        return;
    };
    pg.start();
    let url = pg.create_database("keyward");
    let folder = tempfile::tempdir().unwrap();
    let (mut server, _, address) = start_server_at(&url, folder.path(), Backend::Postgres, |command| {
        command.env("KEYWARD_DRAIN_TIMEOUT", "1s");
    });
    pg.freeze();
    // Each answers 503 once the server stops waiting, but leaves a thread blocked on a
    // statement the frozen server will never answer.
    for path in ["/readyz", "/login"] {
        let mut stream = connect(&address).unwrap();
        let answer = get(&mut stream, path).expect("an answer");
        assert_eq!(answer.status, 503, "{path}: {}", answer.body);
    }
    let signalled = Instant::now();
    server.terminate();
    let deadline = signalled + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server still runs {:?} after SIGTERM while Postgres hangs",
            signalled.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    pg.thaw();
}
