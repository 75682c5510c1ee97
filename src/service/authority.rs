//! Who may make a change, decided again where it commits. The dashboard reads the
//! member's role when a request starts, but the request's body may arrive much later:
//! a member removed, demoted or disabled meanwhile must not get the change through. So
//! every change locks its merchant and then reads the actor afresh, in the change's own
//! transaction, before it writes anything.

use crate::db::{DbConnection, DbError, keys, management_tokens, memberships};
use crate::domain::{Actor, ActorKind, MerchantId, Permission, TokenId, TokenScope};

/// Why a change was not allowed to start. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// The actor's account, membership or role no longer allows the change.
    #[error("You no longer have permission to make this change.")]
    NotPermitted,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Locks the merchant, then checks that `actor` may still make a change asking for
/// `permission` there: a member's account exists and is enabled, their membership is
/// present and enabled, and their role allows it. A management token is not revoked and
/// carries the scope the change needs. Support staff change nothing; the command line
/// and Keyward itself act outside memberships. Call it first in every
/// change's transaction: every later read then sees the merchant as the change commits
/// against.
pub fn lock_for(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    actor: &Actor,
    permission: Permission,
) -> Result<(), Denied> {
    keys::lock_merchant(conn, merchant_id)?;
    let allowed = match actor.kind {
        ActorKind::Cli | ActorKind::System => true,
        ActorKind::Support => false,
        ActorKind::User => match actor.id.as_deref() {
            Some(user_id) => {
                memberships::member(conn, merchant_id, user_id)?.is_some_and(|member| member.may(permission))
            }
            None => false,
        },
        ActorKind::Token => match (
            actor.id.as_deref().and_then(|id| TokenId::parse(id).ok()),
            TokenScope::for_permission(permission),
        ) {
            (Some(token_id), Some(scope)) => management_tokens::find(conn, merchant_id, &token_id)?
                .is_some_and(|token| token.revoked_at.is_none() && token.scopes.contains(scope)),
            _ => false,
        },
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::NotPermitted)
    }
}
