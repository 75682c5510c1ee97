//! What every handler may need, shared across workers.

use std::sync::Arc;

use actix_web::HttpRequest;
use tokio::sync::Semaphore;

use crate::api::TrustedProxies;
use crate::api::cache::KeyCache;
use crate::clock::Clock;
use crate::config::SessionSettings;
use crate::db::{Db, DbConnection};
use crate::domain::{KeyPepper, SignInThrottle};
use crate::service::keys::KeyError;
use crate::web::error::WebError;
use crate::web::visitor_tokens;

/// What every handler may need, shared across workers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The source of "now".
    pub clock: Clock,
    /// Session lifetimes.
    pub session: SessionSettings,
    /// Failed password check limits.
    pub throttle: SignInThrottle,
    /// CSRF tokens of visitors who are not signed in.
    pub visitor_tokens: visitor_tokens::VisitorTokens,
    /// The HMAC key for key digests.
    pub pepper: KeyPepper,
    /// Password checks allowed at once (one per core).
    pub password_checks: Arc<Semaphore>,
    /// Verified keys; cleared whenever a key changes here.
    pub key_cache: Arc<KeyCache>,
    /// Proxies whose X-Forwarded-For names the client.
    pub proxies: TrustedProxies,
}

impl AppState {
    /// Runs a key change and, once it has committed, clears the verification cache, in
    /// the same blocking task: a request cancelled meanwhile cannot leave a revoked key
    /// cached.
    pub async fn change_keys<T, F>(&self, change: F) -> Result<T, KeyError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, KeyError> + Send + 'static,
        T: Send + 'static,
    {
        let cache = self.key_cache.clone();
        self.db
            .run(move |conn| {
                let changed = change(conn)?;
                cache.clear();
                Ok(changed)
            })
            .await
    }

    /// Runs password work (argon2id: ~19 MiB and a core per hash or check) on a blocking
    /// thread, one per core at once: a flood of sign-ins queues here instead of
    /// exhausting memory.
    pub async fn password_work<T, F>(&self, work: F) -> Result<T, WebError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .password_checks
            .acquire()
            .await
            .map_err(|_| anyhow::anyhow!("The password check queue was closed"))?;
        Ok(actix_web::rt::task::spawn_blocking(work)
            .await
            .map_err(|_| anyhow::anyhow!("Failed to run the password check"))?)
    }

    /// The client's address, through trusted proxies.
    pub fn client_address(&self, req: &HttpRequest) -> String {
        self.proxies
            .client_address(req)
            .map_or_else(|| "unknown".to_owned(), |address| address.to_string())
    }
}
