//! One headless chromium per test, driven through a chromedriver that the tests running
//! at the same time share. Each browser keeps a journal of console errors and CSP
//! violations, and a screenshot of every screen it is asked to record. Every such screen
//! is also checked: no WCAG 2.1 A or AA violation that axe-core finds, the page's first
//! heading is its `<h1>`, and nothing scrolls sideways on a phone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use thirtyfour::extensions::query::ElementPollerWithTimeout;
use thirtyfour::prelude::*;
use thirtyfour::{ChromiumLikeCapabilities, LoggingPrefsLogLevel};

use crate::support::{Backend, free_port};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The flags every browser runs with; each also gets a fresh `--user-data-dir`.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // A name that is not loopback, for pages served as a network host would be: over
    // plain HTTP there, the browser refuses Secure cookies.
    "--host-resolver-rules=MAP keyward.test 127.0.0.1",
];

/// Reports every CSP violation on the console, where the journal reads it: installed
/// through CDP, so the page's own CSP does not apply to it, before any page script runs.
const CSP_LISTENER: &str = r#"addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline code"} in ${event.sourceFile}:${event.lineNumber}`);
});"#;

/// A phone's window: every screen must fit its width without scrolling sideways.
pub const PHONE: (u32, u32) = (390, 844);

/// The desktop window every browser starts with.
pub const DESKTOP: (u32, u32) = (1280, 1000);

/// axe-core 4.14.1 from its npm package, a test fixture never served by Keyward (see
/// tests/fixtures/axe-core/README.md).
const AXE_SOURCE: &str = include_str!("../fixtures/axe-core/axe.min.js");

/// Runs axe-core on the page (and any open dialog in it) for the WCAG 2.1 A and AA
/// rules; returns one line per violation.
const AXE_RUN: &str = r#"
const results = await axe.run(document, {
  runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
  resultTypes: ["violations"],
});
return results.violations.map((violation) =>
  `${violation.id} (${violation.impact}): ${violation.help}; at ${violation.nodes
    .slice(0, 5)
    .map((node) => node.target.join(" ") + (node.failureSummary ? ` [${node.failureSummary.replace(/\s+/g, " ")}]` : ""))
    .join(", ")}`);"#;

/// What scrolls sideways: the page, or an open dialog, with the elements that stick out
/// past the window's right edge.
const SIDEWAYS: &str = r##"
const root = document.documentElement;
const problems = [];
const wider = (element) => element.scrollWidth > element.clientWidth;
// An element that sticks out past the window, or whose content spills out of it.
const tooWide = (element) =>
  element.getBoundingClientRect().right > root.clientWidth + 0.5 ||
  (element.clientWidth > 0 && wider(element) && getComputedStyle(element).overflowX === "visible");
// The innermost such elements, the furthest out first: what is too wide.
const right = (element) => element.getBoundingClientRect().right;
const culprits = () => [...document.querySelectorAll("body *")]
  .filter((element) => tooWide(element) && ![...element.children].some(tooWide))
  .sort((a, b) => right(b) - right(a))
  .slice(0, 5)
  .map((element) => `${element.tagName.toLowerCase()}${element.id ? "#" + element.id : ""}.${[...element.classList].join(".")} (${element.scrollWidth}px wide, right edge ${Math.round(element.getBoundingClientRect().right)})`);
if (wider(root)) problems.push(`the page is ${root.scrollWidth}px wide in a ${root.clientWidth}px window: ${culprits().join(", ")}`);
const dialog = document.querySelector("#modal [role=dialog]");
if (dialog && wider(dialog)) problems.push(`the dialog is ${dialog.scrollWidth}px wide in ${dialog.clientWidth}px`);
return problems;"##;

/// The tag of the page's first heading.
const FIRST_HEADING: &str = r#"
const heading = document.querySelector("h1, h2, h3, h4, h5, h6");
return heading ? `${heading.tagName.toLowerCase()} ${heading.textContent.trim()}` : "none";"#;

/// True when chromium and chromedriver are installed. When one is missing the test fails
/// in CI and, elsewhere, prints one `skipped:` line.
pub fn available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("chromium and chromium-driver are required in CI but {missing:?} is missing");
    }
    eprintln!(
        "skipped: {} is not installed (apt-get install chromium chromium-driver)",
        missing.join(" and ")
    );
    false
}

/// The chromedriver process, shared by the tests that run at once.
struct Driver {
    process: Child,
    url: String,
    users: usize,
}

static DRIVER: Mutex<Option<Driver>> = Mutex::new(None);

fn start_chromedriver() -> Driver {
    let port = free_port();
    let process = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "chromedriver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Driver {
        process,
        url: format!("http://127.0.0.1:{port}"),
        users: 0,
    }
}

