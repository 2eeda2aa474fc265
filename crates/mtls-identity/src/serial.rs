//! Certificate serial numbers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a serial number could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    /// The text was empty (or only separators).
    #[error("serial number is empty")]
    Empty,
    /// The text had a character that is not a hex digit or `:`.
    #[error("serial number {text:?} is not hexadecimal: unexpected {found:?}")]
    NotHex {
        /// The rejected text.
        text: String,
        /// The offending character.
        found: char,
    },
    /// The number is longer than the 20 octets RFC 5280 allows.
    #[error("serial number {text:?} is {octets} octets long; RFC 5280 allows at most 20")]
    TooLong {
        /// The rejected text.
        text: String,
        /// Its length in octets.
        octets: usize,
    },
    /// The number is zero.
    #[error("serial number must be positive, got zero")]
    Zero,
}

/// A certificate serial number: a positive integer of at most 20 octets (RFC 5280 §4.1.2.2),
/// held as its big-endian magnitude with no leading zero octets.
///
/// Normalising the magnitude means the serial read from a certificate (whose DER INTEGER may
/// carry a leading `00` octet) and the serial typed by an operator (`4F:0A:...`, `4f0a...`)
/// compare equal. [`Display`](fmt::Display) is lowercase hex without separators, the form
/// stored in the registry; [`Serial::to_der_integer_bytes`] is what goes into a certificate.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Serial(Box<[u8]>);

// === impl Serial ===

impl Serial {
    /// The largest serial RFC 5280 allows, in octets.
    pub const MAX_OCTETS: usize = 20;

    /// A serial from the big-endian bytes of a (non-negative) DER INTEGER or a magnitude.
    ///
    /// Leading zero octets are dropped.
    pub fn from_be_bytes(bytes: &[u8]) -> Result<Self, SerialError> {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let magnitude = &bytes[start..];
        if magnitude.is_empty() {
            return Err(SerialError::Zero);
        }
        if magnitude.len() > Self::MAX_OCTETS {
            return Err(SerialError::TooLong {
                text: hex(magnitude),
                octets: magnitude.len(),
            });
        }
        Ok(Self(magnitude.into()))
    }

    /// A fresh random serial with 127 bits of entropy from the system CSPRNG.
    ///
    /// It is 16 octets with the top bit clear (so the DER INTEGER is positive without
    /// padding) and the first octet non-zero (so the encoding is minimal and 16 octets long).
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random number generator failed");
        bytes[0] &= 0x7f;
        if bytes[0] == 0 {
            bytes[0] = 0x01;
        }
        Self(bytes.into())
    }

    /// The big-endian magnitude (no leading zero octets).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The content octets of the DER INTEGER for this serial: the magnitude, with a `00`
    /// prepended when its top bit is set so that the number stays positive.
    pub fn to_der_integer_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        if self.0[0] & 0x80 != 0 {
            out.push(0);
        }
        out.extend_from_slice(&self.0);
        out
    }

    /// Uppercase hex with `:` between octets, as `openssl x509 -text` prints it.
    pub fn to_colon_hex(&self) -> String {
        colon_hex(&self.0)
    }
}

/// Uppercase hex octets joined by `:`.
pub(crate) fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl FromStr for Serial {
    type Err = SerialError;

    /// Parses hex, with or without `:` separators, either case, optional `0x` prefix.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let digits_src = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
            .unwrap_or(trimmed);
        let mut digits = Vec::with_capacity(digits_src.len());
        for c in digits_src.chars() {
            match c {
                ':' => continue,
                c if c.is_ascii_hexdigit() => digits.push(c.to_digit(16).unwrap_or(0) as u8),
                found => {
                    return Err(SerialError::NotHex {
                        text: text.to_owned(),
                        found,
                    });
                }
            }
        }
        if digits.is_empty() {
            return Err(SerialError::Empty);
        }
        // Pad to whole octets from the left.
        if digits.len() % 2 == 1 {
            digits.insert(0, 0);
        }
        let bytes: Vec<u8> = digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect();
        Self::from_be_bytes(&bytes).map_err(|e| match e {
            SerialError::TooLong { octets, .. } => SerialError::TooLong {
                text: text.to_owned(),
                octets,
            },
            other => other,
        })
    }
}

impl TryFrom<String> for Serial {
    type Error = SerialError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Serial> for String {
    fn from(s: Serial) -> Self {
        s.to_string()
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn random_serials_are_positive_minimal_and_distinct() {
        let a = Serial::random();
        let b = Serial::random();
        assert_ne!(a, b);
        for s in [a, b] {
            assert_eq!(s.as_bytes().len(), 16);
            assert!(s.as_bytes()[0] != 0 && s.as_bytes()[0] & 0x80 == 0);
            assert_eq!(s.to_der_integer_bytes(), s.as_bytes());
        }
    }

    #[test]
    fn parses_operator_forms() {
        let s: Serial = "4F:0a:01".parse().unwrap();
        assert_eq!(s.to_string(), "4f0a01");
        assert_eq!(s.to_colon_hex(), "4F:0A:01");
        assert_eq!("0x4f0a01".parse::<Serial>().unwrap(), s);
        assert_eq!("00:4f0a01".parse::<Serial>().unwrap(), s);
        assert_eq!(
            "f0a01".parse::<Serial>().unwrap().as_bytes(),
            [0x0f, 0x0a, 0x01]
        );
        assert_eq!("".parse::<Serial>(), Err(SerialError::Empty));
        assert_eq!("00".parse::<Serial>(), Err(SerialError::Zero));
        assert!(matches!(
            "12zz".parse::<Serial>(),
            Err(SerialError::NotHex { found: 'z', .. })
        ));
        assert!(matches!(
            "01".repeat(21).parse::<Serial>(),
            Err(SerialError::TooLong { octets: 21, .. })
        ));
    }

    #[test]
    fn high_bit_gets_a_sign_octet() {
        let s = Serial::from_be_bytes(&[0x80, 0x01]).unwrap();
        assert_eq!(s.to_der_integer_bytes(), vec![0x00, 0x80, 0x01]);
        assert_eq!(Serial::from_be_bytes(&[0x00, 0x80, 0x01]).unwrap(), s);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..=20)) {
            match Serial::from_be_bytes(&bytes) {
                Ok(s) => {
                    prop_assert_eq!(s.to_string().parse::<Serial>().unwrap(), s.clone());
                    prop_assert_eq!(s.to_colon_hex().parse::<Serial>().unwrap(), s.clone());
                    let der = s.to_der_integer_bytes();
                    // Minimal positive DER INTEGER: no redundant leading 00, top bit clear.
                    prop_assert!(der[0] & 0x80 == 0);
                    prop_assert!(!(der.len() > 1 && der[0] == 0 && der[1] & 0x80 == 0));
                    prop_assert_eq!(Serial::from_be_bytes(&der).unwrap(), s);
                }
                Err(e) => prop_assert_eq!(e, SerialError::Zero),
            }
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,64}") {
            let _ = text.parse::<Serial>();
        }
    }
}
