//! Who is signed in, loaded fresh on every request so that a disabled account or a
//! removed membership takes effect at once.

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use crate::db::DbError;
use crate::db::invitations;
use crate::db::key_events;
use crate::db::memberships::{self, MerchantAccess};
use crate::db::merchants;
use crate::db::users::{self, User};
use crate::domain::{Actor, ActorKind, KeyId, Permission, Role};
use crate::web::error::WebError;
use crate::web::respond::is_htmx;
use crate::web::session::TypedSession;
use crate::web::state::AppState;

/// The signed-in user, their merchants and the one they are working in.
pub struct CurrentUser {
    /// The account.
    pub user: User,
    /// Every merchant the user belongs to, by name (none for support staff).
    pub merchants: Vec<MerchantAccess>,
    /// The merchant the user is working in; for support staff, the one opened from the
    /// console, seen as a viewer sees it. None for an account that belongs to no
    /// merchant yet and signed in to answer its invitations.
    pub merchant: Option<MerchantAccess>,
    /// Invitations to the user's email that can still be accepted (none for support).
    pub invitations: i64,
    /// The session, for its CSRF token and changes.
    pub session: TypedSession,
}

impl CurrentUser {
    /// True for support staff, who read every merchant and change nothing.
    pub fn is_support(&self) -> bool {
        self.user.is_support
    }

    /// The merchant being worked in (for support staff, the one being looked at);
    /// support staff looking at none are refused.
    pub fn merchant(&self) -> Result<&MerchantAccess, WebError> {
        self.merchant.as_ref().ok_or(WebError::Forbidden)
    }

    /// The merchant, for a user whose role there may change keys.
    pub fn key_manager(&self) -> Result<&MerchantAccess, WebError> {
        self.merchant().and_then(|m| {
            if m.role.allows(Permission::ManageKeys) {
                Ok(m)
            } else {
                Err(WebError::Forbidden)
            }
        })
    }

    /// The merchant, for an admin of it.
    pub fn admin(&self) -> Result<&MerchantAccess, WebError> {
        self.merchant().and_then(|m| {
            if m.role.allows(Permission::Admin) {
                Ok(m)
            } else {
                Err(WebError::Forbidden)
            }
        })
    }

    /// The user as history records them, with the request's address and user agent.
    pub fn actor(&self, req: &HttpRequest) -> Actor {
        Actor {
            kind: if self.user.is_support {
                ActorKind::Support
            } else {
                ActorKind::User
            },
            id: Some(self.user.id.clone()),
            name: self.user.name.clone(),
            address: req
                .app_data::<web::Data<AppState>>()
                .map(|state| state.client_address(req))
                .or_else(|| req.peer_addr().map(|addr| addr.ip().to_string())),
            user_agent: crate::web::respond::user_agent(req),
            detail: None,
        }
    }
}

impl FromRequest for CurrentUser {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = TypedSession::of(req);
        let htmx = is_htmx(req);
        let on_password_page = req.path() == crate::web::paths::PASSWORD;
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let state = state.ok_or_else(|| anyhow::anyhow!("AppState is not registered"))?;
            session.require_store()?;
            let user_id = session.user_id().ok_or(WebError::SignInRequired { htmx })?;
            let chosen = session.merchant_id();
            let now = state.clock.now();
            let (user, merchants, viewed, pending) = state
                .db
                .run(move |conn| -> Result<_, DbError> {
                    let Some(user) = users::find(conn, &user_id)? else {
                        return Ok((None, Vec::new(), None, 0));
                    };
                    if user.is_support {
                        // Support staff belong to no merchant: the one they look at is
                        // whichever they opened from the console.
                        let viewed = match chosen {
                            Some(id) => merchants::find(conn, &id)?.map(|m| MerchantAccess {
                                merchant_id: m.id,
                                merchant_name: m.name,
                                role: Role::Viewer,
                            }),
                            None => None,
                        };
                        return Ok((Some(user), Vec::new(), viewed, 0));
                    }
                    let merchants = memberships::for_user(conn, &user.id)?;
                    let pending = invitations::count_pending_for(conn, &user.email, now)?;
                    Ok((Some(user), merchants, None, pending))
                })
                .await?;
            let user = match user {
                Some(user) if user.is_active() => user,
                _ => {
                    session.sign_out();
                    return Err(WebError::SignInRequired { htmx });
                }
            };
            // An account on its one-time password chooses its own before anything else.
            if user.password_change_required && !on_password_page {
                return Err(WebError::PasswordChangeRequired { htmx });
            }
            if user.is_support {
                let current = CurrentUser {
                    user,
                    merchants,
                    merchant: viewed,
                    invitations: pending,
                    session,
                };
                if is_change(&req) {
                    record_refusal(&state, &current, &req).await?;
                    return Err(WebError::ReadOnly);
                }
                return Ok(current);
            }
            // A session whose merchant was taken away (removed, disabled) goes on in the
            // user's next merchant; with none left, only while an invitation waits for
            // an answer, and otherwise it ends.
            let merchant = session
                .merchant_id()
                .and_then(|chosen| merchants.iter().find(|m| m.merchant_id == chosen))
                .or_else(|| merchants.first())
                .cloned();
            match &merchant {
                Some(merchant) => {
                    if session.merchant_id().as_ref() != Some(&merchant.merchant_id) {
                        session.set_merchant_id(&merchant.merchant_id);
                    }
                }
                None if pending > 0 => {}
                None => {
                    session.sign_out();
                    return Err(WebError::SignInRequired { htmx });
                }
            }
            Ok(CurrentUser {
                user,
                merchants,
                merchant,
                invitations: pending,
                session,
            })
        })
    }
}

/// True for a request that would change something merchant-side. Support staff may
/// still change their own password and open a merchant from the console, which changes
/// only what their own session looks at (signing out needs no `CurrentUser`).
fn is_change(req: &HttpRequest) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && req.path() != crate::web::paths::PASSWORD
        && !req
            .path()
            .starts_with(crate::web::paths::route::SUPPORT_MERCHANTS_PREFIX)
}

/// Records a change support staff tried, on the merchant it concerned, before it is
/// refused.
async fn record_refusal(state: &AppState, user: &CurrentUser, req: &HttpRequest) -> Result<(), WebError> {
    let key_id = req
        .match_info()
        .get("key_id")
        .and_then(|id| KeyId::parse(id).ok());
    let viewed = user.merchant.as_ref().map(|m| m.merchant_id.clone());
    let actor = user.actor(req);
    let details = serde_json::json!({ "method": req.method().as_str(), "path": req.path() });
    let now = state.clock.now();
    let recorded = state
        .db
        .run(move |conn| {
            key_events::record_refusal(conn, viewed.as_ref(), key_id.as_ref(), &actor, &details, now)
        })
        .await?;
    if !recorded {
        // Nothing to record it on: no merchant was open and the path named no key.
        tracing::info!(
            path = req.path(),
            "refused a change by support staff outside any merchant"
        );
    }
    Ok(())
}
