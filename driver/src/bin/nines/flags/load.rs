//! How load is applied: closed loop, or (with `--rate` or `--stages`) open loop, with its pipeline, warm-up,
//! length and error limit; a storm's own flags; and the lag threshold both judge the driver by.

use std::time::Duration;

use clap::Args;
use nines_common::units::{parse_rate, HumanDuration};
use nines_common::usage::UsageError;
use nines_driver::config::{defaults, Arrivals, Bench, Load, Rate, Stages, StopAt, Storm};
use nines_driver::schedule::Arrival;

use super::with_default;

/// Closed- and open-loop load.
#[derive(Args, Debug)]
#[command(next_help_heading = "Load")]
pub struct LoadFlags {
    /// Requests in flight per connection at most.
    #[arg(short, long, default_value_t = defaults::PIPELINE)]
    pub pipeline: usize,
    /// Open loop: requests per second in total (50000, 50k, 1.5m), due on a schedule whatever
    /// the server does; latency is measured from when each request was due. Without it, load
    /// is closed loop.
    #[arg(short = 'R', long, value_parser = parse_rate, conflicts_with = "stages")]
    pub rate: Option<f64>,
    /// Open loop in stages, DURATION:RATE,... (30s:1000,2m:10k,30s:0): each stage ramps
    /// linearly from the previous stage's rate (0 at the start) to its own over its duration,
    /// so a hold is two stages at one rate. The stages set how long the run lasts; each gets
    /// its own percentiles.
    #[arg(long, value_name = "STAGES", value_parser = Stages::parse)]
    pub stages: Option<Stages>,
    #[command(flatten)]
    pub arrivals: ArrivalFlags,
    /// How long to measure, e.g. 10s, 500ms, 2m [default: 10s; 3s for profile].
    #[arg(short, long, conflicts_with = "requests")]
    pub duration: Option<HumanDuration>,
    /// Stop after exactly this many replies instead of after --duration.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    #[arg(short, long, help = with_default(
        "Load applied before measuring, reported apart and discarded, e.g. 2s, 0s (none with --stages)",
        HumanDuration(defaults::WARMUP),
    ))]
    pub warmup: Option<HumanDuration>,
    /// Stop the run (exit status 1, results kept) once this many errors have been counted.
    #[arg(long, default_value_t = defaults::MAX_ERRORS)]
    pub max_errors: u64,
}

/// How open-loop requests are spaced, and how late the driver may send them.
#[derive(Args, Debug)]
pub struct ArrivalFlags {
    #[arg(long, value_enum, help = with_default("Open-loop arrivals", Arrival::default()))]
    pub arrival: Option<Arrival>,
    #[arg(long, help = with_default(
        "Seed of the Poisson schedule: the same seed gives the same arrivals",
        defaults::SEED,
    ))]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub lag: LagFlag,
}

/// The lateness against due times past which the driver says it shaped the figures.
#[derive(Args, Debug)]
pub struct LagFlag {
    #[arg(long, help = with_default(
        "Warn (and fail an --slo gate) when the driver's own lateness against due times has a p99 above this: open-loop schedule lag, a storm's send lag",
        HumanDuration(defaults::LAG_THRESHOLD),
    ))]
    pub lag_threshold: Option<HumanDuration>,
}

impl LagFlag {
    fn get(&self) -> Duration {
        self.lag_threshold.map_or(defaults::LAG_THRESHOLD, |d| d.0)
    }
}

impl ArrivalFlags {
    /// The seed given (or the default): it seeds Poisson arrivals, and the requests drawn
    /// from a mix or a size range.
    pub fn seed(&self) -> u64 {
        self.seed.unwrap_or(defaults::SEED)
    }

