//! A real nginx running the deploy guide's own configuration files (deploy/nginx/), and a
//! small upstream that answers with what nginx passed on.
//!
//! The files are used as written, changed only where a test machine must differ from the
//! guide's host: each `(from, to)` replacement swaps a port or a path, and a `from` the
//! file no longer holds fails the test, so the guide and the tests cannot drift apart.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Debian's nginx.
pub const NGINX: &str = "/usr/sbin/nginx";

/// An nginx process, stopped when the test ends.
pub struct Nginx(Child);

impl Drop for Nginx {
    /// A fast shutdown (SIGTERM), in which the master stops its workers: killed outright,
    /// the master would leave them running, orphaned, after the test. Killed after five
    /// seconds if it has not stopped.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// True when nginx is installed; in CI its absence fails the test, elsewhere it prints
/// one `skipped:` line.
pub fn nginx_available() -> bool {
    if Path::new(NGINX).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("nginx is required in CI but {NGINX} is missing");
    }
    eprintln!("skipped: nginx is not installed at {NGINX}");
    false
}

/// The guide's `deploy/nginx/<name>` with each `(from, to)` replaced everywhere.
pub fn guide_file(name: &str, replacements: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/nginx")
        .join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    for (from, to) in replacements {
        assert!(
            text.contains(from),
            "{name} no longer holds {from:?}: update the test's replacements"
        );
        text = text.replace(from, to);
    }
    text
}

/// upstream.conf with its three instances (`127.0.0.1:8081` to `8083`) at `ports`.
pub fn upstream_conf(ports: [u16; 3]) -> String {
    guide_file(
        "upstream.conf",
        &[
            ("127.0.0.1:8081", format!("127.0.0.1:{}", ports[0])),
            ("127.0.0.1:8082", format!("127.0.0.1:{}", ports[1])),
            ("127.0.0.1:8083", format!("127.0.0.1:{}", ports[2])),
        ],
    )
}

/// keyward.conf, the API gateway: the protected API (`127.0.0.1:9000`) at
/// `upstream_port`, listening on 127.0.0.1:`listen_port` instead of port 8000.
pub fn gateway_conf(upstream_port: u16, listen_port: u16) -> String {
    guide_file(
        "keyward.conf",
        &[
            (
                "server 127.0.0.1:9000;",
                format!("server 127.0.0.1:{upstream_port};"),
            ),
            ("listen 8000;", format!("listen 127.0.0.1:{listen_port};")),
        ],
    )
}

/// Starts nginx in `dir` with `sites` (file name, text) included in its `http` block in
/// that order, and waits until it listens on every port of `ports`.
pub fn start_nginx(dir: &Path, sites: &[(&str, String)], ports: &[u16]) -> Nginx {
    let d = dir.display();
    let mut includes = String::new();
    for (name, text) in sites {
        std::fs::write(dir.join(name), text).unwrap();
        includes.push_str(&format!("  include {d}/{name};\n"));
    }
    let main = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nworker_processes 1;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         {includes}}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let child = Command::new(NGINX)
        .args([
            "-p",
            &d.to_string(),
            "-c",
            &format!("{d}/nginx.conf"),
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx(child);
    let started = Instant::now();
    for port in ports {
        while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen on {port}: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    nginx
}

/// An upstream that answers every request with the request's own head, so the test can
/// see which headers nginx passed on.
pub async fn echo_upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    head.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.write_all(&head).await;
            });
        }
    });
    port
}
