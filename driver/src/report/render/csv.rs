//! CSV: one header line and one row per result, for spreadsheets and for comparing runs, then
//! (for a request mix) one row per line of the mix, named in the `line` column (empty on the
//! result's own row), and (for a staged run) one row per stage, numbered in the `stage`
//! column: summing the rows whose `line` and `stage` are both empty never counts a reply twice.
//! Latencies are in microseconds; a figure a result does not have is an empty field.

use crate::config::{Load, StopAt};
use crate::report::{LatencySummary, Outcome, Report};

/// The column names.
pub const HEADER: &str = "target,mode,threads,connections,pipeline,request,rate_rps,stop,status,requests,errors,duration_s,throughput_rps,min_us,mean_us,p50_us,p75_us,p90_us,p95_us,p99_us,p99_9_us,p99_99_us,max_us,uncorrected_p99_us,warnings,started_unix_s,received_bytes_per_s,errors_by_kind,tls_handshakes,tls_resumed,tls_handshake_p50_us,tls_handshake_p99_us,tcp_connect_p50_us,tcp_connect_p99_us,tls_insecure,line,stage";

/// Where the figures a mix line has of its own sit in a row.
const REQUEST: usize = 5;
const REQUESTS: usize = 9;
const FIRST_LATENCY: usize = 13;
const UNCORRECTED_P99: usize = 23;
const RATE: usize = 6;
const DURATION: usize = 11;
const LINE: usize = 35;

/// A result's rows: its own, then one per line of its request mix, then one per stage.
pub fn rows(r: &Report) -> Vec<String> {
    let total = fields(r);
    let mut out = vec![join(&total)];
    let part = |requests: u64, errors: u64, rps: f64, latency: Option<&LatencySummary>| {
        let mut f = total.clone();
        f[REQUESTS] = requests.to_string();
        f[REQUESTS + 1] = errors.to_string();
        f[REQUESTS + 3] = format!("{rps:.1}");
        let named = latency.map(LatencySummary::named);
        for i in 0..10 {
            f[FIRST_LATENCY + i] = named.map_or(String::new(), |n| n[i].1.to_string());
        }
        f[UNCORRECTED_P99] = String::new();
        f
    };
    for l in &r.by_request {
        let mut f = part(
            l.requests,
            l.errors,
            l.throughput_rps,
            l.latency_us.as_ref(),
        );
        f[REQUEST] = l.request.clone();
        f[LINE] = l.name.clone();
        out.push(join(&f));
    }
    for st in &r.stages {
        let mut f = part(
            st.requests,
            st.errors,
            st.throughput_rps,
            st.latency_us.as_ref(),
        );
        f[RATE] = (st.target_requests / st.duration_s).to_string();
        f[DURATION] = format!("{:.3}", st.duration_s);
        f[LINE + 1] = st.stage.to_string();
        out.push(join(&f));
    }
    out
}

/// One result as a row under [`HEADER`].
pub fn row(r: &Report) -> String {
    join(&fields(r))
}

fn join(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| quote(f))
        .collect::<Vec<_>>()
        .join(",")
}

/// A result's own fields, in [`HEADER`]'s order.
fn fields(r: &Report) -> Vec<String> {
    let c = r.manifest().map(|m| &m.config);
    let status = match &r.outcome {
        Outcome::Completed => "completed".to_string(),
        Outcome::CutShort(why) => format!("cut short: {why}"),
    };
    let mut fields = vec![
        r.target.clone(),
        r.load.model().to_string(),
        c.map_or(String::new(), |c| c.threads.to_string()),
        c.map_or(String::new(), |c| c.connections.to_string()),
        c.and_then(|c| c.load.bench())
            .map_or(String::new(), |b| b.pipeline.to_string()),
        c.map_or(String::new(), |c| c.request.describe()),
        match c.map(|c| &c.load) {
            Some(Load::OpenLoop { rate, .. }) => rate.mean_per_s().to_string(),
            _ => String::new(),
        },
        c.map_or(String::new(), |c| match c.stop() {
            StopAt::Duration(d) => format!("{}s", d.as_secs_f64()),
            StopAt::Requests(n) => format!("{n} requests"),
        }),
        status,
        r.requests.to_string(),
        r.errors.to_string(),
        format!("{:.3}", r.duration_s),
        format!("{:.1}", r.throughput_rps),
    ];
    let named = r.latency_us.as_ref().map(LatencySummary::named);
    for i in 0..10 {
        fields.push(named.map_or(String::new(), |n| n[i].1.to_string()));
    }
    fields.push(
        r.latency_uncorrected_us
            .map_or(String::new(), |l| l.p99.to_string()),
    );
    fields.push(r.warnings.len().to_string());
    fields.push(format!("{:.3}", r.started_unix_s));
    fields.push(
        r.transfer
            .map_or(String::new(), |t| format!("{:.0}", t.received_bytes_per_s)),
    );
    // `kind=count;...`: no comma, so a spreadsheet keeps it one field.
    let kinds: Vec<String> = r
        .errors_by_kind
        .nonzero()
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    fields.push(kinds.join(";"));
    // A TLS run's handshakes, apart from the TCP connect; empty for plain text.
    let t = r.tls.as_ref();
    let pct = |l: Option<&LatencySummary>, p99: bool| {
        l.map_or(String::new(), |l| {
            (if p99 { l.p99 } else { l.p50 }).to_string()
        })
    };
    fields.extend([
        t.map_or(String::new(), |t| t.handshakes.to_string()),
        t.map_or(String::new(), |t| t.resumed.to_string()),
        pct(t.and_then(|t| t.handshake_us.as_ref()), false),
        pct(t.and_then(|t| t.handshake_us.as_ref()), true),
        pct(t.and_then(|t| t.tcp_connect_us.as_ref()), false),
        pct(t.and_then(|t| t.tcp_connect_us.as_ref()), true),
        t.map_or(String::new(), |t| t.insecure.to_string()),
        String::new(),
        String::new(),
    ]);
    fields
}

/// A field as CSV writes it: quoted (quotes doubled) when it holds a comma, quote or newline.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_with_commas_are_quoted() {
        assert_eq!(super::quote("a, b"), "\"a, b\"");
        assert_eq!(super::quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::quote("plain"), "plain");
        let names: Vec<&str> = super::HEADER.split(',').collect();
        assert_eq!(names.len(), 37);
        assert_eq!(
            (names[super::RATE], names[super::DURATION]),
            ("rate_rps", "duration_s")
        );
        assert_eq!(
            (names[super::LINE], names[super::LINE + 1]),
            ("line", "stage")
        );
        assert_eq!(
            [
                names[super::REQUEST],
                names[super::REQUESTS],
                names[super::FIRST_LATENCY],
                names[super::UNCORRECTED_P99]
            ],
            ["request", "requests", "min_us", "uncorrected_p99_us"]
        );
    }
}
