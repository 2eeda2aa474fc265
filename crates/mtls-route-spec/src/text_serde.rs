//! Deserialising the string-valued types (hosts, prefixes, upstreams, ...) through their
//! `FromStr`, reading the text where the deserialiser holds it: serde's `try_from = "String"`
//! copies every value into a `String` first, one allocation per field of every route read.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use crate::connect::{ConnectPattern, PortRange};
use crate::header::HeaderSpec;
use crate::host::HostPattern;
use crate::host_port::HostPort;
use crate::path::PathPrefix;
use crate::upstream::UpstreamUrl;

/// Parses a string value as `T`; a parse error becomes the deserialiser's error with the
/// same message.
struct TextVisitor<T>(PhantomData<fn() -> T>);

impl<T> Visitor<'_> for TextVisitor<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}

macro_rules! deserialize_from_text {
    ($($ty:ty),+ $(,)?) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(TextVisitor(PhantomData))
            }
        }
    )+};
}

deserialize_from_text!(
    ConnectPattern,
    PortRange,
    HeaderSpec,
    HostPattern,
    HostPort,
    PathPrefix,
    UpstreamUrl,
);
