//! Reading summary.json: tolerant of missing keys, strict about the type
//! of a key that is there (the error names the key's path).

use serde_json::{Map, Value};

use super::{Breaker, Cascade, Edge, Fault, Node, NodeStats, OUTCOMES, PlotData, RateLimit, Series, Slo};

/// A JSON object and where it is, for error messages.
pub(super) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

fn bad(path: &str, key: &str, what: &str, found: &Value) -> String {
    let mut shown = found.to_string();
    if shown.len() > 40 {
        shown = shown.chars().take(40).collect::<String>() + "…";
    }
    let sep = if path.is_empty() || key.starts_with('[') { "" } else { "." };
    format!("summary.json: `{path}{sep}{key}` should be {what}, found {shown}")
}

impl<'a> Obj<'a> {
    pub(super) fn root(v: &'a Value) -> Result<Obj<'a>, String> {
        match v {
            Value::Object(map) => Ok(Obj { map, path: String::new() }),
            other => Err(format!("summary.json should hold a JSON object, found {}", kind_of(other))),
        }
    }

    fn at(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) }
    }

    /// Absent and null are both "not there".
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn f64(&self, key: &str) -> Result<Option<f64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| bad(&self.path, key, "a number", v)),
        }
    }

    fn u64(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| bad(&self.path, key, "a whole number", v)),
        }
    }

    fn str(&self, key: &str) -> Result<Option<&'a str>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| bad(&self.path, key, "a string", v)),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| bad(&self.path, key, "true or false", v)),
        }
    }

    fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj { map, path: self.at(key) })),
            Some(v) => Err(bad(&self.path, key, "an object", v)),
        }
    }

    fn arr(&self, key: &str) -> Result<&'a [Value], String> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(v) => Err(bad(&self.path, key, "an array", v)),
        }
    }

    /// Each element of array `key`, which must be an object.
    fn objs(&self, key: &str) -> Result<Vec<Obj<'a>>, String> {
        let path = self.at(key);
        self.arr(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(map) => Ok(Obj { map, path: format!("{path}[{i}]") }),
                other => Err(format!("summary.json: `{path}[{i}]` should be an object, found {}", kind_of(other))),
            })
            .collect()
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        let path = self.at(key);
        self.arr(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| v.as_str().map(str::to_string).ok_or_else(|| bad(&path, &format!("[{i}]"), "a string", v)))
            .collect()
    }

    /// The whole-number members of an object, in the given order of keys.
    fn counts(&self, keys: &[&str]) -> Result<Vec<(String, u64)>, String> {
        let mut out = Vec::new();
        for k in keys {
            if let Some(n) = self.u64(k)? {
                out.push(((*k).to_string(), n));
            }
        }
        Ok(out)
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const LATENCY_KEYS: [&str; 6] = ["mean", "p50", "p90", "p99", "p999", "max"];

/// The whole of summary.json but the time series.
pub(super) fn read(top: &Obj) -> Result<PlotData, String> {
    let scenario = top.str("scenario")?.ok_or("summary.json: the key `scenario` is missing")?.to_string();
    let mut request_keys = vec!["total"];
    request_keys.extend(OUTCOMES);
    request_keys.push("unfinished");
    let requests = match top.obj("requests")? {
        Some(o) => o.counts(&request_keys)?,
        None => Vec::new(),
    };
    let attempts = match top.obj("attempts")? {
        Some(o) => o.counts(&["total", "retries", "hedges"])?,
        None => Vec::new(),
    };
    Ok(PlotData {
        scenario,
        seed: top.u64("seed")?,
        duration_s: top.f64("duration_s")?.unwrap_or(0.0),
        warmup_s: top.f64("warmup_s")?.unwrap_or(0.0),
        events: top.u64("events")?,
        requests,
        success_rate: top.f64("success_rate")?,
        goodput_rps: top.f64("goodput_rps")?,
        attempts,
        latency_ms: read_latency(top.obj("latency_ms")?)?,
        slo: read_slo(top)?,
        nodes: read_nodes(top)?,
        edges: read_edges(top)?,
        faults: read_faults(top)?,
        breakers: read_breakers(top)?,
        rate_limits: read_rate_limits(top)?,
        cascade: read_cascade(top)?,
        series: Series::default(),
    })
}

fn read_latency(o: Option<Obj>) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    if let Some(o) = o {
        for k in LATENCY_KEYS {
            if let Some(v) = o.f64(k)? {
                out.push((k.to_string(), v));
            }
        }
    }
    Ok(out)
}

fn read_slo(top: &Obj) -> Result<Option<Slo>, String> {
    let Some(o) = top.obj("slo")? else { return Ok(None) };
    Ok(Some(Slo {
        p99_ms: o.f64("p99_ms")?,
        success_rate: o.f64("success_rate")?,
        measured_p99_ms: o.f64("measured_p99_ms")?,
        measured_success_rate: o.f64("measured_success_rate")?,
        met: o.bool("met")?,
    }))
}

