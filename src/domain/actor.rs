//! Who makes a change, as history records it.

/// The kind of actor behind a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A merchant member on the dashboard.
    User,
    /// Platform support staff.
    Support,
    /// The command line.
    Cli,
    /// Keyward itself (a sweep, a first use).
    System,
    /// A management token, through the management API.
    Token,
}

impl ActorKind {
    /// Every kind of actor.
    pub const ALL: [ActorKind; 5] = [
        ActorKind::User,
        ActorKind::Support,
        ActorKind::Cli,
        ActorKind::System,
        ActorKind::Token,
    ];

    /// The kind whose stored text is `raw`.
    pub fn parse(raw: &str) -> Option<Self> {
        ActorKind::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Support => "support",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
            ActorKind::Token => "token",
        }
    }
}

/// Who made a change, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The kind of actor.
    pub kind: ActorKind,
    /// The user's ID, for users and support staff.
    pub id: Option<String>,
    /// The name shown in history ("Ana Lima", "cli").
    pub name: String,
    /// The client's address, for dashboard requests.
    pub address: Option<String>,
    /// The client's user agent, for dashboard requests.
    pub user_agent: Option<String>,
    /// For a token, whom it acts for: "created by Ana Lima".
    pub detail: Option<String>,
}

impl Actor {
    /// Keyward itself: the sweep, the usage flush.
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
            name: "Keyward".to_owned(),
            address: None,
            user_agent: None,
            detail: None,
        }
    }

    /// The same actor, seen at `address` (a first use records the client's address).
    pub fn from_address(self, address: Option<String>) -> Self {
        Self { address, ..self }
    }

    /// The account behind an invitation, as the merchant may know it while it is not a
    /// member: by the invited email alone, without its name, address or user agent.
    pub fn invitee(user_id: &str, email: &str) -> Self {
        Self {
            kind: ActorKind::User,
            id: Some(user_id.to_owned()),
            name: email.to_owned(),
            address: None,
            user_agent: None,
            detail: None,
        }
    }

    /// The command line, as history names it.
    pub fn cli() -> Self {
        Self {
            kind: ActorKind::Cli,
            id: None,
            name: "cli".to_owned(),
            address: None,
            user_agent: None,
            detail: None,
        }
    }

    /// A management token, as history names it: "token <name>", created by whom.
    pub fn token(
        token_id: &str,
        token_name: &str,
        created_by: &str,
        address: Option<String>,
        user_agent: Option<String>,
    ) -> Self {
        Self {
            kind: ActorKind::Token,
            id: Some(token_id.to_owned()),
            name: format!("token {token_name}"),
            address,
            user_agent,
            detail: Some(format!("created by {created_by}")),
        }
    }
}
