//! Builds the server: database, migrations, first-start account, middleware, routes.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer};
use tokio::sync::Semaphore;

use crate::api::TrustedProxies;
use crate::api::cache::KeyCache;
use crate::api::known::KnownDigests;
use crate::api::limits::{KeyRateLimiter, SharedLimits, UNKNOWN_KEY_READS_PER_MINUTE, UnknownKeyBudget};
use crate::api::manage::ManageState;
use crate::api::verify::Verifier;
use crate::clock::Clock;
use crate::config::{DatabaseUrl, Settings};
use crate::db::{
    Db, DbError, exclusively, login_failures, management_tokens, merchants, sessions, users,
    write_transaction,
};
use crate::domain::{
    Email, KeyPepper, MerchantName, Password, PersonName, Role, SignInThrottle, generate_password,
};
use crate::drain::Drain;
use crate::telemetry::Metrics;
use crate::usage::{UsageRecorder, run_flusher};
use crate::web;
use crate::web::error::ErrorPage;
use crate::web::state::AppState;
use actix_web::web::{Data, route, scope};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "keyward_session";

/// The merchant created on first start.
pub const DEMO_MERCHANT: &str = "Demo Merchant";
/// The admin created on first start.
pub const DEMO_ADMIN_EMAIL: &str = "admin@example.com";

