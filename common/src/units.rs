//! Sizes and durations as people write them (`64`, `16k`, `1MiB`; `500ms`, `10s`, `2m`), parsed
//! at the edge into plain numbers and [`Duration`]s, and written back the same way so `--help`
//! shows defaults in the form a user would type.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const GIB: usize = 1024 * 1024 * 1024;

/// A rate as people read it: whole and grouped (`50,000`), or with one decimal below 100 when
/// it is not whole (`0.5`, `2.5`).
pub fn rate_text(r: f64) -> String {
    if r < 100.0 && (r - r.round()).abs() >= 0.05 {
        format!("{r:.1}")
    } else {
        thousands(r.round() as u64)
    }
}

/// Parses a byte count written like `64`, `16k`, `4KiB`, `1m`, `1MiB`, `2g` (k, m and g are
/// binary: 1024, 1024², 1024³).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let suffixes: [(&[&str], usize); 4] = [
        (&["kib", "k"], KIB),
        (&["mib", "m"], MIB),
        (&["gib", "g"], GIB),
        (&["b"], 1),
    ];
    let (digits, mult) = suffixes
        .iter()
        .find_map(|(names, mult)| {
            names
                .iter()
                .find_map(|n| lower.strip_suffix(n))
                .map(|d| (d, *mult))
        })
        .unwrap_or((lower.as_str(), 1));
    let n: usize = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{t}` is not a byte count (examples: 64, 16k, 1m)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{t}` is too large"))
}

/// Parses a duration written like `10s`, `500ms`, `2m`, `1h`, `250us`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{t}` is not a duration (examples: 10s, 500ms, 2m)"))?;
    let secs_per_unit = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => {
            return Err(format!(
                "unknown time unit `{other}` in `{t}` (use ns, us, ms, s, m, h or d)"
            ))
        }
    };
    let secs = value * secs_per_unit;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("`{t}` is too long"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a rate written like `50000`, `50k`, `1.5m`, `2e6` (k and m are decimal: 1,000 and
/// 1,000,000 per second).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (num, mult) = match lower.strip_suffix('k') {
        Some(n) => (n, 1e3),
        None => match lower.strip_suffix('m') {
            Some(n) => (n, 1e6),
            None => (lower.as_str(), 1.0),
        },
    };
    match num.trim().parse::<f64>().map(|v| v * mult) {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err(format!(
            "`{t}` is not a rate: a rate is a finite number of requests per second, 0 or more"
        )),
        Err(_) => Err(format!("`{t}` is not a rate (examples: 50000, 50k, 1.5m)")),
    }
}

/// A duration that prints the way [`parse_duration`] reads it (`1s`, `500ms`, `2m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        let units: [(u128, &str); 6] = [
            (3_600_000_000_000, "h"),
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
            (1, "ns"),
        ];
        if ns == 0 {
            return f.write_str("0s");
        }
        let (per, name) = units
            .into_iter()
            .find(|(per, _)| ns % per == 0)
            .unwrap_or((1, "ns"));
        write!(f, "{}{name}", ns / per)
    }
}

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_duration(s).map(HumanDuration)
    }
}

/// A byte count that prints the way [`parse_bytes`] reads it (`64`, `16KiB`, `1MiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteCount(pub usize);

impl fmt::Display for ByteCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        match [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")]
            .into_iter()
            .find(|(per, _)| n >= *per && n % per == 0)
        {
            Some((per, name)) => write!(f, "{}{name}", n / per),
            None => write!(f, "{n}"),
        }
    }
}

impl FromStr for ByteCount {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_bytes(s).map(ByteCount)
    }
}

/// Bytes in binary units, as [`parse_bytes`] reads them back: `512 B`, `1.5 KiB`, `117.3 MiB`,
/// `2.0 GiB`.
pub fn bytes_text(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `n` with thousands separators: `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte counts written in the binary units `parse_bytes` reads.
    #[test]
    fn bytes_read_back_in_binary_units() {
        assert_eq!(bytes_text(512.0), "512 B");
        assert_eq!(bytes_text(1536.0), "1.5 KiB");
        assert_eq!(bytes_text(117.3 * MIB as f64), "117.3 MiB");
        assert_eq!(bytes_text(2.0 * GIB as f64), "2.0 GiB");
    }

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("64"), Ok(64));
        assert_eq!(parse_bytes("16k"), Ok(16 * 1024));
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_bytes("2m"), Ok(2 << 20));
        assert_eq!(parse_bytes("8192m"), Ok(8 << 30));
        assert_eq!(parse_bytes("10b"), Ok(10));
        assert!(parse_bytes("ten").is_err());
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("99999999999999999999g").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 fortnights")
            .unwrap_err()
            .contains("unknown time unit"));
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("50000"), Ok(50_000.0));
        assert_eq!(parse_rate("50k"), Ok(50_000.0));
        assert_eq!(parse_rate("1.5M"), Ok(1_500_000.0));
        assert_eq!(parse_rate("1e12"), Ok(1e12));
        assert!(parse_rate("fast").is_err());
        // Found by the units fuzz target: a rate parsed as negative, NaN or infinite.
        for bad in ["-8", "nan", "inf", "1e400", "-1k"] {
            assert!(parse_rate(bad).unwrap_err().contains("finite"), "{bad}");
        }
    }

    #[test]
    fn values_print_as_they_are_typed_and_read_back() {
        for (d, text) in [
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(HumanDuration(d).to_string(), text);
            assert_eq!(text.parse::<HumanDuration>(), Ok(HumanDuration(d)));
        }
        for (n, text) in [
            (64, "64"),
            (256 * 1024, "256KiB"),
            (1 << 20, "1MiB"),
            (1000, "1000"),
        ] {
            assert_eq!(ByteCount(n).to_string(), text);
            assert_eq!(text.parse::<ByteCount>(), Ok(ByteCount(n)));
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
