//! Results saved by earlier versions, read as today's: `nines-report/1` and `nines-sweep/1`
//! JSON converted to `/2` before it is parsed, so `nines report`, `merge` and `compare` show a
//! kept file with the same figures. Only the shape changed: a report's `mode`, `open_loop` and
//! `storm` became one `load`; a configuration's `open_loop`/`storm` and flat request became one
//! `load` and one request per protocol; `target: null` became `{"embedded": ...}`; a sweep
//! step's `rate`/`rate_per_s` became its `load`. Every figure is carried over as it was.

use serde_json::{json, Map, Value};

/// The `format` of a report saved by nines before the load and request became single values.
pub const REPORT_V1: &str = "nines-report/1";
/// The `format` of such a sweep.
pub const SWEEP_V1: &str = "nines-sweep/1";

type Obj = Map<String, Value>;

// What a v1 file meant when it left a key out: frozen here, so a later change to today's
// defaults never changes what an old file says.
/// v1's Poisson seed when a sweep's base had none.
const V1_SEED: u64 = 1;
/// v1's lag threshold when a configuration had none, seconds.
const V1_LAG_THRESHOLD_S: f64 = 0.001;
/// v1's sweeps ran their rate steps evenly spaced.
const V1_SWEEP_ARRIVAL: &str = "constant";
/// v1's HTTP method, WebSocket message type, Redis command and keyspace when absent.
const V1_HTTP_METHOD: &str = "GET";
const V1_WS_MESSAGE: &str = "binary";
const V1_REDIS_COMMAND: &str = "PING";
const V1_KEYSPACE: u64 = 1_000_000;

/// A v1 report as v2 JSON.
pub fn report(mut v: Value) -> Result<Value, String> {
    let r = object(&mut v, "report")?;
    r.insert("format".into(), json!(super::FORMAT));
    let mode = r.remove("mode").unwrap_or(Value::Null);
    let open_loop = r.remove("open_loop").unwrap_or(Value::Null);
    let storm = r.remove("storm").unwrap_or(Value::Null);
    let load = match (storm, open_loop, mode.as_str()) {
        (Value::Object(s), _, _) => tagged("storm", s),
        (_, Value::Object(o), _) => tagged("open_loop", o),
        (_, _, Some("closed_loop")) => json!({"model": "closed_loop"}),
        _ if r.get("origin").and_then(Value::as_str) == Some("interval_log") => {
            json!({"model": "unknown"})
        }
        _ => json!({"model": "mixed"}),
    };
    r.insert("load".into(), load);
    if let Some(m) = r.get_mut("manifest") {
        manifest(m)?;
    }
    if let Some(Value::Array(parts)) = r.get_mut("parts") {
        for p in parts {
            if let Some(m) = p.get_mut("manifest").filter(|m| !m.is_null()) {
                manifest(m)?;
            }
        }
    }
    Ok(v)
}

/// A v1 sweep as v2 JSON.
pub fn sweep(mut v: Value) -> Result<Value, String> {
    let s = object(&mut v, "sweep")?;
    s.insert("format".into(), json!(super::sweep::FORMAT));
    let cfg = s.get_mut("config").ok_or("a sweep without its config")?;
    let c = object(cfg, "sweep config")?;
    let base = c.remove("base").ok_or("a sweep config without its base")?;
    let base_obj = base.as_object().ok_or("a sweep's base is not an object")?;
    let seed = base_obj
        .get("open_loop")
        .and_then(|o| o.get("seed"))
        .cloned()
        .unwrap_or(json!(V1_SEED));
    c.insert(
        "arrivals".into(),
        json!({
            "arrival": V1_SWEEP_ARRIVAL,
            "seed": seed,
            "lag_threshold_s": base_obj.get("lag_threshold_s").cloned().unwrap_or(json!(V1_LAG_THRESHOLD_S)),
        }),
    );
    c.insert("base".into(), config(base)?);
    if let Some(Value::Array(steps)) = s.get_mut("steps") {
        for step in steps {
            let st = object(step, "sweep step")?;
            // Its connections and rate are its report's own; only the level is the step's.
            st.remove("connections");
            st.remove("rate_per_s");
            let load = match st.remove("rate").unwrap_or(Value::Null) {
                Value::Null => json!({"model": "closed_loop"}),
                level => json!({"model": "open_loop", "level": level}),
            };
            st.insert("load".into(), load);
            let r = st
                .remove("report")
                .ok_or("a sweep step without its report")?;
            st.insert("report".into(), report(r)?);
        }
    }
    Ok(v)
}

fn manifest(m: &mut Value) -> Result<(), String> {
    let m = object(m, "manifest")?;
    if let Some(c) = m.remove("config") {
        m.insert("config".into(), config(c)?);
    }
    Ok(())
}

