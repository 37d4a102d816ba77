//! A manifest field that remembers how it was written: absent, `null`, or a value. Tools have
//! written `"database_id": null` (a dump fetched from a bare URL) where others leave a key out;
//! telling the two apart is what lets a manifest be read and written back byte for byte.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    pub fn get(&self) -> Option<&T> {
        match self {
            Field::Set(v) => Some(v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self) -> Option<&mut T> {
        match self {
            Field::Set(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    pub fn is_set(&self) -> bool {
        matches!(self, Field::Set(_))
    }
}

impl<T: Clone> Field<T> {
    pub fn cloned(&self) -> Option<T> {
        self.get().cloned()
    }
}

impl Field<String> {
    pub fn as_deref(&self) -> Option<&str> {
        self.get().map(String::as_str)
    }
}

/// `Some` is a value, `None` is written `null` (as the tools write an unknown id or name).
impl<T> From<Option<T>> for Field<T> {
    fn from(v: Option<T>) -> Field<T> {
        match v {
            Some(v) => Field::Set(v),
            None => Field::Null,
        }
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Absent fields are skipped by the struct (`skip_serializing_if`); should one reach
        // here it is written as null, never invented as a value.
        match self {
            Field::Set(v) => v.serialize(s),
            _ => s.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field<T>, D::Error> {
        Ok(Option::<T>::deserialize(d)?.into())
    }
}
