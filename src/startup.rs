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
use crate::api::limits::{KeyRateLimiter, UNKNOWN_KEY_READS_PER_MINUTE, UnknownKeyBudget};
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
    first_admin: Option<FirstAdmin>,
    state: AppState,
    usage: Arc<UsageRecorder>,
    sweep_interval: StdDuration,
}

impl Application {
    /// Opens and migrates the database, creates the first admin when there is no user,
    /// and binds the listener (port 0 picks a free port).
    pub fn build(settings: Settings, clock: Clock) -> Result<Self, StartupError> {
        let db = Db::connect(&settings.database)?;
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
            visitor_tokens: web::visitor_tokens::VisitorTokens::new(&settings.secret),
            pepper: key_pepper(&settings.secret),
            password_checks: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )),
        };
        if let DatabaseUrl::Postgres(url) = &settings.database {
            // Other instances' changes reach this one's cache through the database.
            state.key_cache.watch();
            crate::db::changes::spawn_listener(url.clone(), Arc::downgrade(&state.key_cache))
                .map_err(|source| StartupError::Listener { source })?;
        }
        let usage = Arc::new(UsageRecorder::default());
        let verifier = Verifier {
            db: state.db.clone(),
            clock: state.clock.clone(),
            pepper: state.pepper.clone(),
            cache: state.key_cache.clone(),
            usage: usage.clone(),
            unknown: UnknownKeyBudget::new(UNKNOWN_KEY_READS_PER_MINUTE),
            known: KnownDigests::default(),
            limits: KeyRateLimiter::default(),
        };
        let manage = ManageState {
            db: state.db.clone(),
            clock: state.clock.clone(),
            pepper: state.pepper.clone(),
            key_cache: state.key_cache.clone(),
            proxies: state.proxies.clone(),
            limits: KeyRateLimiter::default(),
            unknown: UnknownKeyBudget::new(UNKNOWN_KEY_READS_PER_MINUTE),
            requests_per_minute: settings.token_requests_per_minute,
            body_timeout: settings.body_timeout,
        };
        let server = serve(listener, &settings, state.clone(), verifier, manage).map_err(|source| {
            StartupError::Bind {
                address: settings.bind,
                source,
            }
        })?;
        Ok(Self {
            port,
            server,
            first_admin,
            state,
            usage,
            sweep_interval: settings.sweep_interval,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
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

    /// Serves until the process is told to stop (SIGTERM, Ctrl-C), then drains and
    /// writes the usage counted since the last flush.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let db = self.state.db.clone();
        tokio::spawn(sweep(self.state, self.sweep_interval));
        let stop = Arc::new(tokio::sync::Notify::new());
        let flusher = tokio::spawn(run_flusher(self.usage.clone(), db, stop.clone()));
        let served = self.server.await;
        stop.notify_one();
        if flusher.await.is_err() {
            tracing::error!("the usage flusher stopped unexpectedly; the last counts may be lost");
        }
        served
    }
}

fn serve(
    listener: TcpListener,
    settings: &Settings,
    state: AppState,
    verifier: Verifier,
    manage: ManageState,
) -> std::io::Result<Server> {
    let cookie_key = Key::derive_from(&settings.secret.derive("session-cookie"));
    let store = web::session_store::DbSessionStore::new(
        state.db.clone(),
        state.clock.clone(),
        settings.session.absolute_timeout,
    );
    let idle_timeout = settings.session.idle_timeout;
    let proxies = Data::new(state.proxies.clone());
    let data = Data::new(state);
    let verifier = Data::new(verifier);
    let manage = Data::new(manage);
    let body_deadline = Data::new(web::body::BodyDeadline(settings.body_timeout));
    let mut server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(store.clone(), cookie_key.clone())
            .cookie_name(SESSION_COOKIE.to_owned())
            .cookie_secure(true)
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
            .configure(web::operations)
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
            .wrap(from_fn(web::request_log::log))
    })
    .listen(listener)?;
    if let Some(workers) = settings.workers {
        server = server.workers(workers);
    }
    Ok(server.run())
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
/// failures and locks that have left the throttle's window, and the management API's
/// Idempotency-Key answers older than 24 hours.
async fn sweep(state: AppState, every: StdDuration) {
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
        for (step, outcome) in [
            ("lapse events", lapses),
            ("invitation expiries", invitations),
            ("sessions", sessions),
            ("sign-in failures", failures),
            ("Idempotency-Key answers", idempotency),
        ] {
            match outcome {
                Ok(Some(count)) => tracing::debug!(step, count, "swept"),
                Ok(None) => tracing::debug!(step, "another instance is sweeping"),
                Err(err) => {
                    tracing::warn!(step, error = %crate::error::cause_chain(&err), "a scheduled sweep failed")
                }
            }
        }
    }
}
