//! The IDs of stored things, as types: each is a UUID in its canonical form, parsed once
//! where it comes in (a path, a form, a command line, a row), so that a malformed ID is
//! refused before any query and one kind of ID cannot be passed where another is meant.

use std::fmt;
use std::str::FromStr;

/// A text that is not a UUID where an ID was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} ID")]
pub struct MalformedId {
    /// What the ID was for ("key", "merchant", …).
    pub kind: &'static str,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses an ID as typed or stored; any UUID spelling is accepted and kept in
            /// the canonical hyphenated lower-case form the database holds.
            pub fn parse(raw: &str) -> Result<Self, MalformedId> {
                uuid::Uuid::parse_str(raw.trim())
                    .map(|uuid| Self(uuid.hyphenated().to_string()))
                    .map_err(|_| MalformedId { kind: $kind })
            }

            /// A new random ID.
            pub fn generate() -> Self {
                Self(uuid::Uuid::new_v4().hyphenated().to_string())
            }

            /// The canonical text, as stored.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = MalformedId;

            fn from_str(raw: &str) -> Result<Self, MalformedId> {
                Self::parse(raw)
            }
        }

        impl TryFrom<String> for $name {
            type Error = MalformedId;

            fn try_from(raw: String) -> Result<Self, MalformedId> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        /// An ID reads as its text wherever text is wanted (a URL, a message); only
        /// the other way needs parsing.
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

uuid_id!(
    /// A key version's ID; the first version's ID also names its lineage.
    KeyId,
    "key"
);
uuid_id!(
    /// A merchant's ID.
    MerchantId,
    "merchant"
);
uuid_id!(
    /// A user account's ID.
    UserId,
    "user"
);
uuid_id!(
    /// A history event's ID.
    EventId,
    "event"
);
uuid_id!(
    /// An invitation's ID.
    InvitationId,
    "invitation"
);

uuid_id!(
    /// A management token's ID.
    TokenId,
    "token"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_uuids_into_their_canonical_form() {
        let id = KeyId::parse("6F9619FF8B86D011B42D00C04FC964FF").unwrap();
        assert_eq!(id.as_str(), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
        assert_eq!(KeyId::parse(id.as_str()).unwrap(), id);
        assert_eq!(KeyId::parse("../../etc/passwd"), Err(MalformedId { kind: "key" }));
        assert!(MerchantId::parse("").is_err());
        assert!(UserId::parse("1 OR 1=1").is_err());
    }

    #[test]
    fn ids_round_trip_through_serde_and_refuse_malformed_text() {
        let id = EventId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<EventId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<EventId>("\"nope\"").is_err());
    }
}
