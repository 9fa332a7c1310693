//! The scenario text of what the traces showed: a Clients node per
//! client root (or one for the front service's roots), the front service
//! as a Gateway when it acts as a proxy, a Service per other service.
//! Every value that traces cannot show is written from a default and
//! marked `default:` so the user sees what to fill in.

use std::collections::BTreeMap;

use super::Options;
use super::assemble::Finished;
use super::fit::{self, Shape};
use super::stats::{BUSY_BUCKET_NS, ServiceStats, Signature};

/// A share of spans at or above which a proxy's one call makes it a gateway.
const PROXY_SHARE: f64 = 0.9;
/// Workers and queue written when traces say nothing of them.
const DEFAULT_WORKERS: u64 = 64;
const DEFAULT_QUEUE: u64 = 1000;

pub(super) struct Written {
    pub(super) text: String,
    pub(super) warnings: Vec<String>,
}

/// A node name the scenario accepts (`import::node_name`, at most 128
/// characters: service names in traces can be any text).
fn node_name(s: &str) -> String {
    let mut n = crate::import::node_name(s, "unnamed");
    n.truncate(128);
    n
}

/// A request path for a route key: a path as it is, else the path in a
/// span name like `GET /items`, else `/` and the name.
fn path(route: &str) -> String {
    let p = if route.starts_with('/') {
        route.to_string()
    } else if let Some(i) = route.find(" /") {
        route[i + 1..].to_string()
    } else {
        format!("/{route}")
    };
    p.chars().map(|c| if c.is_whitespace() || c.is_control() || c == '"' || c == '\\' { '-' } else { c }).collect()
}

fn mode<K: Clone>(counts: &BTreeMap<K, u64>) -> Option<(K, u64)> {
    let mut best: Option<(&K, u64)> = None;
    for (k, &n) in counts {
        if best.is_none_or(|(_, b)| n > b) {
            best = Some((k, n));
        }
    }
    best.map(|(k, n)| (k.clone(), n))
}

struct Cx<'a> {
    f: &'a Finished,
    opts: &'a Options,
    names: Vec<String>,
    warnings: Vec<String>,
    /// When the first and the last request began, over every entry point:
    /// the time the traces cover, over which each entry point's rate is taken.
    window: (u64, u64),
}

impl<'a> Cx<'a> {
    fn stats(&self, s: u32) -> Option<&'a ServiceStats> {
        self.f.stats.services.get(s as usize).filter(|st| st.spans > 0)
    }

    fn route(&self, r: u32) -> String {
        self.f.routes.get(r as usize).map_or_else(|| "/".into(), |r| path(r))
    }

    /// Requests per second from `n` start times between `first` and `last`.
    /// Requests per second of `n` requests that began over the traces' window
    /// (an entry point seen a few times is rare, not fast).
    fn rate(&self, n: u64) -> f64 {
        let span_s = self.window.1.saturating_sub(self.window.0) as f64 / 1e9;
        let raw = if span_s > 0.0 { n.saturating_sub(1).max(1) as f64 / span_s } else { 1.0 };
        (raw / self.opts.sampled * 1000.0).round().max(1.0) / 1000.0
    }

    fn workers(&self, st: &ServiceStats, replicas: u64) -> (u64, &'static str) {
        if !self.opts.workers_from_concurrency {
            return (DEFAULT_WORKERS, "default: traces do not show workers");
        }
        // Sampled traces hold few spans per 100 ms: scaled up, one long span
        // would read as a crowd. Their busy time is summed per second instead.
        let (group, why) = if self.opts.sampled < 1.0 {
            (
                10,
                "peak concurrency per instance (1 s means of the sampled spans, scaled up; busier instants need headroom)",
            )
        } else {
            (1, "peak concurrency per instance (100 ms means; busier instants need headroom)")
        };
        let mut windows: BTreeMap<(u32, u64), u64> = BTreeMap::new();
        for (&(inst, bucket), &busy) in &st.busy {
            *windows.entry((inst, bucket / group)).or_default() += busy;
        }
        let width = (BUSY_BUCKET_NS * group) as f64;
        let peak = windows.values().copied().max().unwrap_or(0) as f64 / width / self.opts.sampled;
        // A node without instance attributes is one "instance" for the sum: share it out.
        let per = if st.instances.is_empty() { peak / replicas as f64 } else { peak };
        ((per.ceil() as u64).max(1), why)
    }
}

