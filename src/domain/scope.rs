//! The scopes a key can carry.

use std::fmt;

use super::validation::ValidationError;

/// One permission a key can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read orders.
    OrdersRead,
    /// Create and change orders.
    OrdersWrite,
    /// Read the product catalogue.
    ProductsRead,
    /// Change the product catalogue.
    ProductsWrite,
    /// Read stock levels.
    InventoryRead,
    /// Change stock levels.
    InventoryWrite,
    /// Upload product and inventory feeds.
    FeedsUpload,
    /// Register and remove webhooks.
    WebhooksManage,
}

impl Scope {
    /// Every scope, in catalogue order.
    pub const ALL: [Scope; 8] = [
        Scope::OrdersRead,
        Scope::OrdersWrite,
        Scope::ProductsRead,
        Scope::ProductsWrite,
        Scope::InventoryRead,
        Scope::InventoryWrite,
        Scope::FeedsUpload,
        Scope::WebhooksManage,
    ];

    /// The scope's name, as stored, sent and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OrdersRead => "orders:read",
            Scope::OrdersWrite => "orders:write",
            Scope::ProductsRead => "products:read",
            Scope::ProductsWrite => "products:write",
            Scope::InventoryRead => "inventory:read",
            Scope::InventoryWrite => "inventory:write",
            Scope::FeedsUpload => "feeds:upload",
            Scope::WebhooksManage => "webhooks:manage",
        }
    }

    /// What the scope allows, in a few words.
    pub fn description(self) -> &'static str {
        match self {
            Scope::OrdersRead => "Read orders and their status",
            Scope::OrdersWrite => "Create, update and cancel orders",
            Scope::ProductsRead => "Read the product catalogue",
            Scope::ProductsWrite => "Create and update products",
            Scope::InventoryRead => "Read stock levels",
            Scope::InventoryWrite => "Update stock levels",
            Scope::FeedsUpload => "Upload product and inventory feeds",
            Scope::WebhooksManage => "Register and remove webhooks",
        }
    }

    /// Parses one scope name exactly.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw)
            .ok_or_else(|| ValidationError::UnknownScope(raw.chars().take(40).collect()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, kept in catalogue order without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

/// Stored scopes, read back: the same check as typed ones.
impl TryFrom<String> for Scopes {
    type Error = ValidationError;

    fn try_from(stored: String) -> Result<Self, ValidationError> {
        Self::from_stored(&stored)
    }
}

impl Scopes {
    /// Parses scope names as submitted; an unknown name is refused.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, ValidationError> {
        let mut scopes = raw
            .iter()
            .map(|name| Scope::parse(name.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        Ok(Self(scopes))
    }

    /// Reads the stored form: names separated by spaces.
    pub fn from_stored(stored: &str) -> Result<Self, ValidationError> {
        let names: Vec<&str> = stored.split_whitespace().collect();
        Self::parse(&names)
    }

    /// The stored form: names separated by spaces, in catalogue order.
    pub fn to_stored(&self) -> String {
        self.names().join(" ")
    }

    /// The scopes' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|scope| scope.as_str()).collect()
    }

    /// True when the set holds `scope`.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// True when no scope is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_the_eight_scopes() {
        let names: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "orders:read",
                "orders:write",
                "products:read",
                "products:write",
                "inventory:read",
                "inventory:write",
                "feeds:upload",
                "webhooks:manage"
            ]
        );
    }

    #[test]
    fn scopes_are_ordered_and_deduplicated_and_round_trip() {
        let scopes = Scopes::parse(&["feeds:upload", "orders:read", "feeds:upload"]).unwrap();
        assert_eq!(scopes.to_stored(), "orders:read feeds:upload");
        assert_eq!(Scopes::from_stored(&scopes.to_stored()).unwrap(), scopes);
    }

    #[test]
    fn unknown_scopes_are_refused() {
        assert_eq!(
            Scopes::parse(&["orders:read", "admin:all"]),
            Err(ValidationError::UnknownScope("admin:all".into()))
        );
        assert!(Scopes::parse(&["Orders:Read"]).is_err());
    }
}
