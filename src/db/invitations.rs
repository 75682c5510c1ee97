//! Invitations to join a merchant, addressed to an email whatever account is behind it.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::schema::{invitations, merchants};
use super::{DbConnection, DbError};
use crate::domain::{Email, InvitationId, MerchantId, Role};

/// An invitation as stored, with its merchant's name.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The invitation.
    pub id: InvitationId,
    /// The merchant it invites to.
    pub merchant_id: MerchantId,
    /// The merchant's name.
    pub merchant_name: String,
    /// The invited email, lower-cased like accounts' emails.
    pub email: String,
    /// The role the invitee gets by accepting.
    pub role: Role,
    /// Who sent it, as history names them.
    pub invited_by: String,
    /// When it was sent.
    pub created_at: PrimitiveDateTime,
    /// From then on it can no longer be accepted.
    pub expires_at: PrimitiveDateTime,
}

impl Invitation {
    /// True once the invitation can no longer be accepted.
    pub fn is_expired(&self, now: PrimitiveDateTime) -> bool {
        now >= self.expires_at
    }
}

/// An invitation joined with its merchant, as read.
#[derive(Queryable, Selectable)]
#[diesel(table_name = invitations)]
struct InvitationRow {
    id: String,
    merchant_id: String,
    #[diesel(select_expression = merchants::name)]
    merchant_name: String,
    email: String,
    role: String,
    invited_by: String,
    created_at: PrimitiveDateTime,
    expires_at: PrimitiveDateTime,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = DbError;

    fn try_from(row: InvitationRow) -> Result<Self, DbError> {
        Ok(Invitation {
            role: row
                .role
                .parse()
                .map_err(|err: crate::domain::UnknownRole| DbError::Corrupt(err.to_string()))?,
            id: InvitationId::try_from(row.id)?,
            merchant_id: MerchantId::try_from(row.merchant_id)?,
            merchant_name: row.merchant_name,
            email: row.email,
            invited_by: row.invited_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

fn load(rows: Vec<InvitationRow>) -> Result<Vec<Invitation>, DbError> {
    rows.into_iter().map(Invitation::try_from).collect()
}

/// A new invitation's details.
#[derive(Debug)]
pub struct NewInvitation<'a> {
    /// The merchant it invites to.
    pub merchant_id: &'a MerchantId,
    /// The invited email.
    pub email: &'a Email,
    /// The role it gives.
    pub role: Role,
    /// Who sends it, as history names them.
    pub invited_by: &'a str,
    /// When it stops being valid.
    pub expires_at: PrimitiveDateTime,
}

/// Stores an invitation; a second one for the same email and merchant is a
/// `UniqueViolation`. Returns its ID.
pub fn insert(
    conn: &mut DbConnection,
    new: NewInvitation<'_>,
    now: PrimitiveDateTime,
) -> Result<String, DbError> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(invitations::table)
        .values((
            invitations::id.eq(&id),
            invitations::merchant_id.eq(new.merchant_id.as_str()),
            invitations::email.eq(new.email.as_str()),
            invitations::role.eq(new.role.as_str()),
            invitations::invited_by.eq(new.invited_by),
            invitations::created_at.eq(now),
            invitations::expires_at.eq(new.expires_at),
        ))
        .execute(conn)?;
    Ok(id)
}

/// One invitation by ID, whoever it is for.
pub fn find(conn: &mut DbConnection, invitation_id: &str) -> Result<Option<Invitation>, DbError> {
    let row: Option<InvitationRow> = invitations::table
        .inner_join(merchants::table)
        .filter(invitations::id.eq(invitation_id))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?;
    row.map(Invitation::try_from).transpose()
}

/// The merchant's invitation to `email`, expired or not.
pub fn of_merchant_for(
    conn: &mut DbConnection,
    merchant_id: &MerchantId,
    email: &Email,
) -> Result<Option<Invitation>, DbError> {
    let row: Option<InvitationRow> = invitations::table
        .inner_join(merchants::table)
        .filter(invitations::merchant_id.eq(merchant_id.as_str()))
        .filter(invitations::email.eq(email.as_str()))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?;
    row.map(Invitation::try_from).transpose()
}

/// Every invitation the merchant sent that is still there (pending or expired), by email.
pub fn of_merchant(conn: &mut DbConnection, merchant_id: &MerchantId) -> Result<Vec<Invitation>, DbError> {
    load(
        invitations::table
            .inner_join(merchants::table)
            .filter(invitations::merchant_id.eq(merchant_id.as_str()))
            .select(InvitationRow::as_select())
            .order(invitations::email.asc())
            .load(conn)?,
    )
}

/// Every invitation to `email` (pending or expired), newest first.
pub fn for_email(conn: &mut DbConnection, email: &str) -> Result<Vec<Invitation>, DbError> {
    load(
        invitations::table
            .inner_join(merchants::table)
            .filter(invitations::email.eq(email))
            .select(InvitationRow::as_select())
            .order((invitations::created_at.desc(), invitations::id.asc()))
            .load(conn)?,
    )
}

/// How many invitations to `email` can still be accepted at `now`.
pub fn count_pending_for(
    conn: &mut DbConnection,
    email: &str,
    now: PrimitiveDateTime,
) -> Result<i64, DbError> {
    Ok(invitations::table
        .filter(invitations::email.eq(email))
        .filter(invitations::expires_at.gt(now))
        .count()
        .get_result(conn)?)
}

/// Deletes an invitation (accepted, declined, cancelled or replaced); false when it was
/// gone already.
pub fn delete(conn: &mut DbConnection, invitation_id: &str) -> Result<bool, DbError> {
    let deleted = diesel::delete(invitations::table.find(invitation_id)).execute(conn)?;
    Ok(deleted == 1)
}

/// Invitations that expired by `now` and whose expiry is not recorded yet, oldest first.
pub fn expiries_to_record(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    limit: i64,
) -> Result<Vec<Invitation>, DbError> {
    load(
        invitations::table
            .inner_join(merchants::table)
            .filter(invitations::expires_at.le(now))
            .filter(invitations::expiry_recorded.eq(false))
            .select(InvitationRow::as_select())
            .order(invitations::expires_at.asc())
            .limit(limit)
            .load(conn)?,
    )
}

/// Marks an invitation's expiry as recorded; false when it was already, or the
/// invitation is gone.
pub fn mark_expiry_recorded(conn: &mut DbConnection, invitation_id: &str) -> Result<bool, DbError> {
    let marked = diesel::update(
        invitations::table
            .filter(invitations::id.eq(invitation_id))
            .filter(invitations::expiry_recorded.eq(false)),
    )
    .set(invitations::expiry_recorded.eq(true))
    .execute(conn)?;
    Ok(marked == 1)
}