/// Writes the scenario.
pub(super) fn scenario(f: &Finished, name: &str, opts: &Options) -> Written {
    let starts = f.stats.clients.values().map(|c| (c.first_start, c.last_start));
    let starts = starts.chain(f.stats.services.iter().filter(|s| s.front > 0).map(|s| (s.first_start, s.last_start)));
    let window = starts.fold((u64::MAX, 0), |(a, b), (first, last)| (a.min(first), b.max(last)));
    let mut cx = Cx { f, opts, names: unique_names(&f.services), warnings: Vec::new(), window };
    let front = front(f);
    let gateway = front.filter(|&s| cx.stats(s).is_some_and(is_proxy));
    let edges = acyclic_calls(&mut cx, gateway);
    let mut nodes = clients(&mut cx, front);
    // The gateway first, then the services in the order they were first seen.
    let order: Vec<u32> =
        gateway.into_iter().chain((0..f.services.len() as u32).filter(|s| Some(*s) != gateway)).collect();
    for s in order {
        if let Some(st) = cx.stats(s) {
            nodes.push(if Some(s) == gateway {
                gateway_node(&mut cx, s, st)
            } else {
                service_node(&cx, s, st, &edges)
            });
        }
    }
    let network = match &f.stats.network {
        Some(h) if h.len() >= 10 => format!(
            "    // measured: half of (client span - server span) over {} calls\n    network: (latency: {}),\n",
            h.len(),
            fit::dist(h).0
        ),
        _ => "    // default: no client/server span pairs to measure the network by\n".into(),
    };
    let text = format!(
        "// Imported by `gatesim import` from {} traces ({} spans).\n\
         // Lines marked `default:` hold values traces do not show: fill them in.\n\
         Scenario(\n    name: {:?},\n    seed: 1,\n    // default: how long to simulate\n    duration: \"60s\",\n    warmup: \"5s\",\n{network}    nodes: [\n{}\n    ],\n)\n",
        f.stats.traces,
        f.stats.spans,
        node_name(name),
        nodes.join("\n"),
    );
    retries_seen(&mut cx);
    Written { text, warnings: cx.warnings }
}

/// Retries the traces show (`http.request.resend_count`) are not written as
/// a policy (their back-off and conditions cannot be read off spans): said
/// per caller and callee, with the most resends of one call.
fn retries_seen(cx: &mut Cx) {
    for (s, st) in cx.f.stats.services.iter().enumerate() {
        for (t, (n, most)) in &st.resends_to {
            cx.warnings.push(format!(
                "{} retried its calls to {} {n} times (up to {most} resends of one call): the scenario has no \
                 retry policy there; add retries: (max: {most}, ...) to that call or route",
                cx.names[s], cx.names[*t as usize]
            ));
        }
    }
}

/// Distinct node names for the services, in the order they were first seen.
fn unique_names(services: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in services {
        let base = node_name(s);
        let mut n = base.clone();
        let mut k = 2;
        while out.contains(&n) {
            n = format!("{base}-{k}");
            k += 1;
        }
        out.push(n);
    }
    out
}

/// The service that begins most requests.
fn front(f: &Finished) -> Option<u32> {
    let mut best: Option<(u32, u64)> = None;
    for (i, st) in f.stats.services.iter().enumerate() {
        if st.front > 0 && best.is_none_or(|(_, n)| st.front > n) {
            best = Some((i as u32, st.front));
        }
    }
    best.map(|(i, _)| i)
}

/// The requests a front service passed on, per route (not those it
/// answered itself: 401, 429, ...).
fn passed_on(sigs: &BTreeMap<Signature, u64>) -> BTreeMap<Signature, u64> {
    sigs.iter().filter(|(s, _)| !s.is_empty()).map(|(s, n)| (s.clone(), *n)).collect()
}

/// A gateway passes each request on in one step (one call, or several at
/// once: an aggregate), chosen by its path: its routes differ in what they
/// call, or it makes one call per request (a proxy).
fn is_proxy(st: &ServiceStats) -> bool {
    let modes: Vec<Signature> = st.front_routes.values().filter_map(|s| mode(&passed_on(s))).map(|(s, _)| s).collect();
    if modes.is_empty() || modes.iter().any(|s| s.len() != 1) {
        return false;
    }
    let by_path = modes.iter().collect::<std::collections::BTreeSet<_>>().len() > 1;
    by_path || st.single_call as f64 >= PROXY_SHARE * st.spans as f64
}

/// Each service's call steps (the most common structure; the gateway's
/// route targets), with the calls that would close a cycle left out.
fn acyclic_calls(cx: &mut Cx, gateway: Option<u32>) -> BTreeMap<u32, Signature> {
    let n = cx.f.services.len() as u32;
    let known = |t: &u32| cx.stats(*t).is_some();
    let mut calls: BTreeMap<u32, Signature> = BTreeMap::new();
    for s in 0..n {
        let Some(st) = cx.stats(s) else { continue };
        let sig: Signature = if Some(s) == gateway {
            vec![st.calls_to.keys().copied().collect()]
        } else {
            mode(&st.signatures).map(|(sig, _)| sig).unwrap_or_default()
        };
        let sig: Signature =
            sig.into_iter().map(|step| step.into_iter().filter(|t| *t != s && known(t)).collect()).collect();
        calls.insert(s, sig.into_iter().filter(|step: &Vec<u32>| !step.is_empty()).collect());
    }
    // Depth-first from the gateway, then in order: an edge to a service on
    // the current path closes a cycle, which a scenario refuses.
    let mut state = vec![0u8; n as usize];
    let order: Vec<u32> = gateway.into_iter().chain(0..n).collect();
    for root in order {
        drop_back_edges(cx, &mut calls, &mut state, root);
    }
    calls
}

