//! One request written in its protocol's own terms, as a line of a mix (`--request`,
//! `--request-file`) gives it: HTTP `METHOD PATH [@BODY-FILE]`, Redis the command, nines
//! `echo|source [SIZE]`, `work [US]` or `stats`, echo `[SIZE]`, WebSocket `binary|text [SIZE]`
//! (SIZE as `--payload` takes it: `64`, `4k`, `64..4k`).
//!
//! What a line does not say (the target, headers, accepted statuses, the keyspace, sizes not
//! given) comes from the request the other flags describe, `base`.

use std::path::Path;

use super::{
    defaults, method_sends_body, parse_method, split_command, Body, HttpRequest, NinesOp, Payload,
    RedisRequest, RequestSpec, Resource, WsMessage, WsRequest, MAX_BODY_BYTES,
};

/// Parses `text` as a request of `base`'s protocol; `payload` is the sizes `--payload` gave,
/// if it was given; `dir` is where a relative `@BODY-FILE` is.
pub fn parse_line(
    text: &str,
    base: &RequestSpec,
    payload: Option<&Payload>,
    dir: Option<&Path>,
) -> Result<RequestSpec, String> {
    let w = Words {
        words: text.split_whitespace().collect(),
        payload,
    };
    if w.words.is_empty() {
        return Err("the request is empty".to_string());
    }
    match base {
        RequestSpec::Nines(op) => nines(&w, op).map(RequestSpec::Nines),
        RequestSpec::Echo { .. } => {
            let sizes: Vec<&str> = w
                .words
                .iter()
                .copied()
                .skip_while(|x| *x == "echo")
                .collect();
            if sizes.len() > 1 {
                return Err(format!("`{text}`: an echo line is a size (64, 4k, 64..4k)"));
            }
            Ok(RequestSpec::Echo {
                payload_bytes: w.size_of(sizes.first().copied())?,
            })
        }
        RequestSpec::Ws(base_ws) => {
            let message = match w.words[0] {
                "binary" => WsMessage::Binary,
                "text" => WsMessage::Text,
                x => {
                    return Err(format!(
                        "`{x}` is not a WebSocket message type (binary, text)"
                    ))
                }
            };
            w.at_most(2)?;
            Ok(RequestSpec::Ws(WsRequest {
                message,
                payload_bytes: w.size(1)?,
                ..base_ws.clone()
            }))
        }
        RequestSpec::Redis(r) => {
            split_command(text)?;
            Ok(RequestSpec::Redis(RedisRequest {
                command: text.to_string(),
                ..r.clone()
            }))
        }
        RequestSpec::Http(h) => http(&w, h, dir).map(RequestSpec::Http),
    }
}

/// A line's words, and the sizes a word that gives none falls back to.
struct Words<'a> {
    words: Vec<&'a str>,
    payload: Option<&'a Payload>,
}

impl Words<'_> {
    /// The sizes word `i` gives, or `--payload`'s (or the default) when there is none.
    fn size(&self, i: usize) -> Result<Payload, String> {
        self.size_of(self.words.get(i).copied())
    }

    fn size_of(&self, word: Option<&str>) -> Result<Payload, String> {
        match word {
            Some(w) => Payload::parse(w),
            None => Ok(self.payload.cloned().unwrap_or_default()),
        }
    }

    /// Refuses words past the first `n`.
    fn at_most(&self, n: usize) -> Result<(), String> {
        match self.words.get(n..) {
            Some([]) | None => Ok(()),
            Some(extra) => Err(format!("`{}` is more than the request", extra.join(" "))),
        }
    }
}

/// `echo|source [SIZE]`, `work [US]` or `stats`; a `work` without its time takes `--work-us`'s
/// (from `op`, the request the flags describe).
fn nines(w: &Words<'_>, op: &NinesOp) -> Result<NinesOp, String> {
    let spec = match w.words[0] {
        "echo" => NinesOp::Echo {
            payload_bytes: w.size(1)?,
        },
        "source" => NinesOp::Source {
            reply_bytes: w.size(1)?,
        },
        "work" => NinesOp::Work {
            work_us: match w.words.get(1) {
                Some(us) => us
                    .parse()
                    .map_err(|_| format!("`{us}` is not CPU microseconds"))?,
                None => match op {
                    NinesOp::Work { work_us } => *work_us,
                    _ => defaults::WORK_US,
                },
            },
        },
        "stats" => NinesOp::Stats,
        x => {
            return Err(format!(
                "`{x}` is not a nines request (echo [SIZE], source [SIZE], work [US], stats)"
            ))
        }
    };
    w.at_most(if spec == NinesOp::Stats { 1 } else { 2 })?;
    Ok(spec)
}