/// Topology nodes in their order, then any node only listed under `nodes`
/// (in the map's key order), each with its statistics when present.
fn read_nodes(top: &Obj) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    if let Some(topo) = top.obj("topology")? {
        for n in topo.objs("nodes")? {
            nodes.push(Node {
                name: n.str("name")?.ok_or_else(|| format!("summary.json: `{}.name` is missing", n.path))?.to_string(),
                kind: n.str("kind")?.unwrap_or("unknown").to_string(),
                replicas: n.u64("replicas")?.unwrap_or(1),
                detail: n.strings("detail")?,
                stats: None,
            });
        }
    }
    if let Some(map) = top.obj("nodes")? {
        for (name, v) in map.map {
            let Value::Object(m) = v else { return Err(bad(&map.path, name, "an object", v)) };
            let o = Obj { map: m, path: map.at(name) };
            let stats = read_node_stats(&o)?;
            match nodes.iter_mut().find(|n| n.name == *name) {
                Some(n) => n.stats = Some(stats),
                None => nodes.push(Node {
                    name: name.clone(),
                    kind: o.str("kind")?.unwrap_or("unknown").to_string(),
                    replicas: o.u64("replicas")?.unwrap_or(1),
                    detail: Vec::new(),
                    stats: Some(stats),
                }),
            }
        }
    }
    Ok(nodes)
}

fn read_node_stats(o: &Obj) -> Result<NodeStats, String> {
    let (p50_ms, p99_ms) = match o.obj("latency_ms")? {
        Some(l) => (l.f64("p50")?, l.f64("p99")?),
        None => (None, None),
    };
    let success_share = match o.obj("outcomes")? {
        Some(out) => {
            let mut good = 0;
            for k in ["ok", "partial", "fallback"] {
                good += out.u64(k)?.unwrap_or(0);
            }
            match out.u64("total")? {
                Some(total) if total > 0 => Some(good as f64 / total as f64),
                _ => None,
            }
        }
        None => None,
    };
    Ok(NodeStats {
        arrivals: o.u64("arrivals")?,
        dropped: o.u64("dropped")?,
        utilization: o.f64("utilization")?,
        p50_ms,
        p99_ms,
        success_share,
    })
}

fn read_edges(top: &Obj) -> Result<Vec<Edge>, String> {
    let Some(topo) = top.obj("topology")? else { return Ok(Vec::new()) };
    topo.objs("edges")?
        .iter()
        .map(|e| {
            let need = |k: &str| {
                e.str(k)?.map(str::to_string).ok_or_else(|| format!("summary.json: `{}.{k}` is missing", e.path))
            };
            Ok(Edge {
                from: need("from")?,
                to: need("to")?,
                label: e.str("label")?.unwrap_or("").to_string(),
                policy: e.str("policy")?.unwrap_or("").to_string(),
            })
        })
        .collect()
}

fn read_faults(top: &Obj) -> Result<Vec<Fault>, String> {
    top.objs("faults")?
        .iter()
        .map(|f| {
            let at_s = f.f64("at_s")?.unwrap_or(0.0);
            Ok(Fault {
                target: f.str("target")?.unwrap_or("?").to_string(),
                kind: f.str("kind")?.unwrap_or("fault").to_string(),
                at_s,
                until_s: f.f64("until_s")?.unwrap_or(f64::INFINITY).max(at_s),
            })
        })
        .collect()
}

fn read_breakers(top: &Obj) -> Result<Vec<Breaker>, String> {
    top.objs("breakers")?
        .iter()
        .map(|b| {
            let path = b.at("transitions");
            let mut transitions = Vec::new();
            for (i, t) in b.arr("transitions")?.iter().enumerate() {
                let pair = t.as_array().filter(|p| p.len() == 2);
                let parsed = pair.and_then(|p| Some((p[0].as_f64()?, p[1].as_str()?.to_string())));
                let item = parsed.ok_or_else(|| bad(&path, &format!("[{i}]"), "a pair [seconds, \"state\"]", t))?;
                transitions.push(item);
            }
            Ok(Breaker {
                caller: b.str("caller")?.unwrap_or("?").to_string(),
                target: b.str("target")?.unwrap_or("?").to_string(),
                opened: b.u64("opened")?,
                open_s: b.f64("open_s")?,
                first_open_s: b.f64("first_open_s")?,
                state_at_end: b.str("state_at_end")?.map(str::to_string),
                transitions,
            })
        })
        .collect()
}

fn read_rate_limits(top: &Obj) -> Result<Vec<RateLimit>, String> {
    top.objs("rate_limits")?
        .iter()
        .map(|r| {
            let mut top_users = Vec::new();
            for u in r.objs("top_users")? {
                top_users.push((u.str("user")?.unwrap_or("?").to_string(), u.u64("rejected")?.unwrap_or(0)));
            }
            Ok(RateLimit {
                gateway: r.str("gateway")?.unwrap_or("?").to_string(),
                limit: r.str("limit")?.unwrap_or("?").to_string(),
                rejected: r.u64("rejected")?.unwrap_or(0),
                top_users,
            })
        })
        .collect()
}

fn read_cascade(top: &Obj) -> Result<Option<Cascade>, String> {
    let Some(c) = top.obj("cascade")? else { return Ok(None) };
    Ok(Some(Cascade { verdict: c.str("verdict")?.map(str::to_string), story: c.strings("story")? }))
}
