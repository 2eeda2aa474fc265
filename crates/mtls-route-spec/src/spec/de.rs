//! Reading a [`RouteSpec`] in one pass.
//!
//! serde's derive for an internally tagged enum buffers the whole object (every key and
//! value copied into an intermediate tree) before it knows which variant to build, which
//! made reading a registry of a million routes twice as slow as it needs to be. Every spec
//! we write starts with its `"kind"`, so this reads the kind first and hands the rest of the
//! same map straight to the kind's own deserialiser. An object whose `kind` comes later
//! (hand-written JSON) takes the slow way: its fields are gathered first, as serde would.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::{RouteKind, RouteSpec};
use crate::connect_route::ConnectRoute;
use crate::http_route::HttpRoute;
use crate::tcp_route::TcpRoute;

const KIND: &str = "kind";

impl<'de> Deserialize<'de> for RouteSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SpecVisitor)
    }
}

struct SpecVisitor;

impl<'de> Visitor<'de> for SpecVisitor {
    type Value = RouteSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a route: an object with a \"kind\" field")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RouteSpec, A::Error> {
        match map.next_key::<Key>()? {
            None => Err(de::Error::missing_field(KIND)),
            Some(Key::Kind) => {
                let kind: RouteKind = map.next_value()?;
                of_kind(kind, MapAccessDeserializer::new(map))
            }
            Some(Key::Other(first)) => gathered(first, map),
        }
    }
}

/// The route of `kind` from `fields` (the object without its `kind`).
fn of_kind<'de, D: Deserializer<'de>>(kind: RouteKind, fields: D) -> Result<RouteSpec, D::Error> {
    match kind {
        RouteKind::Http => HttpRoute::deserialize(fields).map(RouteSpec::Http),
        RouteKind::Tcp => TcpRoute::deserialize(fields).map(RouteSpec::Tcp),
        RouteKind::Connect => ConnectRoute::deserialize(fields).map(RouteSpec::Connect),
    }
}

/// The slow way: every field gathered (the first, `first`, already read as a key), then
/// the kind's deserialiser run over them.
fn gathered<'de, A: MapAccess<'de>>(first: String, mut map: A) -> Result<RouteSpec, A::Error> {
    let mut fields = serde_json::Map::new();
    let mut kind = None;
    let mut key = Key::Other(first);
    loop {
        match key {
            Key::Kind if kind.is_some() => return Err(de::Error::duplicate_field(KIND)),
            Key::Kind => kind = Some(map.next_value::<RouteKind>()?),
            Key::Other(name) => {
                let value: serde_json::Value = map.next_value()?;
                if fields.insert(name.clone(), value).is_some() {
                    return Err(de::Error::custom(format_args!("duplicate field `{name}`")));
                }
            }
        }
        match map.next_key()? {
            Some(next) => key = next,
            None => break,
        }
    }
    let kind = kind.ok_or_else(|| de::Error::missing_field(KIND))?;
    of_kind(kind, serde_json::Value::Object(fields)).map_err(de::Error::custom)
}

/// A key of the route object: `kind`, recognised without a copy, or another field's name.
enum Key {
    Kind,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Key, E> {
        Ok(match name {
            KIND => Key::Kind,
            other => Key::Other(other.to_owned()),
        })
    }
}