/// A v1 run configuration as v2.
fn config(mut v: Value) -> Result<Value, String> {
    let c = object(&mut v, "configuration")?;
    let get = |k: &str| c.get(k).cloned().unwrap_or(Value::Null);
    let target = match get("target") {
        Value::String(t) => json!({"address": t}),
        _ => json!({"embedded": {"server_workers": get("server_workers")}}),
    };
    let load = match (get("storm"), get("open_loop")) {
        (Value::Object(s), _) => {
            let mut s = s;
            s.insert("lag_threshold_s".into(), get("lag_threshold_s"));
            tagged("storm", s)
        }
        (_, Value::Object(o)) => {
            let mut l = bench(c);
            l.extend(o);
            l.insert("lag_threshold_s".into(), get("lag_threshold_s"));
            tagged("open_loop", l)
        }
        _ => tagged("closed_loop", bench(c)),
    };
    let request = request(
        c.get("request")
            .ok_or("a configuration without its request")?,
    )?;
    let mut out = Obj::new();
    out.insert("target".into(), target);
    for k in ["threads", "connections"] {
        out.insert(k.into(), get(k));
    }
    out.insert("load".into(), load);
    out.insert("request".into(), request);
    for k in [
        "connect_timeout_s",
        "request_timeout_s",
        "drain_timeout_s",
        "start_at_unix_s",
        "source_addrs",
    ] {
        if let Some(x) = c.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    Ok(Value::Object(out))
}

/// What closed and open loop share, from a v1 configuration's flat keys.
fn bench(c: &Obj) -> Obj {
    let mut b = Obj::new();
    for k in ["pipeline", "warmup_s", "stop", "max_errors"] {
        b.insert(k.into(), c.get(k).cloned().unwrap_or(Value::Null));
    }
    b
}

/// A v1 request (every protocol's fields on one object) as the one its protocol reads.
fn request(r: &Value) -> Result<Value, String> {
    let get = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
    let payload = get("payload_bytes");
    let http = r.get("http").cloned().unwrap_or(json!({}));
    let resource = |out: &mut Obj| {
        out.insert(
            "path".into(),
            http.get("path").cloned().unwrap_or(json!("/")),
        );
        out.insert(
            "host".into(),
            http.get("host").cloned().unwrap_or(json!("")),
        );
        if let Some(h) = http.get("headers") {
            out.insert("headers".into(), h.clone());
        }
    };
    let mut out = Obj::new();
    let protocol = r
        .get("protocol")
        .and_then(Value::as_str)
        .ok_or("a request without its protocol")?;
    out.insert("protocol".into(), json!(protocol));
    match protocol {
        "nines" => {
            let op = r.get("op").and_then(Value::as_str).unwrap_or("echo");
            out.insert("op".into(), json!(op));
            match op {
                "echo" => {
                    out.insert("payload_bytes".into(), payload);
                }
                "source" => {
                    out.insert("reply_bytes".into(), payload);
                }
                "work" => {
                    out.insert("work_us".into(), get("work_us"));
                }
                _ => {}
            }
        }
        "echo" => {
            out.insert("payload_bytes".into(), payload);
        }
        "http" => {
            out.insert(
                "method".into(),
                http.get("method").cloned().unwrap_or(json!(V1_HTTP_METHOD)),
            );
            resource(&mut out);
            for k in ["body_base64", "accept"] {
                if let Some(x) = http.get(k) {
                    out.insert(k.into(), x.clone());
                }
            }
        }
        "ws" => {
            resource(&mut out);
            let message = r.get("ws_message").cloned().unwrap_or(json!(V1_WS_MESSAGE));
            out.insert("message".into(), message);
            out.insert("payload_bytes".into(), payload);
        }
        "redis" => {
            let redis = r.get("redis").cloned().unwrap_or(Value::Null);
            let field = |k: &str, default: Value| redis.get(k).cloned().unwrap_or(default);
            out.insert("command".into(), field("command", json!(V1_REDIS_COMMAND)));
            out.insert("keyspace".into(), field("keyspace", json!(V1_KEYSPACE)));
            out.insert("data_bytes".into(), field("data_bytes", payload));
        }
        other => return Err(format!("a request in an unknown protocol `{other}`")),
    }
    Ok(Value::Object(out))
}

/// `{"model": model, ...fields}`.
fn tagged(model: &str, fields: Obj) -> Value {
    let mut out = Obj::new();
    out.insert("model".into(), json!(model));
    out.extend(fields);
    Value::Object(out)
}

fn object<'a>(v: &'a mut Value, what: &str) -> Result<&'a mut Obj, String> {
    v.as_object_mut()
        .ok_or_else(|| format!("a {what} that is not a JSON object"))
}