/// Starting the server failed.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened, migrated or seeded.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The address could not be bound.
    #[error("KEYWARD_BIND: cannot listen on {address}")]
    Bind {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The metrics listener's address could not be bound.
    #[error("KEYWARD_METRICS_BIND: cannot listen on {address}")]
    MetricsBind {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// `KEYWARD_REDIS_URL` was refused by the Redis client.
    #[error("KEYWARD_REDIS_URL: not a URL the Redis client takes")]
    RedisUrl,
    /// The thread that hears other instances' changes could not start.
    #[error("cannot start the change listener")]
    Listener {
        /// Why.
        source: std::io::Error,
    },
}

/// The admin account made on first start; its password is shown once.
#[derive(Debug)]
pub struct FirstAdmin {
    /// The merchant's name.
    pub merchant: String,
    /// The admin's email.
    pub email: String,
    /// The generated password.
    pub password: Password,
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    metrics_listener: Option<(u16, Server)>,
    metrics: Metrics,
    first_admin: Option<FirstAdmin>,
    state: AppState,
    usage: Arc<UsageRecorder>,
    sweep_interval: StdDuration,
    request_log_days: u32,
    drain: Drain,
    /// The listening socket, shut when a stop signal comes (the server holds its own
    /// handle to the same socket).
    listener: TcpListener,
    drain_timeout: StdDuration,
    limits: Arc<SharedLimits>,
}

impl Application {
    /// Opens and migrates the database, creates the first admin when there is no user,
    /// and binds the listener (port 0 picks a free port).
    pub fn build(settings: Settings, clock: Clock) -> Result<Self, StartupError> {
        let metrics = Metrics::new();
        let db = Db::connect(&settings.database)?.with_metrics(metrics.clone());
        db.migrate()?;
        crate::domain::prepare_password_checks();
        let first_admin = create_first_admin(&db, &clock)?;
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartupError::Bind {
            address: settings.bind,
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                address: settings.bind,
                source,
            })?
            .port();
        let state = AppState {
            db,
            clock,
            key_cache: Arc::new(KeyCache::new(settings.key_cache_ttl)),
            proxies: TrustedProxies(settings.trusted_proxies.clone()),
            session: settings.session,
            throttle: SignInThrottle::default(),
            visitor_tokens: web::visitor_tokens::VisitorTokens::new(
                &settings.secret,
                !settings.insecure_cookies,
            ),
            pepper: key_pepper(&settings.secret),
            password_checks: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )),
        };
        if let DatabaseUrl::Postgres(url) = &settings.database {
            // Other instances' changes reach this one's cache through the database.
            state.key_cache.watch();
            crate::db::changes::spawn_listener(
                url.clone(),
                Arc::downgrade(&state.key_cache),
                metrics.clone(),
            )
            .map_err(|source| StartupError::Listener { source })?;
        }
        let limits = shared_limits(&settings)?;
        tracing::info!("rate limits {}", limits.describe());
        let usage = Arc::new(UsageRecorder::new(settings.request_log_days > 0));
        let verifier = Verifier {
            db: state.db.clone(),
            clock: state.clock.clone(),
            pepper: state.pepper.clone(),
            cache: state.key_cache.clone(),
            usage: usage.clone(),
            unknown: UnknownKeyBudget::new(limits.clone(), "address", UNKNOWN_KEY_READS_PER_MINUTE),
            known: KnownDigests::default(),
            limits: KeyRateLimiter::new(limits.clone(), "key"),
            metrics: metrics.clone(),
        };
        let manage = ManageState {
            db: state.db.clone(),
            clock: state.clock.clone(),
            pepper: state.pepper.clone(),
            key_cache: state.key_cache.clone(),
            proxies: state.proxies.clone(),
            limits: KeyRateLimiter::new(limits.clone(), "token"),
            unknown: UnknownKeyBudget::new(limits.clone(), "token-address", UNKNOWN_KEY_READS_PER_MINUTE),
            requests_per_minute: settings.token_requests_per_minute,
            body_timeout: settings.body_timeout,
        };
        let scrape = web::metrics::Scrape {
            metrics: metrics.clone(),
            db: state.db.clone(),
            token: None,
        };
        let metrics_listener = match settings.metrics.bind {
            Some(address) => Some(serve_metrics(address, scrape.clone())?),
            None => None,
        };
        // On the public listener only behind the token: never open by default.
        let scrape = settings.metrics.token.clone().map(|token| web::metrics::Scrape {
            token: Some(token),
            ..scrape
        });
        let bind_error = |source| StartupError::Bind {
            address: settings.bind,
            source,
        };
        let drain = Drain::default();
        let own_listener = listener.try_clone().map_err(bind_error)?;
        let server = serve(
            listener,
            &settings,
            state.clone(),
            verifier,
            manage,
            drain.clone(),
            scrape,
        )
        .map_err(bind_error)?;
        Ok(Self {
            port,
            server,
            metrics_listener,
            metrics,
            first_admin,
            state,
            usage,
            sweep_interval: settings.sweep_interval,
            request_log_days: settings.request_log_days,
            drain,
            listener: own_listener,
            drain_timeout: settings.drain_timeout,
            limits,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the listener that serves only `/metrics`, if one was asked for.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener.as_ref().map(|(port, _)| *port)
    }

    /// The account created on this start, if the database had no user.
    pub fn take_first_admin(&mut self) -> Option<FirstAdmin> {
        self.first_admin.take()
    }

    /// The database handle the server uses.
    pub fn db(&self) -> Db {
        self.state.db.clone()
    }

    /// Stops the server from elsewhere in the process, as a signal would: for a
    /// benchmark that runs it in-process to read [`Db::queries_started`].
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the process is told to stop (SIGTERM, Ctrl-C), then drains (see
    /// `crate::drain`) and writes the usage counted since the last flush.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let db = self.state.db.clone();
        tokio::spawn(crate::drain::on_stop_signal(
            self.server.handle(),
            self.drain,
            self.listener,
            self.drain_timeout,
        ));
        let sweeper = tokio::spawn(sweep(
            self.state,
            self.sweep_interval,
            self.request_log_days,
            self.metrics.clone(),
        ));
        let gauges = tokio::spawn(keep_metrics_up(self.metrics.clone()));
        let stop = Arc::new(tokio::sync::Notify::new());
        let flusher = tokio::spawn(run_flusher(
            self.usage.clone(),
            db,
            stop.clone(),
            self.metrics.clone(),
        ));
        let metrics_server = self.metrics_listener.map(|(_, server)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let limits_stop = Arc::new(tokio::sync::Notify::new());
        let limits = tokio::spawn(self.limits.run(limits_stop.clone()));
        let served = self.server.await;
        // No new scheduled work once serving has stopped: the last flush and the limits'
        // goodbye are what is left to do. A step already under way still commits or rolls
        // back whole on its own thread.
        sweeper.abort();
        gauges.abort();
        if let Some((running, handle)) = metrics_server {
            handle.stop(true).await;
            if running.await.is_err() {
                tracing::warn!("the metrics listener stopped unexpectedly");
            }
        }
        stop.notify_one();
        limits_stop.notify_one();
        if flusher.await.is_err() {
            tracing::error!("the usage flusher stopped unexpectedly; the last counts may be lost");
        }
        if limits.await.is_err() {
            tracing::error!("the rate limits' sync stopped unexpectedly");
        }
        served
    }
}

/// Where this instance counts rate limits: Redis when configured, else the database on
/// Postgres (a pool of its own), else (SQLite, a single instance) in memory.
fn shared_limits(settings: &Settings) -> Result<Arc<SharedLimits>, StartupError> {
    match (&settings.redis_url, &settings.database) {
        (Some(url), _) => SharedLimits::redis(url).map_err(|_| StartupError::RedisUrl),
        (None, DatabaseUrl::Postgres(_)) => {
            // One connection: the sync runs one round trip at a time.
            Ok(SharedLimits::postgres(Db::connect_with_pool(
                &settings.database,
                1,
            )?)?)
        }
        (None, DatabaseUrl::Sqlite(_)) => Ok(SharedLimits::local()),
    }
}

fn serve(
    listener: TcpListener,
    settings: &Settings,
    state: AppState,
    verifier: Verifier,
    manage: ManageState,
    drain: Drain,
    scrape: Option<web::metrics::Scrape>,
) -> std::io::Result<Server> {
    let cookie_key = Key::derive_from(&settings.secret.derive("session-cookie"));
    let store = web::session_store::DbSessionStore::new(
        state.db.clone(),
        state.clock.clone(),
        settings.session.absolute_timeout,
    );
    let idle_timeout = settings.session.idle_timeout;
    let insecure_cookies = settings.insecure_cookies;
    if insecure_cookies {
        tracing::warn!(
            "KEYWARD_INSECURE_COOKIES is on: session and sign-in cookies are sent without Secure, so over plain HTTP anyone on the network path can read them and take over a session; use it only on a private network, and serve the dashboard over HTTPS wherever you can"
        );
    }
    let proxies = Data::new(state.proxies.clone());
    let data = Data::new(state);
    let verifier = Data::new(verifier);
    let manage = Data::new(manage);
    let body_deadline = Data::new(web::body::BodyDeadline(settings.body_timeout));
    let counted = drain.clone();
    let drain = Data::new(drain);
    let metrics = Data::new(verifier.metrics.clone());
    let mut server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(store.clone(), cookie_key.clone())
            .cookie_name(SESSION_COOKIE.to_owned())
            .cookie_secure(!insecure_cookies)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_path("/".to_owned())
            .cookie_content_security(CookieContentSecurity::Private)
            .session_lifecycle(
                BrowserSession::default()
                    .state_ttl(idle_timeout)
                    .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
            )
            .build();
        // Outermost last: logging sees the final status, headers land on every answer.
        // Only the dashboard loads sessions, so health checks and assets never touch
        // the database.
        App::new()
            .app_data(data.clone())
            .app_data(verifier.clone())
            .app_data(manage.clone())
            .app_data(proxies.clone())
            .app_data(body_deadline.clone())
            .app_data(drain.clone())
            .app_data(metrics.clone())
            .configure(web::operations)
            .configure(|cfg| {
                if let Some(scrape) = &scrape {
                    web::metrics::routes(cfg, scrape.clone());
                }
            })
            .configure(crate::api::routes)
            .service(
                scope("")
                    .configure(web::dashboard)
                    .default_service(route().to(web::respond::not_found))
                    .wrap(from_fn(web::csrf::protect))
                    .wrap(sessions)
                    .wrap(from_fn(web::session_failures::answer))
                    .wrap(from_fn(web::body::deadline)),
            )
            .default_service(route().to(web::respond::not_found))
            .wrap(ErrorHandlers::new().handler(StatusCode::METHOD_NOT_ALLOWED, method_not_allowed_page))
            .wrap(from_fn(web::headers::secure))
            .wrap(from_fn(crate::drain::close_when_draining))
            .wrap(from_fn(web::request_log::log))
    })
    // Signals are the drain's (`crate::drain::on_stop_signal`): actix's own graceful stop
    // drops requests queued on keep-alive connections.
    .disable_signals()
    .on_connect(move |_, extensions| {
        extensions.insert(counted.open_connection());
    })
    .listen(listener)?;
    if let Some(workers) = settings.workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// Binds the listener that serves only `/metrics`, with one worker: a scrape every few
