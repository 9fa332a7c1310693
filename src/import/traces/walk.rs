//! Both trace formats are one object holding one long array
//! (`{"resourceSpans": [...]}`, `{"data": [...]}`): this `DeserializeSeed`
//! hands each element of that array to a callback as soon as it is read,
//! so memory follows one element, never the file.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The array under one of `keys` in an object, element by element.
pub(super) struct EachIn<T, F> {
    pub(super) keys: &'static [&'static str],
    /// What the object is and what its array holds, for serde's "expected ..." messages.
    pub(super) object: &'static str,
    pub(super) items: &'static str,
    /// The error when the object has none of `keys`.
    pub(super) missing: &'static str,
    pub(super) each: F,
    pub(super) item: PhantomData<fn() -> T>,
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> DeserializeSeed<'de> for EachIn<T, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for EachIn<T, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.object)
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if self.keys.contains(&key.as_str()) {
                map.next_value_seed(Items { each: &mut self.each, what: self.items, item: PhantomData })?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !found {
            return Err(de::Error::custom(self.missing));
        }
        Ok(())
    }
}

struct Items<'f, T, F> {
    each: &'f mut F,
    what: &'static str,
    item: PhantomData<fn() -> T>,
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> DeserializeSeed<'de> for Items<'_, T, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for Items<'_, T, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(x) = seq.next_element::<T>()? {
            (self.each)(x);
        }
        Ok(())
    }
}