/// One test's use of the shared chromedriver: the last one to let go stops it.
struct DriverLease;

impl DriverLease {
    fn take() -> (Self, String) {
        let mut shared = DRIVER.lock().unwrap_or_else(PoisonError::into_inner);
        let driver = shared.get_or_insert_with(start_chromedriver);
        driver.users += 1;
        (DriverLease, driver.url.clone())
    }
}

impl Drop for DriverLease {
    fn drop(&mut self) {
        let mut shared = DRIVER.lock().unwrap_or_else(PoisonError::into_inner);
        let last = shared.as_mut().is_some_and(|driver| {
            driver.users -= 1;
            driver.users == 0
        });
        if last && let Some(mut driver) = shared.take() {
            let _ = driver.process.kill();
            let _ = driver.process.wait();
        }
    }
}

/// Whether pages may run JavaScript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Javascript {
    On,
    Off,
}

/// A headless chromium of its own for one test.
pub struct Chrome {
    /// `None` once the session has ended.
    driver: Option<WebDriver>,
    /// The chromedriver serving this browser.
    driver_url: String,
    /// The page origin, `http://127.0.0.1:PORT`.
    pub origin: String,
    test: &'static str,
    screens: PathBuf,
    shots: usize,
    javascript: Javascript,
    /// Answers the test expects to fail (status codes), which the journal lets through
    /// once each.
    expected_failures: Vec<u16>,
    _profile: TempDir,
    _lease: DriverLease,
}

