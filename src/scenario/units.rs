//! Value types of the scenario file that check themselves while parsing.
//!
//! Each wrapper validates in `Deserialize`, so a bad value is reported by ron
//! with the exact line:column of the value (e.g. `"5 ms"`, `1.5` for a
//! probability, `0` workers) rather than later with only a node name.

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::engine::time::SimDuration;

/// A duration string such as `"250us"`, `"0.5ms"`, `"2s"`, `"1m"`, `"1h"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub SimDuration);

/// Parses a duration exactly into nanoseconds (no floating point), so
/// `"0.1ms"` is exactly 100000 ns.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    const HINT: &str =
        "write a number and a unit, e.g. \"250us\", \"0.5ms\", \"2s\", \"1m\" (units: ns, us, ms, s, m, h)";
    let s = text.trim();
    if s.starts_with('-') {
        return Err(format!("duration \"{text}\" is negative: a duration is 0 or more; {HINT}"));
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration \"{text}\" has no unit: {HINT}"))?;
    let (number, unit) = s.split_at(split);
    let unit_ns: u64 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(format!("bad duration \"{text}\": unknown unit \"{unit}\"; {HINT}")),
    };
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if number.is_empty() || (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(format!("bad duration \"{text}\": {HINT}"));
    }
    let too_big = || format!("duration \"{text}\" is too large (the limit is about 584 years)");
    let int: u64 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| too_big())? };
    let mut ns = int.checked_mul(unit_ns).ok_or_else(too_big)?;
    // Fractional digits: exact as long as they do not go below one nanosecond.
    let mut scale = unit_ns;
    for digit in frac_part.bytes() {
        let d = u64::from(digit - b'0');
        if !scale.is_multiple_of(10) {
            if d != 0 {
                return Err(format!("duration \"{text}\" is finer than one nanosecond"));
            }
            continue;
        }
        scale /= 10;
        ns = ns.checked_add(d * scale).ok_or_else(too_big)?;
    }
    Ok(SimDuration(ns))
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map(Dur).map_err(de::Error::custom)
    }
}

/// A share in `0.0..=1.0` (a probability or a fraction).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Fraction(pub f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(d)?;
        if x.is_finite() && (0.0..=1.0).contains(&x) {
            Ok(Fraction(x))
        } else {
            Err(de::Error::custom(format!(
                "{x} is not a fraction: write a share between 0.0 and 1.0 (e.g. 0.01 for 1%)"
            )))
        }
    }
}

/// A finite number greater than zero (a rate, a factor).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Positive(pub f64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(d)?;
        if x.is_finite() && x > 0.0 {
            Ok(Positive(x))
        } else {
            Err(de::Error::custom(format!("{x} must be a finite number greater than 0")))
        }
    }
}

/// A finite number that is zero or more (a weight, a Zipf exponent).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct NonNegative(pub f64);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(d)?;
        if x.is_finite() && x >= 0.0 {
            Ok(NonNegative(x))
        } else {
            Err(de::Error::custom(format!("{x} must be a finite number, 0 or more")))
        }
    }
}

/// A count that must be at least one (workers, replicas, limits, window sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AtLeastOne(pub u32);

impl<'de> Deserialize<'de> for AtLeastOne {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        if n >= 1 {
            Ok(AtLeastOne(n))
        } else {
            Err(de::Error::custom("0 is not allowed here: this count must be at least 1"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_exactly() {
        let ns = |s| parse_duration(s).unwrap().as_nanos();
        assert_eq!(ns("250us"), 250_000);
        assert_eq!(ns("0.5ms"), 500_000);
        assert_eq!(ns("0.1ms"), 100_000);
        assert_eq!(ns("2s"), 2_000_000_000);
        assert_eq!(ns("1m"), 60_000_000_000);
        assert_eq!(ns("1h"), 3_600_000_000_000);
        assert_eq!(ns(".5s"), 500_000_000);
        assert_eq!(ns("0ms"), 0);
        assert_eq!(ns("1.000000001s"), 1_000_000_001);
    }

    #[test]
    fn bad_durations_are_refused_with_a_hint() {
        for bad in ["", "5", "ms", "5 ms", "5sec", "-1s", "1.5ns", "1..2s", "99999999999h"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("duration"), "{bad}: {err}");
        }
        // The sign is the problem, not the unit.
        let err = parse_duration("-20s").unwrap_err();
        assert!(err.contains("negative") && !err.contains("unknown unit"), "{err}");
    }
}
