//! The management API as the command line calls it from another machine: the server's
//! address and a management token, read once at the edge; each request with the token,
//! an `Idempotency-Key` on every change, one retry when no answer or a 503 came back, and
//! the API's JSON errors turned into one line.

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{CliError, RemoteError};
use crate::domain::ManagementToken;

/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest pause before the one retry, whatever `Retry-After` asks.
const LONGEST_RETRY_WAIT: Duration = Duration::from_secs(10);
/// The pause before retrying a request that got no answer.
const RETRY_WAIT: Duration = Duration::from_secs(1);

/// The management API of one Keyward server, called with one token.
pub(crate) struct ManagementApi {
    server: Url,
    token: ManagementToken,
    http: Client,
}

impl std::fmt::Debug for ManagementApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementApi")
            .field("server", &self.server.as_str())
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// The `{"error":{"code","message"}}` every Keyward API answers a refusal with.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorFields,
}

#[derive(serde::Deserialize)]
struct ErrorFields {
    code: String,
    message: String,
}

/// An answer as it came: its status, how long it asked to wait, its body.
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl ManagementApi {
    /// Reads `--url` and `--token` (or KEYWARD_URL and KEYWARD_TOKEN) and sets up the
    /// client. The token is never echoed back in an error.
    pub(crate) fn new(raw_url: &str, raw_token: Option<&str>) -> Result<Self, CliError> {
        let server = server_url(raw_url)?;
        let raw_token = raw_token.map(str::trim).filter(|token| !token.is_empty()).ok_or_else(|| {
            CliError::Usage(
                "--url needs a management token: give it with --token or KEYWARD_TOKEN (create one under Settings → Management Tokens)".into(),
            )
        })?;
        let token = ManagementToken::parse(raw_token).map_err(|_| {
            CliError::Usage(
                "--token: this is not a Keyward management token (kw_mgmt_… as Settings → Management Tokens shows it once, checksum included)".into(),
            )
        })?;
        let http = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // A redirect would resend the token to wherever it points; the address to
            // use is the one given.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(RemoteError::Client)?;
        Ok(Self { server, token, http })
    }

    /// `GET path?query`, answered with `T`.
    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &'static str,
    ) -> Result<T, RemoteError> {
        let mut url = self.url(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let answer = self.call(Method::GET, url, None::<&()>)?;
        self.read(&answer, what)
    }

    /// `POST path` with `body` as JSON (none when `None`), answered with `T`.
    pub(crate) fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&impl Serialize>,
        what: &'static str,
    ) -> Result<T, RemoteError> {
        let answer = self.call(Method::POST, self.url(path), body)?;
        self.read(&answer, what)
    }

    /// `PATCH path` with `body` as JSON, answered with `T`.
    pub(crate) fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        what: &'static str,
    ) -> Result<T, RemoteError> {
        let answer = self.call(Method::PATCH, self.url(path), Some(body))?;
        self.read(&answer, what)
    }

    /// `DELETE path`, answered with no body.
    pub(crate) fn delete(&self, path: &str) -> Result<(), RemoteError> {
        self.call(Method::DELETE, self.url(path), None::<&()>).map(drop)
    }

    /// The address of `path` under `/api/v1/` on the server.
    fn url(&self, path: &str) -> Url {
        let mut url = self.server.clone();
        url.path_segments_mut()
            .expect("server_url keeps only http and https addresses, which have paths")
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(path.split('/'));
        url
    }

    /// Sends the request, retrying once with the same `Idempotency-Key` when no answer
    /// came or the server answered 503 (it keeps nothing of a 5xx, and replays a change
    /// it did make); an error answer becomes a [`RemoteError`].
    fn call(&self, method: Method, url: Url, body: Option<&impl Serialize>) -> Result<Answer, RemoteError> {
        // Every change carries a key, so a retry of one the server did make is answered
        // from its first answer instead of being made twice.
        let idempotency_key =
            matches!(method, Method::POST | Method::PATCH).then(|| uuid::Uuid::new_v4().to_string());
        let request = || {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(self.token.expose());
            if let Some(key) = &idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            request
        };
        let answer = match send(request()) {
            Ok(answer) if answer.status == StatusCode::SERVICE_UNAVAILABLE => {
                std::thread::sleep(answer.retry_after.unwrap_or(RETRY_WAIT).min(LONGEST_RETRY_WAIT));
                send(request())
            }
            // Sent again only when that cannot make the change twice: nothing reached
            // the server, or the request is a read or carries its Idempotency-Key.
            Err(err) if err.is_connect() || method == Method::GET || idempotency_key.is_some() => {
                std::thread::sleep(RETRY_WAIT);
                send(request())
            }
            other => other,
        }
        .map_err(|source| RemoteError::Unreachable {
            server: self.server.clone(),
            source: source.without_url(),
        })?;
        if answer.status.is_success() {
            return Ok(answer);
        }
        Err(match serde_json::from_slice::<ErrorBody>(&answer.body) {
            Ok(ErrorBody {
                error: ErrorFields { code, message },
            }) => RemoteError::Refused {
                code: printable(&code),
                message: printable(&message),
            },
            Err(_) => RemoteError::NotKeyward {
                server: self.server.clone(),
                status: answer.status,
            },
        })
    }

    fn read<T: DeserializeOwned>(&self, answer: &Answer, what: &'static str) -> Result<T, RemoteError> {
        serde_json::from_slice(&answer.body).map_err(|source| RemoteError::Unreadable {
            server: self.server.clone(),
            what,
            source,
        })
    }
}

/// Sends one request and reads its whole answer, so a connection lost mid-answer counts
/// as no answer.
fn send(request: RequestBuilder) -> Result<Answer, reqwest::Error> {
    let response = request.send()?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
        .map(Duration::from_secs);
    let body = response.bytes()?.to_vec();
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// The server's address as given: http or https, no credentials, query or fragment.
/// Plain http only to this machine, where the token does not cross a network in clear.
fn server_url(raw: &str) -> Result<Url, CliError> {
    let usage = |reason: &str| CliError::Usage(format!("--url: {reason}"));
    let url = Url::parse(raw.trim())
        .map_err(|_| usage("give the Keyward server's address, such as https://keyward.example"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(usage("the address must start with https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(usage(
            "the address must not hold credentials; give the token with --token",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(usage("give the server's address alone, without ? or #"));
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        return Err(usage(
            "use https: over plain http the management token would cross the network unencrypted (http is accepted for localhost only)",
        ));
    }
    Ok(url)
}

/// Text from the server as it may be printed on a terminal: control characters (escape
/// sequences that could rewrite the screen) become spaces.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_address_is_https_or_plain_http_on_this_machine_only() {
        for good in [
            "https://keyward.example",
            "https://keyward.example/base/",
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(server_url(good).is_ok(), "{good}");
        }
        for (bad, reason) in [
            ("keyward.example", "address"),
            ("ftp://keyward.example", "https://"),
            ("http://keyward.example", "unencrypted"),
            ("http://10.0.0.5:8080", "unencrypted"),
            ("https://ana:pw@keyward.example", "credentials"),
            ("https://keyward.example/?x=1", "without ?"),
        ] {
            let err = server_url(bad).expect_err(bad).to_string();
            assert!(err.starts_with("--url: ") && err.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn a_servers_words_cannot_drive_the_terminal() {
        assert_eq!(printable("Revoked\u{1b}[2J\u{7}."), "Revoked [2J .");
    }
}
