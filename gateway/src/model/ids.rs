//! Identifiers as types: an OIN, a message id and a consent id are checked
//! once, where they enter the gateway, and can then not be mixed up with
//! each other or with free text.
//!
//! On disk and on the wire they are the same text as ever: an OIN as its 20
//! digits, an id as a hyphenated lowercase UUID.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a text is not an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadId(pub &'static str);

/// The OIN the gateway's own notices come from: 20 zeros, a number no
/// registry issues, so that it can never be an organisation's. The directory
/// refuses it.
pub const GATEWAY_OIN: &str = "00000000000000000000";

/// The rule an OIN follows, as refusals name it.
pub const OIN_RULE: &str = "must be an OIN of exactly 20 digits";
/// The rule an id follows, as refusals name it.
pub const UUID_RULE: &str = "must be a UUID such as 0190b2a4-7c3e-7a1b-9c2d-3e4f5a6b7c8d";

/// An Organisatie-identificatienummer: exactly 20 ASCII digits. It names an
/// organisation in its client certificate, the directory, every message and
/// every audit entry.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Oin(String);

impl Oin {
    /// The OIN in `text`, if it is one.
    pub fn parse(text: &str) -> Result<Self, BadId> {
        if text.len() == 20 && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(BadId(OIN_RULE))
        }
    }

    /// The 20 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text of identifiers that are UUIDs, normalised to the hyphenated
/// lowercase form.
fn uuid_text(text: &str) -> Result<String, BadId> {
    uuid::Uuid::try_parse(text)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| BadId(UUID_RULE))
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A new id: UUID v7, so that ids sort by creation time.
            pub fn new_v7() -> Self {
                Self(uuid::Uuid::now_v7().hyphenated().to_string())
            }

            /// The id in `text`, if it is a UUID.
            pub fn parse(text: &str) -> Result<Self, BadId> {
                uuid_text(text).map(Self)
            }

            /// The hyphenated lowercase text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = BadId;
            fn try_from(text: String) -> Result<Self, BadId> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = BadId;
            fn from_str(text: &str) -> Result<Self, BadId> {
                Self::parse(text)
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
    };
}

uuid_id!(
    /// A message's id, given by the gateway when it accepts the message.
    MessageId
);

uuid_id!(
    /// A consent's id, given by the gateway when the consent is registered.
    ConsentId
);

uuid_id!(
    /// A case's id ("one child, one plan"), given by the gateway when a
    /// thread of messages starts; every message and reply of the thread,
    /// and every audit entry about them, carries it.
    CaseId
);

impl CaseId {
    /// The case id derived from `seed`: the same seed gives the same id,
    /// so that a migration that is interrupted and run again groups the
    /// messages of a case as it did the first time. A UUID of version 8.
    pub fn derived(seed: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, seed);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest.as_ref()[..16]);
        Self(
            uuid::Builder::from_custom_bytes(bytes)
                .into_uuid()
                .hyphenated()
                .to_string(),
        )
    }
}

impl TryFrom<String> for Oin {
    type Error = BadId;
    fn try_from(text: String) -> Result<Self, BadId> {
        Self::parse(&text)
    }
}

impl From<Oin> for String {
    fn from(oin: Oin) -> String {
        oin.0
    }
}

impl FromStr for Oin {
    type Err = BadId;
    fn from_str(text: &str) -> Result<Self, BadId> {
        Self::parse(text)
    }
}

impl fmt::Display for Oin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Oin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oin({})", self.0)
    }
}

/// Who made a decision: an organisation, or the gateway itself (expiry,
/// purge, a lapse noticed by the sweeper).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Actor {
    /// The gateway; written "gateway".
    Gateway,
    /// An organisation, by OIN.
    Org(Oin),
}

/// The text of [`Actor::Gateway`].
pub const GATEWAY_ACTOR: &str = "gateway";

impl Actor {
    /// "gateway" or the OIN.
    pub fn as_str(&self) -> &str {
        match self {
            Actor::Gateway => GATEWAY_ACTOR,
            Actor::Org(oin) => oin.as_str(),
        }
    }

    /// The organisation, unless it is the gateway.
    pub fn oin(&self) -> Option<&Oin> {
        match self {
            Actor::Gateway => None,
            Actor::Org(oin) => Some(oin),
        }
    }
}

impl From<Oin> for Actor {
    fn from(oin: Oin) -> Self {
        Actor::Org(oin)
    }
}

impl TryFrom<String> for Actor {
    type Error = BadId;
    fn try_from(text: String) -> Result<Self, BadId> {
        if text == GATEWAY_ACTOR {
            Ok(Actor::Gateway)
        } else {
            Oin::parse(&text).map(Actor::Org)
        }
    }
}

impl From<Actor> for String {
    fn from(actor: Actor) -> String {
        actor.as_str().to_owned()
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Actor({})", self.as_str())
    }
}

/// Serde for an optional identifier written as its text, or as "" when
/// absent: how records of every release so far hold an empty reply link,
/// message or counterpart.
pub mod empty_as_none {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the text, or "".
    pub fn serialize<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_str(""),
        }
    }

    /// Reads the text; "" is None.
    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oin_is_twenty_digits() {
        assert!(Oin::parse("00000099100000000001").is_ok());
        for bad in ["123", "0000009910000000000X", "000000991000000000012", ""] {
            assert_eq!(Oin::parse(bad).unwrap_err().0, OIN_RULE, "{bad}");
        }
        let json = serde_json::to_string(&Oin::parse("00000099100000000001").unwrap()).unwrap();
        assert_eq!(json, "\"00000099100000000001\"");
        assert!(serde_json::from_str::<Oin>("\"12\"").is_err());
    }

    #[test]
    fn ids_are_uuids_in_one_form() {
        let id = MessageId::new_v7();
        assert_eq!(MessageId::parse(id.as_str()).unwrap(), id);
        let upper = id.as_str().to_uppercase();
        assert_eq!(MessageId::parse(&upper).unwrap(), id);
        assert_eq!(MessageId::parse("not-a-uuid").unwrap_err().0, UUID_RULE);
        assert!(ConsentId::parse("").is_err());
    }

    #[test]
    fn an_actor_is_the_gateway_or_an_oin() {
        let gw: Actor = serde_json::from_str("\"gateway\"").unwrap();
        assert_eq!(gw, Actor::Gateway);
        let org: Actor = serde_json::from_str("\"00000099100000000001\"").unwrap();
        assert_eq!(org.as_str(), "00000099100000000001");
        assert!(serde_json::from_str::<Actor>("\"someone\"").is_err());
        assert_eq!(serde_json::to_string(&gw).unwrap(), "\"gateway\"");
    }

    #[test]
    fn an_absent_id_is_the_empty_text() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(with = "empty_as_none")]
            id: Option<MessageId>,
        }
        let none = T { id: None };
        assert_eq!(serde_json::to_string(&none).unwrap(), r#"{"id":""}"#);
        assert_eq!(serde_json::from_str::<T>(r#"{"id":""}"#).unwrap(), none);
        let some = T {
            id: Some(MessageId::new_v7()),
        };
        let json = serde_json::to_string(&some).unwrap();
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), some);
        assert!(serde_json::from_str::<T>(r#"{"id":"x"}"#).is_err());
    }
}