    /// The arrivals given; `open` says whether any open-loop step will use them, `draws`
    /// whether requests are drawn (a mix, or sizes), which `--seed` also seeds.
    pub fn arrivals(&self, open: bool, draws: bool) -> Result<Arrivals, Vec<UsageError>> {
        if !open {
            let given = [
                ("--arrival", self.arrival.is_some()),
                ("--seed", self.seed.is_some() && !draws),
                ("--lag-threshold", self.lag.lag_threshold.is_some()),
            ];
            let refused = super::refuse_given(
                &given,
                "applies to open-loop load: add --rate or --stages (a sweep: --rates), or drop it",
            );
            if !refused.is_empty() {
                return Err(refused);
            }
        }
        let arrival = self.arrival.unwrap_or_default();
        if self.seed.is_some() && arrival != Arrival::Poisson && !draws {
            return Err(vec![UsageError::new(
                "--seed",
                "applies to --arrival poisson and to requests drawn from a mix or a size range (constant arrivals of one request have nothing to seed)",
            )]);
        }
        Ok(Arrivals {
            arrival,
            seed: self.seed.unwrap_or(defaults::SEED),
            lag_threshold: self.lag.get(),
        })
    }
}

impl LoadFlags {
    /// What closed and open loop share, measuring for `default_duration` unless told.
    /// With stages, the run lasts as long as they do and has no warm-up unless told (the
    /// stages' check refuses a length or a warm-up given beside them).
    pub fn bench(&self, default_duration: Duration) -> Bench {
        let (default_duration, default_warmup) = match &self.stages {
            None => (default_duration, defaults::WARMUP),
            Some(stages) => (stages.total(), Duration::ZERO),
        };
        Bench {
            pipeline: self.pipeline,
            warmup: self.warmup.map_or(default_warmup, |w| w.0),
            stop: self.requests.map_or(
                StopAt::Duration(self.duration.map_or(default_duration, |d| d.0)),
                StopAt::Requests,
            ),
            max_errors: self.max_errors,
        }
    }

    /// The open loop's rate, when one was given (steady or in stages).
    fn rate(&self) -> Option<Rate> {
        match (self.rate, &self.stages) {
            (Some(rate_per_s), _) => Some(Rate::Steady { rate_per_s }),
            (None, Some(stages)) => Some(Rate::Staged {
                stages: stages.clone(),
            }),
            (None, None) => None,
        }
    }

    /// The load: open loop with `--rate`, else closed loop; `draws` says whether requests are
    /// drawn (so `--seed` applies to closed loop too).
    pub fn load(&self, default_duration: Duration, draws: bool) -> Result<Load, Vec<UsageError>> {
        let rate = self.rate();
        let arrivals = self.arrivals.arrivals(rate.is_some(), draws)?;
        let bench = self.bench(default_duration);
        Ok(match rate {
            None => Load::ClosedLoop(bench),
            Some(rate) => Load::OpenLoop {
                bench,
                rate,
                arrivals,
            },
        })
    }
}

/// A connection storm's own flags.
#[derive(Args, Debug)]
#[command(next_help_heading = "Storm")]
pub struct StormFlags {
    /// Connections opened per second (1000: one per millisecond).
    #[arg(long, default_value_t = defaults::STORM_CONNECT_RATE, value_parser = parse_rate)]
    pub connect_rate: f64,
    /// Each open connection sends one timestamped message this often (on average, with --think
    /// poisson); the server echoes it.
    #[arg(long, default_value_t = HumanDuration(defaults::STORM_INTERVAL))]
    pub interval: HumanDuration,
    /// How long every connection is held once the last has been started.
    #[arg(short, long, default_value_t = HumanDuration(defaults::DURATION))]
    pub duration: HumanDuration,
    #[command(flatten)]
    pub lag: LagFlag,
    /// Spread the connections over N driver processes (each with its own descriptor limit);
    /// their Reports are merged into one.
    #[arg(long, default_value_t = defaults::STORM_PROCESSES)]
    pub processes: usize,
    #[command(flatten)]
    pub sessions: super::session::SessionFlags,
}

impl StormFlags {
    /// The storm the flags describe.
    pub fn load(&self) -> Result<Load, Vec<UsageError>> {
        let (session, think, seed) = self.sessions.get()?;
        Ok(Load::Storm(Storm {
            connect_rate: self.connect_rate,
            interval: self.interval.0,
            hold: self.duration.0,
            lag_threshold: self.lag.get(),
            session,
            think,
            seed,
        }))
    }
}