/// `METHOD PATH [@BODY-FILE]`; a POST, PUT or PATCH without a file sends `--payload`'s sizes.
fn http(w: &Words<'_>, h: &HttpRequest, dir: Option<&Path>) -> Result<HttpRequest, String> {
    let method = parse_method(w.words[0])?;
    let Some(path) = w.words.get(1) else {
        return Err(format!(
            "`{}` has no path (write METHOD PATH, e.g. GET /a)",
            w.words[0]
        ));
    };
    if !path.starts_with('/') {
        return Err(format!("`{path}` is not a path (it starts with /)"));
    }
    let body = match w.words.get(2) {
        Some(f) => match f.strip_prefix('@') {
            Some(file) => Body::Bytes(read_body(file, dir)?),
            None => return Err(format!("`{f}`: a body file is written @FILE")),
        },
        None => match w.payload {
            Some(p) if method_sends_body(&method) => Body::Sized(p.clone()),
            _ => Body::None,
        },
    };
    w.at_most(3)?;
    Ok(HttpRequest {
        method,
        resource: Resource {
            path: path.to_string(),
            ..h.resource.clone()
        },
        body,
        ..h.clone()
    })
}

/// Reads a body file, no further than the largest body a run takes (validation refuses a
/// longer one).
pub fn read_body(file: &str, dir: Option<&Path>) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let path = match dir {
        Some(d) if Path::new(file).is_relative() => d.join(file),
        _ => Path::new(file).to_path_buf(),
    };
    let mut body = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_BODY_BYTES as u64 + 1).read_to_end(&mut body))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http_base() -> RequestSpec {
        RequestSpec::Http(HttpRequest {
            resource: Resource {
                host: "h:80".into(),
                headers: vec!["X-A: 1".into()],
                ..Resource::default()
            },
            accept: vec![404],
            ..HttpRequest::default()
        })
    }

    fn parse(text: &str, base: &RequestSpec) -> Result<RequestSpec, String> {
        parse_line(text, base, Some(&Payload::Uniform { min: 1, max: 9 }), None)
    }

    #[test]
    fn each_protocol_reads_its_own_terms() {
        let nines = RequestSpec::default();
        assert_eq!(
            parse("work 50", &nines).unwrap(),
            RequestSpec::Nines(NinesOp::Work { work_us: 50 })
        );
        assert_eq!(
            parse("echo 1k..2k", &nines).unwrap(),
            RequestSpec::Nines(NinesOp::Echo {
                payload_bytes: Payload::Uniform {
                    min: 1024,
                    max: 2048
                }
            })
        );
        assert!(parse("stats 1", &nines).is_err());
        assert!(parse("jump", &nines).is_err());
        let RequestSpec::Http(get) = parse("GET /a", &http_base()).unwrap() else {
            panic!("http")
        };
        assert_eq!(get.resource.path, "/a");
        assert_eq!(
            (get.resource.headers.len(), get.accept.clone()),
            (1, vec![404])
        );
        assert_eq!(get.body, Body::None, "a GET sends no body");
        let RequestSpec::Http(post) = parse("POST /c", &http_base()).unwrap() else {
            panic!("http")
        };
        assert!(matches!(post.body, Body::Sized(_)));
        assert!(parse("GET a", &http_base()).is_err());
        assert!(parse("get /a", &http_base()).is_err());
        assert!(parse("POST /c @/no/such/file", &http_base())
            .unwrap_err()
            .contains("cannot read"));
        let redis = RequestSpec::Redis(RedisRequest::default());
        assert!(parse("SET \"open", &redis).is_err());
        let ws = RequestSpec::Ws(WsRequest::default());
        let RequestSpec::Ws(t) = parse("text 4k", &ws).unwrap() else {
            panic!("ws")
        };
        assert_eq!(
            (t.message, t.payload_bytes),
            (WsMessage::Text, Payload::Fixed(4096))
        );
        assert!(parse("ping", &ws).is_err());
    }
}