impl Chrome {
    /// Starts a browser for `test` against the server at `origin`; `None` when chromium
    /// is not installed here (see [`available`]).
    pub async fn start(
        test: &'static str,
        backend: Backend,
        origin: &str,
        javascript: Javascript,
    ) -> Option<Chrome> {
        if !available() {
            return None;
        }
        let profile = tempfile::tempdir().expect("a profile dir");
        let (lease, driver_url) = DriverLease::take();
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        for flag in FLAGS {
            caps.add_arg(flag).unwrap();
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
            .unwrap();
        caps.set_browser_log_level(LoggingPrefsLogLevel::All).unwrap();
        if javascript == Javascript::Off {
            caps.add_experimental_option(
                "prefs",
                json!({"profile.managed_default_content_settings.javascript": 2}),
            )
            .unwrap();
        }
        let driver = WebDriver::new(&driver_url, caps).await.expect("chromium starts");
        driver.set_poller(Arc::new(ElementPollerWithTimeout::new(
            Duration::from_secs(10),
            Duration::from_millis(50),
        )));
        driver
            .set_window_rect(0, 0, DESKTOP.0, DESKTOP.1)
            .await
            .expect("a window size");
        let cdp = driver.cdp();
        cdp.send_raw(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": CSP_LISTENER}),
        )
        .await
        .expect("the CSP listener is installed");
        // The clipboard exists in a secure context only: HTTPS or loopback.
        let secure_context = ["https://", "http://127.0.0.1:", "http://localhost:"]
            .iter()
            .any(|prefix| origin.starts_with(prefix));
        if secure_context {
            cdp.send_raw(
                "Browser.grantPermissions",
                json!({"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
            )
            .await
            .expect("clipboard permissions");
        }
        // One folder per backend: a test's two runs go on at once, and each empties its
        // own folder first.
        let screens = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/e2e")
            .join(test)
            .join(format!("{backend:?}").to_lowercase());
        let _ = std::fs::remove_dir_all(&screens);
        std::fs::create_dir_all(&screens).unwrap();
        Some(Chrome {
            driver: Some(driver),
            driver_url,
            origin: origin.to_owned(),
            test,
            screens,
            shots: 0,
            javascript,
            expected_failures: Vec::new(),
            _profile: profile,
            _lease: lease,
        })
    }

    /// The WebDriver session.
    pub fn driver(&self) -> &WebDriver {
        self.driver.as_ref().expect("the browser is running")
    }

    /// Opens `path` on the server.
    pub async fn open(&self, path: &str) {
        self.driver()
            .goto(format!("{}{path}", self.origin))
            .await
            .unwrap_or_else(|err| panic!("opening {path}: {err}"));
    }

    /// Writes a screenshot of the screen as `<n>-<screen>.png`, then checks it: axe-core
    /// finds no WCAG 2.1 A or AA violation, the first heading is the `<h1>`, nothing
    /// scrolls sideways in a phone's window, and the console has reported nothing since
    /// the last screen.
    ///
    /// With JavaScript off, axe-core cannot finish (the page runs no timers); the tours
    /// in `screens` check the same plain pages with JavaScript on.
    pub async fn screen(&mut self, screen: &str) {
        self.shots += 1;
        let path = self.screens.join(format!("{:02}-{screen}.png", self.shots));
        self.driver().screenshot(&path).await.expect("a screenshot");
        if self.javascript == Javascript::On {
            self.assert_accessible(screen).await;
        }
        self.assert_first_heading_is_h1(screen).await;
        self.assert_fits_a_phone(screen).await;
        self.assert_clean_console(screen).await;
    }

    /// Resizes the window to `width` × `height` and waits for the page to see it.
    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.driver()
            .set_window_rect(0, 0, width, height)
            .await
            .expect("a window size");
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.eval("return window.innerWidth;", Vec::new()).await != json!(width) {
            assert!(Instant::now() < deadline, "the page never saw a {width}px window");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every violation of the WCAG 2.1 A and AA rules that axe-core finds on the page as
    /// it is now, open dialog included.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        if self.eval("return typeof axe;", Vec::new()).await != json!("object") {
            self.eval(AXE_SOURCE, Vec::new()).await;
        }
        strings(self.eval(AXE_RUN, Vec::new()).await)
    }

    /// Fails on every violation of the WCAG 2.1 A and AA rules that axe-core finds.
    async fn assert_accessible(&self, screen: &str) {
        let violations = self.accessibility_violations().await;
        assert!(
            violations.is_empty(),
            "{}: axe-core finds WCAG violations on screen {} ({screen}) at {}; see {}:\n{}",
            self.test,
            self.shots,
            self.driver().current_url().await.unwrap(),
            self.screens.display(),
            violations.join("\n")
        );
    }

    /// Fails when a heading comes before the page's `<h1>`.
    async fn assert_first_heading_is_h1(&self, screen: &str) {
        let first = self.eval(FIRST_HEADING, Vec::new()).await;
        let first = first.as_str().unwrap_or_default();
        assert!(
            first.starts_with("h1 "),
            "{}: the first heading on screen {} ({screen}) is not an <h1> but: {first}",
            self.test,
            self.shots
        );
    }

    /// What scrolls sideways in a phone's window: the page or an open dialog. The window
    /// then gets its size back.
    pub async fn sideways_on_a_phone(&self) -> Vec<String> {
        let window = self.driver().get_window_rect().await.expect("the window size");
        let size = (
            u32::try_from(window.width).expect("a width"),
            u32::try_from(window.height).expect("a height"),
        );
        if size != PHONE {
            self.resize(PHONE).await;
        }
        let problems = self.eval(SIDEWAYS, Vec::new()).await;
        if size != PHONE {
            self.resize(size).await;
        }
        strings(problems)
    }

    /// Fails when the page or an open dialog scrolls sideways in a phone's window.
    async fn assert_fits_a_phone(&self, screen: &str) {
        let problems = self.sideways_on_a_phone().await;
        assert!(
            problems.is_empty(),
            "{}: screen {} ({screen}) scrolls sideways at {}px:\n{}",
            self.test,
            self.shots,
            PHONE.0,
            problems.join("\n")
        );
    }

    /// Lets one failed request with `status` through the journal: the page shows the
    /// refusal it is meant to show.
    pub fn expect_failed_request(&mut self, status: u16) {
        self.expected_failures.push(status);
    }

    /// Fails on every console error and CSP violation since the last look.
    async fn assert_clean_console(&mut self, screen: &str) {
        let problems = self.console_problems().await;
        assert!(
            problems.is_empty(),
            "{}: the console reported problems by screen {} ({screen}); see {}:\n{}",
            self.test,
            self.shots,
            self.screens.display(),
            problems.join("\n")
        );
    }

    /// The console's errors since the last call, less the failed requests the test said
    /// it expects.
    pub async fn console_problems(&mut self) -> Vec<String> {
        let entries = self.driver().browser_log().await.expect("the browser log");
        let mut problems = Vec::new();
        for entry in entries {
            if entry.level != "SEVERE" {
                continue;
            }
            let expected = self.expected_failures.iter().position(|status| {
                entry.source.as_deref() == Some("network")
                    && entry.message.contains(&format!("status of {status} "))
            });
            match expected {
                Some(index) => {
                    self.expected_failures.remove(index);
                }
                None => problems.push(entry.message),
            }
        }
        problems
    }

    /// Runs `script` in the page and returns its value.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.driver()
            .execute(script, args)
            .await
            .unwrap_or_else(|err| panic!("running {script}: {err}"))
            .json()
            .clone()
    }

    /// Ends the session: a last look at the console, and the browser quits.
    pub async fn finish(mut self) {
        self.assert_clean_console("end").await;
        assert!(
            self.expected_failures.is_empty(),
            "{}: expected failed requests that never came: {:?}",
            self.test,
            self.expected_failures
        );
        let driver = self.driver.take().expect("the browser is running");
        driver.quit().await.expect("the browser quits");
    }
}

impl Drop for Chrome {
    /// A test that failed midway: a screenshot of where it stopped, and the address and
    /// text of that page in the test's output (a CI log has no screenshots), then the
    /// browser ends. All are plain requests to chromedriver: thirtyfour's own fallback
    /// would block the test's runtime for its whole request timeout.
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            let session = driver.session_id().to_string();
            let _ = driver.leak();
            let screenshot = format!("/session/{session}/screenshot");
            if let Some(png) = chromedriver_call(&self.driver_url, "GET", &screenshot, None)
                .as_deref()
                .and_then(decode_screenshot)
            {
                let path = self.screens.join(format!("{:02}-failure.png", self.shots + 1));
                let _ = std::fs::write(path, png);
            }
            let script = json!({
                "script": "return location.href + '\\n' + document.body.innerText.slice(0, 2000);",
                "args": [],
            });
            let page = chromedriver_call(
                &self.driver_url,
                "POST",
                &format!("/session/{session}/execute/sync"),
                Some(&script.to_string()),
            )
            .and_then(|body| serde_json::from_str::<Value>(&body).ok())
            .and_then(|answer| answer["value"].as_str().map(str::to_owned));
            if let Some(page) = page {
                eprintln!("{}: the browser stopped on {page}", self.test);
            }
            chromedriver_call(&self.driver_url, "DELETE", &format!("/session/{session}"), None);
        }
    }
}

