//! What a run's requests are drawn from: one request, or a weighted mix of requests of one
//! protocol (`--request "7 GET /a" --request "1 POST /c @body.json"`), each line with a name its
//! results are reported under. Each request is chosen by weight, and its payload size drawn, from
//! the connection's seeded generator when it is sent ([`super::Picker`]): the same seed gives
//! every connection the same sequence.
//!
//! One fixed request serializes as the request value it always was (`"request": {"protocol":
//! ...}`); a mix, or a request whose size is drawn, as `{"mix": [...], "seed": N}`.

use serde::{Deserialize, Serialize};

use super::{parse_line, Payload, Protocol, RequestSpec};

/// Most lines a mix may have: each is a histogram per driver thread.
pub const MAX_LINES: usize = 64;

/// One line of a mix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// What its results are reported under (`name=`, else the request as written).
    pub name: String,
    /// Its share of the requests, against the other lines' weights.
    pub weight: u32,
    /// The request.
    #[serde(flatten)]
    pub request: RequestSpec,
}

/// What a run's requests are drawn from: at least one line, all of one protocol, with
/// positive weights and distinct names (see [`Requests::mix`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Repr", into = "Repr")]
pub struct Requests {
    lines: Vec<Line>,
    seed: u64,
}

/// How [`Requests`] is written down.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Mix { mix: Vec<Line>, seed: u64 },
    One(RequestSpec),
}

impl From<Requests> for Repr {
    fn from(r: Requests) -> Repr {
        if r.draws() {
            Repr::Mix {
                mix: r.lines,
                seed: r.seed,
            }
        } else {
            Repr::One(r.lines.into_iter().next().expect("a request").request)
        }
    }
}

impl TryFrom<Repr> for Requests {
    type Error = String;
    fn try_from(r: Repr) -> Result<Requests, String> {
        match r {
            Repr::One(spec) => Ok(Requests::one(spec)),
            Repr::Mix { mix, seed } => Requests::mix(mix, seed),
        }
    }
}

impl Default for Requests {
    fn default() -> Self {
        Requests::one(RequestSpec::default())
    }
}

impl From<RequestSpec> for Requests {
    fn from(spec: RequestSpec) -> Requests {
        Requests::one(spec)
    }
}

impl Requests {
    /// Every request the same (its size may still be drawn, from the default seed).
    pub fn one(request: RequestSpec) -> Requests {
        Requests {
            lines: vec![Line {
                name: request.describe(),
                weight: 1,
                request,
            }],
            seed: super::defaults::SEED,
        }
    }

    /// A mix of `lines`, drawn with `seed`. Refused: no lines, more than [`MAX_LINES`], a
    /// weight of 0, two protocols, two lines with one name.
    pub fn mix(lines: Vec<Line>, seed: u64) -> Result<Requests, String> {
        let Some(first) = lines.first() else {
            return Err("no requests in the mix".to_string());
        };
        if lines.len() > MAX_LINES {
            return Err(format!(
                "{} requests in the mix; at most {MAX_LINES}",
                lines.len()
            ));
        }
        let protocol = first.request.protocol();
        for (i, l) in lines.iter().enumerate() {
            if l.weight == 0 {
                return Err(format!("`{}` has weight 0; weights are 1 or more", l.name));
            }
            if l.request.protocol() != protocol {
                return Err(format!(
                    "`{}` is {}, the first request {protocol}: a mix is of one protocol",
                    l.name,
                    l.request.protocol()
                ));
            }
            if lines[..i].iter().any(|o| o.name == l.name) {
                return Err(format!(
                    "two requests are named `{}`; label them with name=",
                    l.name
                ));
            }
        }
        Ok(Requests { lines, seed })
    }

    /// The same requests drawn with another seed.
    pub fn with_seed(mut self, seed: u64) -> Requests {
        self.seed = seed;
        self
    }