fn drop_back_edges(cx: &mut Cx, calls: &mut BTreeMap<u32, Signature>, state: &mut [u8], s: u32) {
    if state[s as usize] != 0 {
        return;
    }
    state[s as usize] = 1;
    let targets: Vec<u32> = calls.get(&s).map(|sig| sig.iter().flatten().copied().collect()).unwrap_or_default();
    for t in targets {
        if state[t as usize] == 1 {
            cx.warnings.push(format!(
                "{} calls {}, which is already on its call path: the call is left out (a scenario has no cycles)",
                cx.names[s as usize], cx.names[t as usize]
            ));
            if let Some(sig) = calls.get_mut(&s) {
                sig.iter_mut().for_each(|step| step.retain(|x| *x != t));
                sig.retain(|step| !step.is_empty());
            }
        } else {
            drop_back_edges(cx, calls, state, t);
        }
    }
    state[s as usize] = 2;
}

fn mix(cx: &Cx, routes: &BTreeMap<u32, u64>) -> String {
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for (r, n) in routes {
        *seen.entry(cx.route(*r)).or_default() += n;
    }
    let parts: Vec<String> = seen.iter().map(|(p, n)| format!("(weight: {n}, path: {p:?})")).collect();
    parts.join(", ")
}

fn quantiles(h: &super::stats::Hist) -> String {
    format!("p50 {} p99 {}", fit::duration(h.value_at_quantile(0.5)), fit::duration(h.value_at_quantile(0.99)))
}

/// The Clients nodes: one per client root service, else one for the front.
fn clients(cx: &mut Cx, front: Option<u32>) -> Vec<String> {
    let sampled =
        if cx.opts.sampled < 1.0 { format!(", divided by --sampled {}", cx.opts.sampled) } else { String::new() };
    let mut out = Vec::new();
    for (&c, cs) in &cx.f.stats.clients {
        let Some((target, _)) = mode(&cs.targets).filter(|(t, _)| cx.stats(*t).is_some()) else {
            cx.warnings.push(format!("client {}: its calls reach no traced service; left out", cx.names[c as usize]));
            continue;
        };
        let name = if cx.stats(c).is_some() {
            format!("{}-clients", cx.names[c as usize])
        } else {
            cx.names[c as usize].clone()
        };
        out.push(format!(
            "        // {name}: {} requests (measured{sampled}); latency {}\n        \
             // default: no timeout or retries (traces do not show them)\n        \
             Clients(name: {name:?}, target: {:?}, load: Poisson(rps: {}),\n                mix: [{}]),",
            cs.requests,
            quantiles(&cs.latency),
            cx.names[target as usize],
            cx.rate(cs.requests),
            mix(cx, &cs.routes),
        ));
    }
    if out.is_empty() {
        // One Clients node per service where requests began, the busiest
        // (`front`) first and named "clients".
        let mut entries: Vec<u32> = (0..cx.f.services.len() as u32)
            .filter(|&s| Some(s) != front && cx.stats(s).is_some_and(|st| st.front > 0))
            .collect();
        entries.sort_by_key(|&s| std::cmp::Reverse(cx.stats(s).map_or(0, |st| st.front)));
        for s in front.into_iter().chain(entries) {
            let st = cx.stats(s).expect("an entry service has spans");
            let name =
                if Some(s) == front { "clients".to_string() } else { format!("{}-clients", cx.names[s as usize]) };
            let routes: BTreeMap<u32, u64> =
                st.front_routes.iter().map(|(r, sigs)| (*r, sigs.values().sum())).collect();
            out.push(format!(
                "        // {} requests began at {} (measured{sampled}); latency there {}\n        \
                 // default: no timeout or retries (traces do not show them)\n        \
                 Clients(name: {name:?}, target: {:?}, load: Poisson(rps: {}),\n                mix: [{}]),",
                st.front,
                cx.names[s as usize],
                quantiles(&st.latency),
                cx.names[s as usize],
                cx.rate(st.front),
                mix(cx, &routes),
            ));
        }
    }
    out
}

