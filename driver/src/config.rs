//! A benchmark run's configuration: validated plain data, built once from the command line (or
//! by `nines node` and tests), then read by every driver thread.

use std::time::Duration;

use serde::Serialize;

use crate::schedule::Arrival;
use crate::target::RequestSpec;

/// Open-loop load: requests fall due on a schedule whatever the server does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OpenLoop {
    /// Requests per second, across all threads and connections.
    pub rate_per_s: f64,
    /// Spacing of arrivals.
    pub arrival: Arrival,
    /// Seed of the Poisson schedule (each thread derives its own from it).
    pub seed: u64,
}

/// When the measured part of a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopAt {
    /// After this long.
    #[serde(serialize_with = "ser_secs")]
    Duration(Duration),
    /// After exactly this many responses (spread over the threads).
    Requests(u64),
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Everything a run needs.
#[derive(Debug, Clone, Serialize)]
pub struct BenchConfig {
    /// `host:port` to load; `None` starts the server in-process on 127.0.0.1.
    pub target: Option<String>,
    /// Driver threads, each with its own event loop and histograms.
    pub threads: usize,
    /// Connections, spread over the threads.
    pub connections: usize,
    /// Requests in flight per connection at most (closed loop: always).
    pub pipeline: usize,
    /// Open-loop schedule; `None` is closed loop.
    pub open_loop: Option<OpenLoop>,
    /// Schedule lag p99 above which the report warns that the driver, not the server, limited
    /// the result.
    #[serde(serialize_with = "ser_secs")]
    pub lag_threshold: Duration,
    /// When the measurement ends.
    pub stop: StopAt,
    /// Load applied and measured before the measurement, then reported apart and discarded.
    #[serde(serialize_with = "ser_secs")]
    pub warmup: Duration,
    /// What each request is.
    pub request: RequestSpec,
    /// Errors after which the run is stopped (exit status 1, partial results written).
    pub max_errors: u64,
    /// How long connecting may take.
    #[serde(serialize_with = "ser_secs")]
    pub connect_timeout: Duration,
    /// A request unanswered this long is an error (`timeout`) and stops occupying its slot.
    #[serde(serialize_with = "ser_secs")]
    pub request_timeout: Duration,
    /// How long to wait for replies still in flight when the measurement ends.
    #[serde(serialize_with = "ser_secs")]
    pub drain_timeout: Duration,
    /// Worker threads of the embedded server (when there is no target).
    pub server_workers: usize,
    /// Start the load (after connecting) at this wall-clock time, seconds since the Unix epoch,
    /// so drivers on several machines start together.
    pub start_at_unix_s: Option<f64>,
}

impl Default for BenchConfig {
    /// The command line's defaults: embedded server, closed loop, 64 connections, 10 s after
    /// 1 s of warm-up, 64-byte nines echo.
    fn default() -> Self {
        let half_cpus = (nines_server::config::available_cpus() / 2).max(1);
        BenchConfig {
            target: None,
            threads: half_cpus,
            connections: 64,
            pipeline: 1,
            open_loop: None,
            lag_threshold: Duration::from_millis(1),
            stop: StopAt::Duration(Duration::from_secs(10)),
            warmup: Duration::from_secs(1),
            request: RequestSpec {
                protocol: crate::target::ProtocolKind::Nines,
                op: nines_protocol::Op::Echo,
                payload_bytes: 64,
                work_us: 10,
            },
            max_errors: 100,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(2),
            server_workers: half_cpus,
            start_at_unix_s: None,
        }
    }
}

/// Parses a start time: seconds since the Unix epoch (`1795398113`, as `date +%s` prints), or
/// `+DURATION` from now (`+30s`).
pub fn parse_start_at(s: &str) -> Result<f64, String> {
    let t = s.trim();
    if let Some(rel) = t.strip_prefix('+') {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?;
        return Ok((now + parse_duration(rel)?).as_secs_f64());
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "`{t}` is not a start time (seconds since the epoch, e.g. $(( $(date +%s) + 30 )), or +30s)"
        )),
    }
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
        other => {
            return Err(format!(
                "unknown time unit `{other}` in `{t}` (use ns, us, ms, s, m or h)"
            ))
        }
    };
    let secs = value * secs_per_unit;
    if !secs.is_finite() || secs > 1e9 {
        return Err(format!("`{t}` is too long"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times() {
        assert_eq!(parse_start_at("1795398113"), Ok(1_795_398_113.0));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let t = parse_start_at("+30s").unwrap();
        assert!((t - now - 30.0).abs() < 1.0);
        assert!(parse_start_at("noon").is_err());
        assert!(parse_start_at("-5").is_err());
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
}