/// The strings in a script's answer, a list of them.
fn strings(answer: Value) -> Vec<String> {
    answer
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect()
}

/// One plain HTTP request to chromedriver, with a JSON `body` when given; the answer's
/// body.
fn chromedriver_call(driver_url: &str, method: &str, path: &str, body: Option<&str>) -> Option<String> {
    use std::io::{BufRead, BufReader, Read, Write};
    let host = driver_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}

/// The PNG in chromedriver's answer to a screenshot request.
fn decode_screenshot(body: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let answer: Value = serde_json::from_str(body).ok()?;
    base64::engine::general_purpose::STANDARD
        .decode(answer["value"].as_str()?)
        .ok()
}

/// What every browser test relies on: a CSP violation, a console error, an uncaught
/// exception and an unexpected failed request each reach the journal; a failure the test
/// said it expects passes, once.
pub async fn the_journal_reports_csp_violations_console_errors_and_failed_requests(
    backend: crate::support::Backend,
) {
    let Some(app) = crate::support::spawn_app(backend).await else {
        return;
    };
    let Some(mut chrome) = Chrome::start("journal", app.backend(), &app.address, Javascript::On).await else {
        return;
    };
    chrome.open("/login").await;
    chrome.screen("login").await;
    let missing = "/static/no-such-file.js";
    chrome
        .eval(
            &format!(
                r#"const script = document.createElement("script");
                script.textContent = "window.inlineRan = true";
                document.body.append(script);
                console.error("a console error");
                setTimeout(() => {{ throw new Error("an uncaught exception"); }});
                fetch("{missing}");"#
            ),
            Vec::new(),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let problems = chrome.console_problems().await.join("\n");
    for expected in [
        "violates the following Content Security Policy directive",
        "CSP violation: script-src-elem blocked inline",
        "a console error",
        "an uncaught exception",
        "status of 404",
    ] {
        assert!(problems.contains(expected), "{expected:?} not in:\n{problems}");
    }
    chrome.expect_failed_request(404);
    chrome
        .eval(&format!(r#"await fetch("{missing}");"#), Vec::new())
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    chrome.screen("expected-failure").await;

    // The checks every screen gets find what they look for: a field without a label,
    // and a page wider than a phone.
    chrome
        .eval(
            r#"const field = document.createElement("input");
            field.id = "unlabelled";
            const wide = document.createElement("div");
            wide.id = "wide";
            wide.style.width = "600px";
            document.body.append(field, wide);"#,
            Vec::new(),
        )
        .await;
    let violations = chrome.accessibility_violations().await.join("\n");
    assert!(
        violations.contains("label (critical)") && violations.contains("#unlabelled"),
        "axe-core misses a field without a label:\n{violations}"
    );
    let sideways = chrome.sideways_on_a_phone().await.join("\n");
    assert!(
        sideways.contains("the page is") && sideways.contains("div#wide"),
        "a page wider than a phone goes unnoticed:\n{sideways}"
    );
    chrome.finish().await;
}
