//! Text columns read without trusting their bytes to be UTF-8.
//!
//! A Koji database created with `SQL_ASCII` (older sites) stores whatever bytes a client sent.
//! Sending such a value as text to a UTF-8 client (sqlx always is one) fails on the server
//! ("invalid byte sequence for encoding UTF8"), which would fail a whole family because of one
//! builder's name. So the statements select names and other label text as
//! `convert_to(name, 'SQL_ASCII')`, a `bytea` of the stored bytes (towards SQL_ASCII nothing is
//! converted or checked), and [`Lossy`] decodes them here: invalid sequences become U+FFFD,
//! the family still reports, and the exposition stays valid UTF-8. Two names that differ only
//! in their invalid bytes can become the same label value; the encoder keeps the first series
//! of such a pair (see `exposition`). A UTF8 database cannot hold invalid text, so there this
//! changes nothing.

use sqlx::decode::Decode;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueFormat, PgValueRef, Postgres};
use sqlx::{Type, TypeInfo, ValueRef};

/// A text value decoded with `String::from_utf8_lossy`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lossy(pub String);

impl std::ops::Deref for Lossy {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Pairs of (id, name) as plain strings.
pub fn named<K>(rows: Vec<(K, Lossy)>) -> Vec<(K, String)> {
    rows.into_iter().map(|(key, name)| (key, name.0)).collect()
}

impl From<Lossy> for String {
    fn from(value: Lossy) -> Self {
        value.0
    }
}

impl Type<Postgres> for Lossy {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty) || <Vec<u8> as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for Lossy {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.format() == PgValueFormat::Text && value.type_info().name() == "BYTEA" {
            // A simple query sends bytea as hex text.
            let bytes = <Vec<u8> as Decode<Postgres>>::decode(value)?;
            return Ok(Lossy(String::from_utf8_lossy(&bytes).into_owned()));
        }
        // Binary bytea, and text types in either format, are the bytes themselves.
        let bytes = value.as_bytes()?;
        Ok(Lossy(String::from_utf8_lossy(bytes).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_into_a_plain_string() {
        let text: String = Lossy("b\u{fffd}zier".to_owned()).into();
        assert_eq!(text, "b\u{fffd}zier");
    }
}
