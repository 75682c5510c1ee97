//! A cookie-keeping HTTP client that never follows redirects, and what tests read off
//! the pages it gets.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Response, StatusCode};

/// The Content-Security-Policy every page must carry, written apart from the code.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// What the test browser calls itself, so history can be checked for it.
pub const USER_AGENT: &str = "KeywardTests/1.0";

/// An HTTP client that keeps its cookies (the session's and the sign-in form's CSRF
/// cookie) like a browser and never follows redirects, so tests see each answer.
pub struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

/// The session cookie's name.
const SESSION_COOKIE: &str = "keyward_session";

impl Browser {
    pub fn new(base: &str) -> Self {
        Self::from(base, "127.0.0.1")
    }

    /// A browser whose requests come from another loopback address (127.0.0.2 …), as a
    /// second client machine would.
    pub fn from(base: &str, source: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(Some(source.parse().unwrap()))
                .user_agent(USER_AGENT)
                .build()
                .unwrap(),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    /// A browser at `base` sending through `http`, a client built for an unusual setup
    /// (a name resolved to loopback, a test certificate, an `Origin` on every request).
    pub fn with_client(base: &str, http: reqwest::Client) -> Self {
        Self {
            base: base.to_owned(),
            http,
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    /// The value of the cookie `name` as the browser holds it now.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// The session cookie's value as the browser holds it now.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie(SESSION_COOKIE)
    }

    /// Replaces the session cookie (to replay an old one).
    pub fn set_session_cookie(&self, value: Option<String>) {
        self.set_cookie(SESSION_COOKIE, value);
    }

    /// Replaces the cookie `name`, or removes it.
    pub fn set_cookie(&self, name: &str, value: Option<String>) {
        let mut cookies = self.cookies.lock().unwrap();
        match value {
            Some(value) => cookies.insert(name.to_owned(), value),
            None => cookies.remove(name),
        };
    }

    fn remember(&self, headers: &HeaderMap) {
        for header in headers.get_all(SET_COOKIE) {
            let header = header.to_str().unwrap();
            let Some((name, rest)) = header.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default();
            let removed = value.is_empty() || header.contains("Max-Age=0");
            self.set_cookie(name, (!removed).then(|| value.to_owned()));
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        let cookies = self.cookies.lock().unwrap();
        if !cookies.is_empty() {
            let header: Vec<String> = cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            request = request.header("Cookie", header.join("; "));
        }
        request
    }

    /// Sends a request built from this browser's defaults and keeps any new cookie.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        let res = request.send().await.expect("the server answers");
        self.remember(res.headers());
        res
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    /// The body of `GET path`, whatever its status.
    pub async fn html(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// A request builder for `method` on `path`, carrying the cookie.
    pub fn builder(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path)
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.send(self.request(reqwest::Method::POST, path).form(fields))
            .await
    }

    /// Reads the CSRF token from the page at `path`.
    pub async fn csrf_token(&self, path: &str) -> String {
        let body = self.html(path).await;
        csrf_token_in(&body).unwrap_or_else(|| panic!("no CSRF token on {path}"))
    }

    /// Signs in through the form, as a person would.
    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        let token = self.csrf_token("/login").await;
        self.post_form(
            "/login",
            &[("email", email), ("password", password), ("csrf_token", &token)],
        )
        .await
    }

    /// True when a dashboard page answers instead of a redirect to sign-in.
    pub async fn is_signed_in(&self) -> bool {
        let res = self.get("/settings/api-credentials").await;
        match res.status() {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => {
                assert_eq!(res.headers()["location"], "/login");
                false
            }
            other => panic!("unexpected status {other}"),
        }
    }
}

/// The one-time password on the page shown after an invitation was sent.
pub fn one_time_password(html: &str) -> String {
    let marker = r#"id="one-time-password" class="revealed-key" type="text" readonly value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no one-time password in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

impl Browser {
    /// The ID of the invitation from `merchant_name` on this user's Invitations page.
    pub async fn invitation_from(&self, merchant_name: &str) -> String {
        let page = self.html("/invitations").await;
        let heading = format!(r#"-name">{merchant_name}</h2>"#);
        let end = page
            .find(&heading)
            .unwrap_or_else(|| panic!("no invitation from {merchant_name} in {page}"));
        let marker = r#"id="invitation-"#;
        let start = page[..end].rfind(marker).unwrap() + marker.len();
        page[start..end].to_owned()
    }

    /// Answers the invitation from `merchant_name`: `accept` or `decline`.
    pub async fn answer_invitation(&self, merchant_name: &str, answer: &str) -> Response {
        let id = self.invitation_from(merchant_name).await;
        let token = self.csrf_token("/invitations").await;
        self.post_form(&format!("/invitations/{id}/{answer}"), &[("csrf_token", &token)])
            .await
    }
}

/// The value of the first `csrf_token` hidden input in a page.
pub fn csrf_token_in(html: &str) -> Option<String> {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The value of the first input named `name` in a page.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// A TCP port nothing listens on now, for a helper process of a test.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The location header of a redirect.
pub fn location(res: &Response) -> &str {
    res.headers()["location"].to_str().unwrap()
}

/// Sends `GET path` byte for byte over TCP, so no client normalises the path first;
/// returns the status code and the body.
pub async fn raw_get(address: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    (status, response)
}
