//! actix-session's `SessionStore` over the `sessions` table, with idle and absolute
//! timeouts measured on Keyward's clock.

use std::cell::RefCell;
use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use anyhow::anyhow;
use sha2::{Digest, Sha256};
use time::{Duration, PrimitiveDateTime};

use crate::clock::Clock;
use crate::db::sessions::{self, NewSession};
use crate::db::{Db, DbError};
use crate::domain::random_token;
use crate::web::session::STORE_UNAVAILABLE;

/// Length of a session key, in letters and digits (about 381 bits).
const SESSION_KEY_CHARS: usize = 64;

/// Sessions stored in the database, so every instance sees the same ones and a sign-out
/// holds everywhere.
#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
    clock: Clock,
    absolute_timeout: Duration,
}

impl DbSessionStore {
    /// A store whose sessions end `absolute_timeout` after they were created, however
    /// active; the idle timeout is the TTL the session middleware passes in.
    pub fn new(db: Db, clock: Clock, absolute_timeout: Duration) -> Self {
        Self {
            db,
            clock,
            absolute_timeout,
        }
    }

    fn deadline(&self, ttl: &Duration) -> PrimitiveDateTime {
        self.clock.now() + *ttl
    }
}

/// The row ID for a session key: its SHA-256, so the table alone signs nobody in.
fn row_id(key: &SessionKey) -> String {
    hex::encode(Sha256::digest(key.as_ref().as_bytes()))
}

fn user_id_of(state: &HashMap<String, String>) -> Option<String> {
    state
        .get("user_id")
        .and_then(|raw| serde_json::from_str::<String>(raw).ok())
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let id = row_id(key);
        let now = self.clock.now();
        let state = match self.db.run(move |conn| sessions::load_live(conn, &id, now)).await {
            Ok(state) => state,
            // A load error would end the request in an empty 500 inside actix-session;
            // a marked state lets the page say the database is unavailable instead.
            Err(err) => {
                tracing::warn!(error = %crate::error::cause_chain(&err), "loading a session failed");
                return Ok(Some(HashMap::from([(
                    STORE_UNAVAILABLE.to_owned(),
                    "true".to_owned(),
                )])));
            }
        };
        state
            .map(|json| serde_json::from_str(&json).map_err(|err| LoadError::Deserialization(anyhow!(err))))
            .transpose()
    }

    async fn save(&self, state: HashMap<String, String>, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = SessionKey::try_from(random_token(SESSION_KEY_CHARS))
            .map_err(|err| SaveError::Other(anyhow!(err)))?;
        // Only signed-in sessions are stored, so requests without an account can never
        // fill the table; a visitor's state is dropped and its key points at nothing.
        let Some(user_id) = user_id_of(&state) else {
            tracing::debug!("an anonymous session was not stored");
            return Ok(key);
        };
        let json = serde_json::to_string(&state).map_err(|err| SaveError::Serialization(anyhow!(err)))?;
        let id = row_id(&key);
        let now = self.clock.now();
        let expires_at = self.deadline(ttl);
        let absolute_expires_at = now + self.absolute_timeout;
        self.db
            .run(move |conn| {
                sessions::insert(
                    conn,
                    NewSession {
                        id: &id,
                        user_id: &user_id,
                        state: &json,
                        created_at: now,
                        expires_at,
                        absolute_expires_at,
                    },
                )
            })
            .await
            .or_else(|err: DbError| write_failed(err).map_err(SaveError::Other))?;
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        if state.contains_key(STORE_UNAVAILABLE) {
            return Ok(key);
        }
        let json = serde_json::to_string(&state).map_err(|err| UpdateError::Serialization(anyhow!(err)))?;
        let id = row_id(&key);
        let user_id = user_id_of(&state);
        let expires_at = self.deadline(ttl);
        // A session deleted meanwhile (signed out elsewhere, user disabled) stays
        // deleted: the cookie then points at nothing and the next request is anonymous.
        self.db
            .run(move |conn| sessions::update(conn, &id, user_id.as_deref(), &json, expires_at))
            .await
            .map(drop)
            .or_else(|err: DbError| write_failed(err).map_err(UpdateError::Other))?;
        Ok(key)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let id = row_id(key);
        let expires_at = self.deadline(ttl);
        // Extending the idle deadline is not worth failing a page over.
        if let Err(err) = self
            .db
            .run(move |conn| sessions::touch(conn, &id, expires_at))
            .await
        {
            let err: DbError = err;
            tracing::warn!(error = %crate::error::cause_chain(&err), "extending a session failed");
        }
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let id = row_id(key);
        self.db
            .run(move |conn| sessions::delete(conn, &id))
            .await
            .or_else(write_failed)
    }
}

tokio::task_local! {
    /// Why the store could not write this request's session.
    static WRITE_FAILURE: RefCell<Option<DbError>>;
}

/// Runs `request` (the session middleware and everything inside it) so that a failure
/// of the store to write the session is handed back with the request's outcome instead
/// of failing it: actix-session would answer an empty 500 that keeps the cause to
/// itself and drops the request, leaving nothing to put the error page on.
pub async fn watching_writes<T>(request: impl Future<Output = T>) -> (T, Option<DbError>) {
    WRITE_FAILURE
        .scope(RefCell::new(None), async move {
            let outcome = request.await;
            (outcome, WRITE_FAILURE.with(RefCell::take))
        })
        .await
}

/// Hands a failed write to [`watching_writes`] (`Ok`, so actix-session carries on and
/// the watcher answers); with nothing watching, returns it for actix-session to fail
/// the request.
fn write_failed(err: DbError) -> Result<(), anyhow::Error> {
    let mut unwatched = Some(err);
    let _ = WRITE_FAILURE.try_with(|failure| {
        let err = unwatched.take();
        // The first failure is the one that stopped the session.
        let mut failure = failure.borrow_mut();
        if failure.is_none() {
            *failure = err;
        }
    });
    match unwatched {
        None => Ok(()),
        Some(err) => Err(anyhow!(crate::error::cause_chain(&err))),
    }
}