    /// Its lines, at least one.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The first line's request: what every line shares (protocol, target, headers, bounds)
    /// is read from it.
    pub fn first(&self) -> &RequestSpec {
        &self.lines[0].request
    }

    /// The seed choices and sizes are drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether there is more than one line (results are then kept per line too).
    pub fn is_mix(&self) -> bool {
        self.lines.len() > 1
    }

    /// Whether anything is drawn per request: a line, or a size.
    pub fn draws(&self) -> bool {
        self.is_mix()
            || self.lines[0]
                .request
                .payload()
                .is_some_and(|p| p.fixed().is_none())
    }

    /// The protocol every line is spoken in.
    pub fn protocol(&self) -> Protocol {
        self.first().protocol()
    }

    /// In words: the request, or `mix of 3: 7 GET /a, 1 POST /c, 2 GET /b`.
    pub fn describe(&self) -> String {
        if !self.is_mix() {
            return self.first().describe();
        }
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|l| format!("{} {}", l.weight, l.name))
            .collect();
        format!("mix of {}: {}", self.lines.len(), lines.join(", "))
    }

    /// How the target is named in a report (from the first line).
    pub fn target_name(&self, addr: std::net::SocketAddr) -> String {
        self.first().target_name(addr)
    }

    /// The largest response taken (the same on every line: it comes from one flag).
    pub fn max_response_bytes(&self) -> Option<u64> {
        self.first().max_response_bytes()
    }

    /// The most bytes one request takes on the wire, over every line.
    pub fn wire_bytes(&self) -> u64 {
        self.lines
            .iter()
            .map(|l| l.request.wire_bytes())
            .max()
            .unwrap_or(0)
    }

    /// The line a name (an SLO clause's `[NAME]`) refers to.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.lines.iter().position(|l| l.name == name)
    }
}

/// Parses one `--request` value or request-file line, `WEIGHT [name=NAME] REQUEST`, REQUEST in
/// `base`'s protocol with `payload`'s sizes where it gives none ([`parse_line`]); `dir` is where
/// a relative `@BODY-FILE` is found.
pub fn parse_weighted(
    text: &str,
    base: &RequestSpec,
    payload: Option<&Payload>,
    dir: Option<&std::path::Path>,
) -> Result<Line, String> {
    let text = text.trim();
    let (first, rest) = split_word(text);
    let (name, first, rest) = match first.strip_prefix("name=") {
        Some(n) => {
            let (w, r) = split_word(rest);
            (Some(n), w, r)
        }
        None => (None, first, rest),
    };
    let weight = parse_weight(first, text)?;
    let (name, rest) = match name {
        Some(n) => (Some(n), rest),
        None => {
            let (w, r) = split_word(rest);
            match w.strip_prefix("name=") {
                Some(n) => (Some(n), r),
                None => (None, rest),
            }
        }
    };
    if name == Some("") {
        return Err(format!("`{text}`: name= needs a name"));
    }
    if rest.is_empty() {
        return Err(format!(
            "`{text}` has a weight and no request (write WEIGHT REQUEST, e.g. {})",
            example(base.protocol())
        ));
    }
    let request = parse_line(rest, base, payload, dir).map_err(|e| format!("`{text}`: {e}"))?;
    Ok(Line {
        name: name.map_or_else(
            || rest.split_whitespace().collect::<Vec<_>>().join(" "),
            str::to_string,
        ),
        weight,
        request,
    })
}

/// A request line in words, for error messages.
pub fn example(p: Protocol) -> &'static str {
    match p {
        Protocol::Nines => "\"9 echo\", \"1 work 50\"",
        Protocol::Echo => "\"9 64\", \"1 4k\"",
        Protocol::Http => "\"7 GET /a\", \"1 POST /c @body.json\"",
        Protocol::Ws => "\"9 binary\", \"1 text 4k\"",
        Protocol::Redis => "\"9 GET key:__rand__\", \"1 SET key:__rand__ __data__\"",
    }
}

