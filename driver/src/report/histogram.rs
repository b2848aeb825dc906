//! Histograms inside a report: HdrHistogram's V2 compressed encoding in base64, the same
//! encoding an interval log (.hlog) uses for each entry, so a saved report carries its whole
//! distribution and any HdrHistogram implementation can read it. Values are nanoseconds.

use std::io::Cursor;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize, Serializer};

/// What the `histograms` section of a report says about its encoding.
pub const ENCODING: &str = "HdrHistogram V2 compressed (deflate), base64; values in nanoseconds";

/// A histogram kept in its encoded form (small: a few hundred bytes for a second of load), for
/// the many per-second histograms of a long run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Packed(String);

/// A histogram that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("damaged histogram: {0}")]
pub struct HistogramError(String);

impl Packed {
    /// Encodes `h`.
    pub fn pack(h: &Histogram<u64>) -> Packed {
        let mut raw = Vec::new();
        // Writing into a Vec cannot fail, and every histogram the driver makes is encodable.
        V2DeflateSerializer::new()
            .serialize(h, &mut raw)
            .expect("histogram encodes");
        Packed(base64::engine::general_purpose::STANDARD.encode(raw))
    }

    /// Decodes it.
    pub fn unpack(&self) -> Result<Histogram<u64>, HistogramError> {
        decode(&self.0)
    }

    /// The base64 text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Decodes one base64 V2 histogram (as in reports and .hlog lines).
pub fn decode(text: &str) -> Result<Histogram<u64>, HistogramError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| HistogramError(format!("not base64 ({e})")))?;
    Deserializer::new()
        .deserialize(&mut Cursor::new(raw))
        .map_err(|e| HistogramError(format!("{e:?}")))
}

/// A histogram in memory, stored packed.
#[derive(Debug, Clone, PartialEq)]
pub struct Hist(pub Histogram<u64>);

impl Serialize for Hist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Packed::pack(&self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = d.deserialize_string(StringVisitor)?;
        decode(&text).map(Hist).map_err(serde::de::Error::custom)
    }
}

struct StringVisitor;

impl serde::de::Visitor<'_> for StringVisitor {
    type Value = String;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a base64 HdrHistogram")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// An empty histogram that grows to whatever it is given: for adding up histograms read from
/// files, whose bounds this driver did not choose.
pub fn growable() -> Histogram<u64> {
    let mut h = Histogram::<u64>::new(3).expect("3 significant digits is valid");
    h.auto(true);
    h
}

/// `total + part`, count by count.
pub fn add(total: &mut Histogram<u64>, part: &Histogram<u64>) -> Result<(), HistogramError> {
    total
        .add(part)
        .map_err(|e| HistogramError(format!("cannot add: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::new_histogram;

    #[test]
    fn packs_and_unpacks_exactly() {
        let mut h = new_histogram();
        for v in [1u64, 999, 25_000, 25_001, 7_000_000_000] {
            h.record(v).unwrap();
        }
        let back = Packed::pack(&h).unpack().unwrap();
        assert_eq!(back, h);
        let json = serde_json::to_string(&Hist(h.clone())).unwrap();
        assert!(json.starts_with("\"HISTF"), "{json}");
        let back: Hist = serde_json::from_str(&json).unwrap();
        assert_eq!(back.0, h);
        assert!(serde_json::from_str::<Hist>("\"bm90IGEgaGlzdG9ncmFt\"").is_err());
        assert!(decode("!!").is_err());
    }
}