/// seconds needs no more. It stops with the main server, not on signals of its own.
fn serve_metrics(
    address: std::net::SocketAddr,
    scrape: web::metrics::Scrape,
) -> Result<(u16, Server), StartupError> {
    let failed = |source| StartupError::MetricsBind { address, source };
    let listener = TcpListener::bind(address).map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    let server = HttpServer::new(move || {
        App::new()
            .configure(|cfg| web::metrics::routes(cfg, scrape.clone()))
            .default_service(route().to(actix_web::HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(failed)?
    .run();
    Ok((port, server))
}

/// Folds histogram samples into their buckets every [`crate::telemetry::UPKEEP_INTERVAL`],
/// so a server nobody scrapes keeps them small.
async fn keep_metrics_up(metrics: Metrics) {
    let mut interval = actix_web::rt::time::interval(crate::telemetry::UPKEEP_INTERVAL);
    loop {
        interval.tick().await;
        metrics.upkeep();
    }
}

/// Gives a 405 the site layout instead of an empty body.
fn method_not_allowed_page<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let (req, original) = res.into_parts();
    let mut page = if req.path().starts_with("/api/") {
        crate::api::error::method_not_allowed(req.method())
    } else {
        ErrorPage {
            title: "Method not allowed",
            message: "This address does not accept that kind of request.",
            error_id: None,
            next_href: "/",
            next_label: "Back to the dashboard",
        }
        .respond(StatusCode::METHOD_NOT_ALLOWED)
    };
    if let Some(allow) = original.headers().get(actix_web::http::header::ALLOW) {
        page.headers_mut()
            .insert(actix_web::http::header::ALLOW, allow.clone());
    }
    let res = actix_web::dev::ServiceResponse::new(req, page).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

/// The pepper for key digests, derived from the server secret. Every instance and the
/// CLI derive the same one from the same secret.
pub fn key_pepper(secret: &crate::config::Secret) -> KeyPepper {
    KeyPepper::new(secret.derive("api-key-pepper"))
}

/// On a database with no user, creates the merchant "Demo Merchant" and its admin
/// `admin@example.com` with a random password. Safe when several instances start at
/// once: the loser of the race sees the unique email taken and creates nothing.
pub fn create_first_admin(db: &Db, clock: &Clock) -> Result<Option<FirstAdmin>, DbError> {
    let mut conn = db.get()?;
    let merchant_name = MerchantName::parse(DEMO_MERCHANT).expect("the demo merchant's name is valid");
    let email = Email::parse(DEMO_ADMIN_EMAIL).expect("the demo admin's email is valid");
    let name = PersonName::parse("Admin").expect("the demo admin's name is valid");
    let now = clock.now();
    let created = write_transaction(&mut conn, |conn| -> Result<_, DbError> {
        if !users::none_exist(conn)? {
            return Ok(None);
        }
        let merchant = match merchants::find_by_name(conn, &merchant_name)? {
            Some(merchant) => merchant,
            None => merchants::create(conn, &merchant_name, now)?,
        };
        let password = generate_password();
        users::create(
            conn,
            users::NewUser {
                email: &email,
                name: &name,
                password_hash: &password.hash(),
                access: users::Access::Member {
                    merchant_id: &merchant.id,
                    role: Role::Admin,
                },
                password_change_required: false,
            },
            now,
        )?;
        Ok(Some(FirstAdmin {
            merchant: merchant.name,
            email: email.as_str().to_owned(),
            password,
        }))
    });
    match created {
        Err(DbError::UniqueViolation(_)) => Ok(None),
        other => other,
    }
}

/// Scheduled work, every `every`: records the lapses nobody clicks for ("grace ended",
/// "expired", an invitation's expiry), deletes sessions past their timeouts, sign-in
/// failures and locks that have left the throttle's window, the management API's
/// Idempotency-Key answers older than 24 hours, and request log rows older than
/// `request_log_days`.
///
/// Each step's run is counted in `metrics` under its step and result.
async fn sweep(state: AppState, every: StdDuration, request_log_days: u32, metrics: Metrics) {
    let mut interval = actix_web::rt::time::interval(every);
    // The first tick is immediate: start sweeping one period after start-up.
    interval.tick().await;
    loop {
        interval.tick().await;
        let now = state.clock.now();
        let cutoff = state.throttle.window_start(now);
        // Each step on its own, so one failing leaves the others to run; each on one
        // instance at a time, the others skipping it this round.
        let lapses = state
            .db
            .run(move |conn| exclusively(conn, |conn| crate::service::lapses::record_lapses(conn, now)))
            .await;
        let invitations = state
            .db
            .run(move |conn| {
                exclusively(conn, |conn| {
                    crate::service::invitations::record_expiries(conn, now)
                })
            })
            .await;
        let sessions = state
            .db
            .run(move |conn| exclusively(conn, |conn| sessions::delete_expired(conn, now)))
            .await;
        let failures = state
            .db
            .run(move |conn| exclusively(conn, |conn| login_failures::delete_before(conn, cutoff)))
            .await;
        let answers_before = now - crate::api::manage::idempotency::KEPT_FOR;
        let idempotency = state
            .db
            .run(move |conn| {
                exclusively(conn, |conn| {
                    management_tokens::prune_idempotency(conn, answers_before)
                })
            })
            .await;
        let requests_before = now - time::Duration::days(i64::from(request_log_days));
        let requests = state
            .db
            .run(move |conn| {
                exclusively(conn, |conn| {
                    crate::db::key_requests::prune_before(conn, requests_before)
                })
            })
            .await;
        for (step, label, outcome) in [
            ("lapse events", "lapse_events", lapses),
            ("invitation expiries", "invitation_expiries", invitations),
            ("sessions", "sessions", sessions),
            ("sign-in failures", "sign_in_failures", failures),
            ("Idempotency-Key answers", "idempotency_answers", idempotency),
            ("request log", "request_log", requests),
        ] {
            let result = match outcome {
                Ok(Some(count)) => {
                    tracing::debug!(step, count, "swept");
                    "ok"
                }
                Ok(None) => {
                    tracing::debug!(step, "another instance is sweeping");
                    "skipped"
                }
                Err(err) => {
                    tracing::warn!(step, error = %crate::error::cause_chain(&err), "a scheduled sweep failed");
                    "failed"
                }
            };
            metrics.sweep_run(label, result);
        }
    }
}