fn parse_weight(w: &str, text: &str) -> Result<u32, String> {
    match w.parse::<i64>() {
        Ok(n) if n > 0 && n <= i64::from(u32::MAX) => Ok(n as u32),
        Ok(n) if n <= 0 => Err(format!(
            "`{text}`: weight {n}; a weight is a whole number of 1 or more"
        )),
        _ => Err(format!(
            "`{text}` does not begin with a weight (write WEIGHT REQUEST: a whole number of 1 or \
             more, then the request)"
        )),
    }
}

/// The first word and the rest, trimmed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// Parses a `--request-file`: one `WEIGHT REQUEST` a line, blank lines and `#` comments
/// skipped. Errors name the line.
pub fn parse_request_file(
    text: &str,
    base: &RequestSpec,
    payload: Option<&Payload>,
    dir: Option<&std::path::Path>,
) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        lines.push(
            parse_weighted(line, base, payload, dir).map_err(|e| format!("line {}: {e}", i + 1))?,
        );
    }
    if lines.is_empty() {
        return Err(format!(
            "no requests in it (one `WEIGHT REQUEST` a line, e.g. {})",
            example(base.protocol())
        ));
    }
    Ok(lines)
}

/// A mix of nines `work` lines (`l0`, `l1`, ...) with these weights and seed 7, for tests.
#[cfg(test)]
pub(super) fn work_mix(weights: &[u32]) -> Requests {
    use crate::config::{NinesOp, RequestSpec};
    let lines = weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| Line {
            name: format!("l{i}"),
            weight,
            request: RequestSpec::Nines(NinesOp::Work { work_us: i as u32 }),
        })
        .collect();
    Requests::mix(lines, 7).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RequestSpec;
    use work_mix as mix;

    #[test]
    fn bad_mixes_say_why() {
        let line = |name: &str, weight| Line {
            name: name.into(),
            weight,
            request: RequestSpec::default(),
        };
        assert!(Requests::mix(vec![], 1)
            .unwrap_err()
            .contains("no requests"));
        assert!(Requests::mix(vec![line("a", 0)], 1)
            .unwrap_err()
            .contains("weight 0"));
        assert!(Requests::mix(vec![line("a", 1), line("a", 2)], 1)
            .unwrap_err()
            .contains("name="));
        let base = RequestSpec::default();
        assert!(parse_weighted("-1 echo", &base, None, None)
            .unwrap_err()
            .contains("weight -1"));
        assert!(parse_weighted("x echo", &base, None, None).is_err());
        assert!(parse_weighted("3", &base, None, None)
            .unwrap_err()
            .contains("no request"));
        let named = parse_weighted("2 name=big echo 4k", &base, None, None).unwrap();
        assert_eq!((named.name.as_str(), named.weight), ("big", 2));
        assert_eq!(named.request.payload(), Some(&Payload::Fixed(4096)));
        assert!(parse_request_file("# nothing\n\n", &base, None, None).is_err());
        let two = parse_request_file("9 echo\n# c\n1 work 5\n", &base, None, None).unwrap();
        assert_eq!(two.len(), 2);
        assert!(parse_request_file("9 echo\n1 hop\n", &base, None, None)
            .unwrap_err()
            .starts_with("line 2"));
    }

    #[test]
    fn one_fixed_request_serializes_as_it_always_did_and_a_mix_as_a_mix() {
        let one = Requests::one(RequestSpec::default());
        let v = serde_json::to_value(&one).unwrap();
        assert_eq!(v["op"], "echo");
        assert_eq!(serde_json::from_value::<Requests>(v).unwrap(), one);
        let m = mix(&[1, 3]);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["mix"][1]["weight"], 3);
        assert_eq!(v["seed"], 7);
        assert_eq!(serde_json::from_value::<Requests>(v).unwrap(), m);
        assert!(!one.draws() && m.draws());
    }
}