/// A node's comment line, its work distribution and its replicas.
fn header(cx: &Cx, s: u32, st: &ServiceStats) -> (String, String, u64) {
    let replicas = st.instances.len().max(1) as u64;
    let (dist, shape) = fit::dist(&st.own);
    let shape = match shape {
        Shape::Const => "constant".to_string(),
        Shape::LogNormal => "log-normal through p50 and p99".to_string(),
        Shape::Empirical { worst } => {
            format!("measured quantiles (a log-normal missed one by {:.0}%)", worst * 100.0)
        }
    };
    let text = format!(
        "        // {}: {} spans on {} instance(s); own time {} ({shape})\n",
        cx.names[s as usize],
        st.spans,
        if st.instances.is_empty() { "an unknown number of".to_string() } else { replicas.to_string() },
        quantiles(&st.own),
    );
    (text, dist, replicas)
}

fn gateway_node(cx: &mut Cx, s: u32, st: &ServiceStats) -> String {
    let (head, dist, replicas) = header(cx, s, st);
    let mut routes = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    for (r, sigs) in &st.front_routes {
        let prefix = cx.route(*r);
        // The requests it passed on (not those it answered itself: 401, 429, ...).
        let passed = passed_on(sigs);
        let total: u64 = passed.values().sum();
        let Some((sig, n)) = mode(&passed) else {
            routes.push(format!(
                "                // {prefix}: {} requests, all answered without a call; left out",
                sigs.values().sum::<u64>()
            ));
            continue;
        };
        let known: Vec<&u32> =
            sig.first().map(|step| step.iter().filter(|t| cx.stats(**t).is_some()).collect()).unwrap_or_default();
        if prefixes.contains(&prefix) || known.is_empty() {
            routes.push(format!("                // {prefix}: {total} requests to services without spans, or a path seen before; left out"));
            continue;
        }
        if sig.len() > 1 {
            cx.warnings
                .push(format!("route {prefix}: the gateway made calls one after another; only the first is a route"));
        }
        prefixes.push(prefix.clone());
        let share =
            if n < total { format!(" // {}% of its requests went here", n * 100 / total) } else { String::new() };
        let names: Vec<String> = known.iter().map(|t| format!("{:?}", cx.names[**t as usize])).collect();
        routes.push(if names.len() == 1 {
            format!("                Route(prefix: {prefix:?}, to: {}),{share}", names[0])
        } else {
            format!("                Aggregate(path: {prefix:?}, calls: [{}]),{share}", names.join(", "))
        });
    }
    let (workers, why) = cx.workers(st, replicas);
    format!(
        "{head}        // it passes each request on in one step, by its path: a gateway\n        \
         Gateway(name: {:?}, replicas: {replicas},\n            // {why}\n            workers: {workers},\n            \
         // default: traces do not show a queue\n            queue: {DEFAULT_QUEUE},\n            overhead: {dist},\n            \
         routes: [\n{}\n            ]),",
        cx.names[s as usize],
        routes.join("\n"),
    )
}

fn service_node(cx: &Cx, s: u32, st: &ServiceStats, edges: &BTreeMap<u32, Signature>) -> String {
    let (head, dist, replicas) = header(cx, s, st);
    let sig = edges.get(&s).cloned().unwrap_or_default();
    let mut notes = String::new();
    if let Some((_, n)) = mode(&st.signatures).filter(|_| st.signatures.len() > 1) {
        notes.push_str(&format!(
            "        // {}% of its spans made these calls; the others made other calls or none\n",
            n * 100 / st.spans.max(1)
        ));
    }
    for t in sig.iter().flatten() {
        let share = st.calls_to.get(t).copied().unwrap_or(0) as f64 / st.spans.max(1) as f64;
        if share < 0.95 {
            notes.push_str(&format!(
                "        // the call to {} is made by {:.0}% of its requests; here by every one\n",
                cx.names[*t as usize],
                share * 100.0
            ));
        }
    }
    let call = |t: &u32| format!("Call(to: {:?})", cx.names[*t as usize]);
    let steps: Vec<String> = sig
        .iter()
        .map(|step| match step.as_slice() {
            [one] => call(one),
            many => format!("Parallel([{}])", many.iter().map(call).collect::<Vec<_>>().join(", ")),
        })
        .collect();
    let errors = st.own_errors as f64 / st.spans.max(1) as f64;
    let errors = if errors > 0.0 {
        format!("\n            // error status while all its calls succeeded\n            errors: {:.4},", errors)
    } else {
        String::new()
    };
    let (workers, why) = cx.workers(st, replicas);
    format!(
        "{head}{notes}        Service(name: {:?}, replicas: {replicas},\n            // {why}\n            workers: {workers},\n            \
         // default: traces do not show a queue\n            queue: {DEFAULT_QUEUE},\n            work: {dist},{errors}\n            \
         calls: [{}]),",
        cx.names[s as usize],
        steps.join(", "),
    )
}
