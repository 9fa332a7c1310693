//! Envoy v3 static bootstrap (YAML) to a scenario: listeners with an HTTP
//! connection manager become a Gateway, its routes (prefix or path match,
//! timeout, retry_policy; weighted_clusters as a split route) its routes,
//! the clusters they name Services (replicas from the endpoints, lb_policy,
//! circuit_breakers thresholds, outlier_detection; health_checks as a
//! LoadBalancer node that probes them), the local_ratelimit filter a rate
//! limit and the adaptive_concurrency filter the gateway's own adaptive
//! concurrency limit.
//!
//! What an Envoy config cannot say (load, work per request, workers) is set
//! from a default and marked `// default:` in the output; every field this
//! importer does not map is listed as a warning, never dropped silently.
//! Fields that only name or address things (`name`, `stat_prefix`, `@type`,
//! a listener's `address`, a virtual host's `domains`) name nodes or are
//! left out without a warning: they change nothing a simulation shows.

use serde_yaml_ng::Value;

/// What the user may set on the command line instead of the defaults.
#[derive(Clone, Debug)]
pub struct Options {
    pub rps: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { rps: 100.0 }
    }
}

pub use super::Imported;

/// Deepest `[`/`{` nesting a bootstrap may have. Real configs nest a few
/// levels; the YAML parser's time grows with the square of the depth.
const MAX_FLOW_DEPTH: usize = 64;

/// Converts an Envoy bootstrap (YAML text) named `name` into a scenario.
pub fn import(yaml: &str, name: &str, opts: &Options) -> Result<Imported, String> {
    if flow_depth_exceeds(yaml, MAX_FLOW_DEPTH) {
        return Err(format!("nested more than {MAX_FLOW_DEPTH} levels deep ([ or {{ inside each other)"));
    }
    let root: Value = serde_yaml_ng::from_str(yaml).map_err(|e| format!("not a YAML document: {e}"))?;
    let mut cx = Cx { warnings: Vec::new() };
    let statics = field(&root, "static_resources").ok_or("no static_resources: only a static bootstrap is read")?;
    cx.unknown(&root, "", &["static_resources", "admin", "node", "layered_runtime", "stats_config"]);
    cx.unknown(statics, "static_resources", &["listeners", "clusters", "secrets"]);
    let clusters: Vec<Cluster> = list(statics, "clusters").iter().map(|c| cx.cluster(c)).collect();
    let listener = list(statics, "listeners").first().copied().ok_or("no listener in static_resources")?;
    if list(statics, "listeners").len() > 1 {
        cx.warn("static_resources.listeners: only the first listener is imported".into());
    }
    let gateway = cx.gateway(listener)?;
    let uses = |r: &RouteOut, c: &str| r.clusters.iter().any(|(n, _)| n == c);
    let used: Vec<&Cluster> = clusters.iter().filter(|c| gateway.routes.iter().any(|r| uses(r, &c.name))).collect();
    for c in clusters.iter().filter(|c| !used.iter().any(|u| u.name == c.name)) {
        cx.warn(format!("cluster {}: no route uses it, left out", c.name));
    }
    for r in &gateway.routes {
        if let Some((c, _)) = r.clusters.iter().find(|(n, _)| !clusters.iter().any(|c| &c.name == n)) {
            return Err(format!("route {} names cluster {c}, which static_resources does not define", r.path));
        }
    }
    cx.split_policies(&gateway.routes, &used);
    let text = write(name, opts, &gateway, &used);
    Ok(Imported { scenario: text, warnings: cx.warnings })
}

struct Cx {
    warnings: Vec<String>,
}

/// Whether `[` and `{` (outside quotes and comments) nest deeper than `max`.
fn flow_depth_exceeds(yaml: &str, max: usize) -> bool {
    let (mut depth, mut quote, mut comment, mut escaped) = (0usize, None::<char>, false, false);
    let mut prev = ' ';
    for c in yaml.chars() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            // `\"` inside a double-quoted scalar is a quote, not its end
            // (a single-quoted scalar writes `''`, which closes and reopens).
            (Some('"'), _) if escaped => escaped = false,
            (Some('"'), '\\') => escaped = true,
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            // A quote opens a scalar only where one can start (not `don't`).
            (None, '"' | '\'') if prev.is_whitespace() || matches!(prev, ':' | '[' | '{' | ',' | '-' | '\'') => {
                quote = Some(c)
            }
            (None, '#') if prev.is_whitespace() => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = c;
    }
    false
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

fn list<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    field(v, key).and_then(Value::as_sequence).map(|s| s.iter().collect()).unwrap_or_default()
}

fn text(v: &Value, key: &str) -> Option<String> {
    match field(v, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A number that Envoy may wrap (`{value: N}` for UInt32Value, or a
/// percent as `{value: 20.0}`).
fn number(v: &Value, key: &str) -> Option<f64> {
    let x = field(v, key)?;
    let x = field(x, "value").unwrap_or(x);
    match x {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// An Envoy duration ("0.25s", "5s") as gatesim writes one ("250ms").
fn duration(v: &Value, key: &str) -> Option<String> {
    let s = text(v, key)?;
    let secs: f64 = s.strip_suffix('s')?.parse().ok()?;
    if !(secs.is_finite() && secs >= 0.0) {
        return None;
    }
    let us = (secs * 1e6).round() as u64;
    Some(if us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us.is_multiple_of(1000) {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    })
}

impl Cx {
    fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    /// Warns about each of `keys` that mapping `v` (at `path`) sets: fields
    /// the importer reads past because gatesim has no model of them.
    fn ignored(&mut self, v: &Value, path: &str, keys: &[&str], why: &str) {
        for k in keys.iter().filter(|k| field(v, k).is_some()) {
            self.warn(format!("{path}.{k}: not imported ({why})"));
        }
    }

    /// Warns about every key of mapping `v` (at `path`) not in `known`.
    fn unknown(&mut self, v: &Value, path: &str, known: &[&str]) {
        let Some(m) = v.as_mapping() else { return };
        for k in m.keys() {
            let k = k.as_str().unwrap_or("?");
            if !known.contains(&k) {
                let at = if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
                self.warn(format!("{at}: not imported (the importer does not read it)"));
            }
        }
    }
}

/// One upstream cluster and the policy its callers get.
struct Cluster {
    name: String,
    replicas: usize,
    balance: Option<String>,
    /// `thresholds: (...)`: on the route to the cluster.
    limits: Vec<String>,
    /// `outlier_detection: (...)`: on the calls to its hosts.
    hosts: Vec<String>,
    /// Active health checks, as a LoadBalancer's `health_check`.
    health_check: Option<String>,
}

impl Cx {
    fn cluster(&mut self, c: &Value) -> Cluster {
        let name = text(c, "name").unwrap_or_else(|| "cluster".into());
        let at = format!("cluster {name}");
        self.unknown(
            c,
            &at,
            &[
                "name",
                "connect_timeout",
                "type",
                "lb_policy",
                "least_request_lb_config",
                "load_assignment",
                "circuit_breakers",
                "outlier_detection",
                "health_checks",
                "dns_lookup_family",
                "common_lb_config",
            ],
        );
        self.ignored(
            c,
            &at,
            &["connect_timeout"],
            "gatesim opens connections at once; a connect failure is a crash or partition",
        );
        if text(c, "type").is_some_and(|t| t != "STATIC") {
            self.ignored(c, &at, &["type"], "endpoints are taken as listed, without DNS resolution");
        }
        self.ignored(c, &at, &["dns_lookup_family"], "no DNS in gatesim");
        let endpoints = field(c, "load_assignment").map_or(0, |la| self.endpoints(la, &at));
        let balance = match text(c, "lb_policy").as_deref() {
            None | Some("ROUND_ROBIN") => Some("RoundRobin".to_string()),
            // Envoy's LEAST_REQUEST picks the least loaded of `choice_count`
            // hosts drawn with replacement, 2 unless set (least_request.proto:
            // "Defaults to 2 so that we perform two-choice selection").
            Some("LEAST_REQUEST") => {
                let config = field(c, "least_request_lb_config");
                if let Some(l) = config {
                    self.unknown(l, &format!("{at}.least_request_lb_config"), &["choice_count"]);
                }
                let choices = config.and_then(|l| number(l, "choice_count"));
                let n = choices.filter(|n| n.is_finite()).map_or(2, |n| n.clamp(2.0, 64.0) as u32);
                if choices.is_some_and(|c| c != f64::from(n)) {
                    self.warn(format!("{at}.least_request_lb_config.choice_count: imported as {n} (2 to 64)"));
                }
                Some(format!("LeastRequest(choice_count: {n})"))
            }
            Some("RANDOM") => Some("Random".to_string()),
            Some(other) => {
                self.warn(format!("{at}: lb_policy {other} is not modelled; callers pick round robin"));
                None
            }
        };
        let checks = list(c, "health_checks");
        if checks.len() > 1 {
            self.warn(format!("{at}.health_checks: only the first of {} is imported", checks.len()));
        }
        let health_check = checks.first().and_then(|h| self.health_check(h, &at));
        let limits = vec![self.circuit_breakers(c, &at)];
        let mut hosts: Vec<String> = field(c, "outlier_detection").map(|o| self.outlier(o, &at)).into_iter().collect();
        if health_check.is_some() || !hosts.is_empty() {
            hosts.push(format!("healthy_panic_threshold: {:?}", self.panic_threshold(c, &at)));
            if self.fail_traffic_on_panic(c, &at) {
                hosts.push("fail_traffic_on_panic: true".into());
            }
        }
        Cluster { name, replicas: endpoints.max(1), balance, limits, hosts, health_check }
    }

    /// `common_lb_config.healthy_panic_threshold` in percent, Envoy's 50
    /// when not set (gatesim's balancers have none by default).
    fn panic_threshold(&mut self, c: &Value, at: &str) -> f64 {
        let Some(lb) = field(c, "common_lb_config") else { return 50.0 };
        self.unknown(lb, &format!("{at}.common_lb_config"), &["healthy_panic_threshold", "zone_aware_lb_config"]);
        // Envoy rounds it to a whole percent (PROTOBUF_PERCENT_TO_ROUNDED_INTEGER_OR_DEFAULT).
        match number(lb, "healthy_panic_threshold") {
            Some(v) if v.is_finite() => v.round().clamp(0.0, 100.0),
            Some(_) => {
                self.warn(format!("{at}.common_lb_config.healthy_panic_threshold: not a number, Envoy's 50 used"));
                50.0
            }
            None => 50.0,
        }
    }

    /// `common_lb_config.zone_aware_lb_config.fail_traffic_on_panic`:
    /// in panic, fail every request instead of sending to every host.
    fn fail_traffic_on_panic(&mut self, c: &Value, at: &str) -> bool {
        let Some(z) = field(c, "common_lb_config").and_then(|lb| field(lb, "zone_aware_lb_config")) else {
            return false;
        };
        let path = format!("{at}.common_lb_config.zone_aware_lb_config");
        // Zones are not modelled: routing by locality has nothing to act on.
        self.unknown(z, &path, &["fail_traffic_on_panic"]);
        match field(z, "fail_traffic_on_panic") {
            None => false,
            Some(v) => v.as_bool().unwrap_or_else(|| {
                self.warn(format!("{path}.fail_traffic_on_panic: not true or false, Envoy's false used"));
                false
            }),
        }
    }

    /// The replicas of a cluster: its priority-0 endpoints. Failover
    /// priorities and endpoint weights are not modelled, and said so.
    fn endpoints(&mut self, la: &Value, at: &str) -> usize {
        let mut replicas = 0;
        for group in list(la, "endpoints") {
            let hosts = list(group, "lb_endpoints");
            let priority = number(group, "priority").unwrap_or(0.0);
            if priority > 0.0 {
                self.warn(format!(
                    "{at}.load_assignment: {} endpoints at priority {priority} left out (Envoy sends them traffic \
                     only when priority 0 fails; gatesim has no failover between priorities)",
                    hosts.len()
                ));
                continue;
            }
            if hosts.iter().any(|h| field(h, "load_balancing_weight").is_some()) {
                self.warn(format!(
                    "{at}.load_assignment: load_balancing_weight not imported (replicas share the load equally)"
                ));
            }
            replicas += hosts.len();
        }
        replicas
    }

    /// Envoy's active health check as a LoadBalancer's `health_check`.
    fn health_check(&mut self, h: &Value, at: &str) -> Option<String> {
        let at = format!("{at}.health_checks[0]");
        self.unknown(
            h,
            &at,
            &[
                "timeout",
                "interval",
                "unhealthy_threshold",
                "healthy_threshold",
                "http_health_check",
                "tcp_health_check",
                "grpc_health_check",
            ],
        );
        let (Some(interval), Some(timeout)) = (duration(h, "interval"), duration(h, "timeout")) else {
            self.warn(format!("{at}: without interval and timeout it is not imported"));
            return None;
        };
        let unhealthy = number(h, "unhealthy_threshold").map_or(1, |n| n as u64).max(1);
        let healthy = number(h, "healthy_threshold").map_or(1, |n| n as u64).max(1);
        Some(format!(
            "(interval: \"{interval}\", timeout: \"{timeout}\", unhealthy_after: {unhealthy}, healthy_after: {healthy})"
        ))
    }

    /// The DEFAULT-priority thresholds; Envoy applies its defaults (1024
    /// connections, pending and requests, 3 retries) when none are given.
    fn circuit_breakers(&mut self, c: &Value, at: &str) -> String {
        if let Some(cb) = field(c, "circuit_breakers") {
            // per_host_thresholds (max_connections per host) among them.
            self.unknown(cb, &format!("{at}.circuit_breakers"), &["thresholds"]);
        }
        let thresholds = field(c, "circuit_breakers").map(|cb| list(cb, "thresholds")).unwrap_or_default();
        let is_default = |t: &&Value| text(t, "priority").is_none_or(|p| p == "DEFAULT");
        for t in thresholds.iter().filter(|t| !is_default(t)) {
            let p = text(t, "priority").unwrap_or_default();
            self.warn(format!("{at}.circuit_breakers: the {p} priority thresholds are not imported (gatesim requests have one routing priority)"));
        }
        match thresholds.iter().find(|t| is_default(t)) {
            Some(t) => self.thresholds(t, at),
            None => "thresholds: () /* Envoy's defaults: 1024 connections, pending and requests, 3 retries */".into(),
        }
    }

    fn thresholds(&mut self, t: &Value, at: &str) -> String {
        let keys = ["max_connections", "max_pending_requests", "max_requests", "max_retries"];
        self.unknown(
            t,
            &format!("{at}.circuit_breakers.thresholds[0]"),
            &[
                "priority",
                "max_connections",
                "max_pending_requests",
                "max_requests",
                "max_retries",
                "retry_budget",
                "track_remaining",
            ],
        );
        self.ignored(
            t,
            &format!("{at}.circuit_breakers"),
            &["track_remaining"],
            "remaining-capacity gauges are stats only",
        );
        let mut parts: Vec<String> =
            keys.iter().filter_map(|k| number(t, k).map(|n| format!("{k}: {}", n as u64))).collect();
        if let Some(b) = field(t, "retry_budget") {
            let mut inner = Vec::new();
            if let Some(p) = number(b, "budget_percent") {
                inner.push(format!("budget_percent: {p:?}"));
            }
            if let Some(m) = number(b, "min_retry_concurrency") {
                inner.push(format!("min_retry_concurrency: {}", m as u64));
            }
            parts.retain(|p| !p.starts_with("max_retries"));
            parts.push(format!("retry_budget: ({})", inner.join(", ")));
        }
        format!("thresholds: ({})", parts.join(", "))
    }

    fn outlier(&mut self, o: &Value, at: &str) -> String {
        const COUNTS: &[&str] = &[
            "consecutive_5xx",
            "enforcing_consecutive_5xx",
            "consecutive_gateway_failure",
            "enforcing_consecutive_gateway_failure",
            "success_rate_minimum_hosts",
            "success_rate_request_volume",
            "success_rate_stdev_factor",
            "enforcing_success_rate",
            "failure_percentage_minimum_hosts",
            "failure_percentage_request_volume",
            "enforcing_failure_percentage",
        ];
        const TIMES: &[&str] = &["interval", "base_ejection_time", "max_ejection_time"];
        const REALS: &[&str] = &["max_ejection_percent", "failure_percentage_threshold"];
        let known: Vec<&str> =
            COUNTS.iter().chain(TIMES).chain(REALS).chain(&["always_eject_one_host"]).copied().collect();
        self.unknown(o, &format!("{at}.outlier_detection"), &known);
        let mut parts = Vec::new();
        for k in COUNTS {
            let Some(mut n) = number(o, k) else { continue };
            if k.starts_with("enforcing_") && n > 0.0 && n < 100.0 {
                self.warn(format!(
                    "{at}.outlier_detection.{k}: {n}% imported as 100% (gatesim enforces a detector fully or not at all)"
                ));
                n = 100.0;
            }
            parts.push(format!("{k}: {}", n as u64));
        }
        for k in TIMES {
            parts.extend(duration(o, k).map(|d| format!("{k}: \"{d}\"")));
        }
        for k in REALS {
            parts.extend(number(o, k).map(|n| format!("{k}: {n:?}")));
        }
        // A BoolValue, bare or wrapped as `{value: true}`.
        let one = field(o, "always_eject_one_host").map(|x| field(x, "value").unwrap_or(x));
        if let Some(Value::Bool(one)) = one {
            parts.push(format!("always_eject_one_host: {one}"));
        }
        format!("outlier_detection: ({})", parts.join(", "))
    }
}

/// The gateway a listener describes.
struct Gateway {
    name: String,
    routes: Vec<RouteOut>,
    rate_limit: Option<String>,
    /// `adaptive_concurrency: (...)`, from the filter of that name.
    adaptive: Option<String>,
}

struct RouteOut {
    path: String,
    /// One cluster, or Envoy's `weighted_clusters`: (cluster, weight).
    clusters: Vec<(String, u32)>,
    split: bool,
    policy: Vec<String>,
}

impl Cx {
    fn gateway(&mut self, l: &Value) -> Result<Gateway, String> {
        let name = text(l, "name").unwrap_or_else(|| "envoy".into());
        self.unknown(l, &format!("listener {name}"), &["name", "address", "filter_chains", "listener_filters"]);
        let hcm = list(l, "filter_chains")
            .iter()
            .flat_map(|fc| list(fc, "filters"))
            .find(|f| text(f, "name").is_some_and(|n| n.contains("http_connection_manager")))
            .and_then(|f| field(f, "typed_config"))
            .ok_or_else(|| format!("listener {name}: no http_connection_manager filter"))?;
        let at = format!("listener {name} http_connection_manager");
        self.unknown(hcm, &at, &["@type", "stat_prefix", "codec_type", "route_config", "http_filters"]);
        if text(hcm, "codec_type").is_some_and(|c| c != "AUTO") {
            self.ignored(hcm, &at, &["codec_type"], "gatesim does not model HTTP/1 and HTTP/2 connections apart");
        }
        let (mut rate_limit, mut adaptive) = (None, None);
        for f in list(hcm, "http_filters") {
            match text(f, "name").as_deref() {
                Some(n) if n.contains("router") => {}
                Some(n) if n.contains("local_ratelimit") => rate_limit = self.local_rate_limit(f),
                Some(n) if n.contains("adaptive_concurrency") => adaptive = self.adaptive_concurrency(f),
                Some(n) => self.warn(format!("{at}: http filter {n} is not imported")),
                None => {}
            }
        }
        let rc = field(hcm, "route_config").ok_or_else(|| format!("{at}: no inline route_config (RDS is not read)"))?;
        self.unknown(rc, &format!("{at}.route_config"), &["name", "virtual_hosts"]);
        let mut routes = Vec::new();
        for vh in list(rc, "virtual_hosts") {
            let vh_at = format!("virtual host {}", text(vh, "name").unwrap_or_default());
            self.unknown(vh, &vh_at, &["name", "domains", "routes", "retry_policy"]);
            // A virtual host's retry policy applies to its routes that set none.
            let vh_retry = field(vh, "retry_policy");
            for r in list(vh, "routes") {
                self.unknown(r, &format!("{vh_at} route"), &["name", "match", "route"]);
                routes.extend(self.route(r, vh_retry));
            }
        }
        if routes.is_empty() {
            return Err(format!("{at}: no route with a prefix or path match and a cluster"));
        }
        Ok(Gateway { name, routes, rate_limit, adaptive })
    }

    /// Envoy's adaptive concurrency filter, its gradient controller's fields
    /// flattened as gatesim writes them (percents as fractions).
    fn adaptive_concurrency(&mut self, f: &Value) -> Option<String> {
        let config = field(f, "typed_config")?;
        let at = "http filter adaptive_concurrency";
        self.unknown(
            config,
            at,
            &["@type", "gradient_controller_config", "enabled", "concurrency_limit_exceeded_status"],
        );
        if field(config, "enabled").and_then(|e| field(e, "default_value")).and_then(Value::as_bool) == Some(false) {
            self.warn(format!("{at}: enabled.default_value is false (a pass-through filter): not imported"));
            return None;
        }
        // Envoy answers 503 by default, and for any status under 400.
        let status = field(config, "concurrency_limit_exceeded_status").and_then(|s| text(s, "code"));
        if let Some(code) = status
            && code != "ServiceUnavailable"
            && !code.parse::<u32>().is_ok_and(|c| c < 400 || c == 503)
        {
            self.warn(format!("{at}.concurrency_limit_exceeded_status {code}: imported as 503 (gatesim's Rejected)"));
        }
        let Some(g) = field(config, "gradient_controller_config") else {
            self.warn(format!("{at}: no gradient_controller_config, not imported"));
            return None;
        };
        let g_at = format!("{at}.gradient_controller_config");
        self.unknown(g, &g_at, &["sample_aggregate_percentile", "concurrency_limit_params", "min_rtt_calc_params"]);
        let mut fields = Vec::new();
        let percent = |v: &Value, key: &str| number(v, key).map(|p| (p / 100.0).clamp(0.0, 1.0));
        if let Some(p) = percent(g, "sample_aggregate_percentile") {
            fields.push(format!("sample_aggregate_percentile: {p}"));
        }
        if let Some(c) = field(g, "concurrency_limit_params") {
            let c_at = format!("{g_at}.concurrency_limit_params");
            self.unknown(c, &c_at, &["max_concurrency_limit", "concurrency_update_interval"]);
            if let Some(n) = number(c, "max_concurrency_limit").filter(|n| *n >= 1.0) {
                fields.push(format!("max_concurrency_limit: {}", n as u32));
            }
            if let Some(d) = duration(c, "concurrency_update_interval") {
                fields.push(format!("concurrency_update_interval: {d:?}"));
            }
        }
        if let Some(m) = field(g, "min_rtt_calc_params") {
            let m_at = format!("{g_at}.min_rtt_calc_params");
            self.unknown(m, &m_at, &["interval", "request_count", "jitter", "min_concurrency", "buffer"]);
            match duration(m, "interval") {
                Some(d) if d == "0s" => self.warn(format!(
                    "{m_at}.interval 0s (a fixed minRTT) is not modelled: gatesim measures the minRTT at its default interval"
                )),
                Some(d) => fields.push(format!("min_rtt_calc_interval: {d:?}")),
                None => {}
            }
            for key in ["request_count", "min_concurrency"] {
                if let Some(n) = number(m, key).filter(|n| *n >= 1.0) {
                    fields.push(format!("{key}: {}", n as u32));
                }
            }
            for key in ["jitter", "buffer"] {
                if let Some(p) = percent(m, key) {
                    fields.push(format!("{key}: {p}"));
                }
            }
        }
        Some(format!("adaptive_concurrency: ({})", fields.join(", ")))
    }

    fn local_rate_limit(&mut self, f: &Value) -> Option<String> {
        let config = field(f, "typed_config")?;
        let at = "http filter local_ratelimit";
        self.unknown(config, at, &["@type", "stat_prefix", "token_bucket", "filter_enabled", "filter_enforced"]);
        // Envoy enables and enforces the filter for 0% of requests unless told otherwise.
        let percent =
            |key: &str| field(config, key).and_then(|f| field(f, "default_value")).and_then(|d| number(d, "numerator"));
        match (percent("filter_enabled"), percent("filter_enforced")) {
            (Some(e), Some(f)) if e > 0.0 && f > 0.0 => {
                if e < 100.0 || f < 100.0 {
                    self.warn(format!("{at}: enabled for {e}% and enforced for {f}%: imported as 100%"));
                }
            }
            _ => {
                self.warn(format!(
                    "{at}: filter_enabled and filter_enforced default to 0% of requests: the limit is off, not imported"
                ));
                return None;
            }
        }
        let bucket = field(config, "token_bucket")?;
        let burst = number(bucket, "max_tokens")? as u64;
        let fill = number(bucket, "tokens_per_fill").unwrap_or(1.0) as u64;
        let per = duration(bucket, "fill_interval")?;
        Some(format!("RateLimit(scope: Global, limit: {fill}, per: \"{per}\", algorithm: TokenBucket(burst: {burst}))"))
    }

    fn route(&mut self, r: &Value, vh_retry: Option<&Value>) -> Option<RouteOut> {
        let m = field(r, "match")?;
        self.unknown(m, "route match", &["prefix", "path"]);
        let path = match (text(m, "prefix"), text(m, "path")) {
            (Some(p), _) => p,
            (None, Some(p)) => {
                self.warn(format!("route {p}: an exact path match is imported as a prefix (gatesim routes by prefix)"));
                p
            }
            _ => {
                self.warn("a route matches neither prefix nor path (safe_regex, ...): left out".into());
                return None;
            }
        };
        let action = field(r, "route")?;
        let at = format!("route {path}");
        self.unknown(action, &at, &["cluster", "weighted_clusters", "timeout", "retry_policy"]);
        let (clusters, split) = match (text(action, "cluster"), field(action, "weighted_clusters")) {
            (Some(c), _) => (vec![(c, 1)], false),
            (None, Some(w)) => (self.weighted_clusters(w, &at)?, true),
            (None, None) => {
                self.warn(format!("{at}: no cluster or weighted_clusters (cluster_header, ...): left out"));
                return None;
            }
        };
        // Envoy's route timeout covers every try; 15 s when not set; 0s disables it.
        let mut policy = match duration(action, "timeout").unwrap_or("15s".into()) {
            t if t == "0s" => Vec::new(),
            t => vec![format!("total_timeout: \"{t}\"")],
        };
        if let Some(rp) = field(action, "retry_policy").or(vh_retry) {
            policy.extend(self.retry_policy(rp, &at));
        }
        Some(RouteOut { path, clusters, split, policy })
    }

    /// Envoy's `weighted_clusters`: (cluster, weight) with a weight of 1 or
    /// more (a cluster of weight 0 gets no traffic and is left out).
    fn weighted_clusters(&mut self, w: &Value, at: &str) -> Option<Vec<(String, u32)>> {
        let w_at = format!("{at}.weighted_clusters");
        self.unknown(w, &w_at, &["clusters", "total_weight"]);
        let mut out = Vec::new();
        for c in list(w, "clusters") {
            self.unknown(c, &format!("{w_at}.clusters"), &["name", "weight"]);
            let (Some(name), Some(weight)) = (text(c, "name"), number(c, "weight")) else {
                self.warn(format!("{w_at}: a cluster without a name or weight is left out"));
                continue;
            };
            if weight >= 1.0 && !out.iter().any(|(n, _)| *n == name) {
                out.push((name, weight.min(f64::from(u32::MAX)) as u32));
            }
        }
        if out.is_empty() {
            self.warn(format!("{w_at}: no cluster with a weight of 1 or more: left out"));
            return None;
        }
        if out.iter().fold(0u64, |t, (_, w)| t + u64::from(*w)) > u64::from(u32::MAX) {
            self.warn(format!("{w_at}: the weights add up to more than 2^32: left out"));
            return None;
        }
        Some(out)
    }

    /// A split route has one policy for all its targets; Envoy keeps each
    /// cluster's circuit breakers and outlier detection. Warns where they
    /// differ (the first cluster's are written) or where a split's cluster
    /// also serves another route (they are not shared with it).
    fn split_policies(&mut self, routes: &[RouteOut], clusters: &[&Cluster]) {
        let find = |n: &str| clusters.iter().find(|c| c.name == n).expect("checked by the caller");
        for r in routes.iter().filter(|r| r.split) {
            let first = find(&r.clusters[0].0);
            if r.clusters.iter().any(|(n, _)| on_route(find(n)) != on_route(first)) {
                self.warn(format!(
                    "route {}: its weighted clusters differ in circuit breakers or outlier detection; \
                     gatesim's split has one policy, cluster {}'s",
                    r.path, first.name
                ));
            }
            for (n, _) in &r.clusters {
                if routes.iter().any(|o| o.path != r.path && o.clusters.iter().any(|(m, _)| m == n)) {
                    self.warn(format!(
                        "route {}: cluster {n} also serves another route; the split keeps its own circuit breakers",
                        r.path
                    ));
                }
            }
        }
    }

    fn retry_policy(&mut self, rp: &Value, at: &str) -> Vec<String> {
        self.unknown(
            rp,
            &format!("{at}.retry_policy"),
            &[
                "retry_on",
                "num_retries",
                "per_try_timeout",
                "retry_back_off",
                "retry_host_predicate",
                "host_selection_retry_max_attempts",
            ],
        );
        self.ignored(
            rp,
            &format!("{at}.retry_policy"),
            &["host_selection_retry_max_attempts"],
            "a retry to another host picks once among the others",
        );
        let mut out = Vec::new();
        // Envoy: a per_try_timeout of 0 is none (each try waits for the route timeout).
        if let Some(t) = duration(rp, "per_try_timeout").filter(|t| t != "0s") {
            out.push(format!("timeout: \"{t}\""));
        }
        let mut on = Vec::new();
        for class in text(rp, "retry_on").unwrap_or_default().split(',').map(str::trim).filter(|c| !c.is_empty()) {
            match class {
                "5xx" => on.push("Http5xx"),
                "gateway-error" => on.push("GatewayError"),
                "reset" => on.push("Reset"),
                "connect-failure" => on.push("ConnectFailure"),
                "retriable-4xx" => on.push("Retriable4xx"),
                other => self.warn(format!("{at}.retry_policy: retry_on {other} is not modelled")),
            }
        }
        let max = number(rp, "num_retries").map_or(1, |n| n as u64);
        if let Some(b) = field(rp, "retry_back_off") {
            self.unknown(b, &format!("{at}.retry_policy.retry_back_off"), &["base_interval", "max_interval"]);
        }
        for p in list(rp, "retry_host_predicate") {
            let name = text(p, "name").unwrap_or_default();
            if !name.contains("previous_hosts") {
                self.warn(format!(
                    "{at}.retry_policy.retry_host_predicate {name}: not imported (only previous_hosts is modelled)"
                ));
            }
        }
        let back_off = field(rp, "retry_back_off").map_or("Envoy()".to_string(), |b| {
            let parts: Vec<String> = [("base_interval", "base"), ("max_interval", "max")]
                .iter()
                .filter_map(|(k, f)| duration(b, k).map(|d| format!("{f}: \"{d}\"")))
                .collect();
            format!("Envoy({})", parts.join(", "))
        });
        let other_host = list(rp, "retry_host_predicate")
            .iter()
            .any(|p| text(p, "name").is_some_and(|n| n.contains("previous_hosts")));
        let other = if other_host { ", other_host: true" } else { "" };
        out.push(format!("retries: (max: {max}, on: [{}], backoff: {back_off}{other})", on.join(", ")));
        out
    }
}

/// The node a route to cluster `c` calls: its health-checking balancer, if any.
fn target(c: &Cluster) -> String {
    if c.health_check.is_some() { format!("{}-lb", node_name(&c.name)) } else { node_name(&c.name) }
}

/// What a cluster puts on the policy of the routes to it: its thresholds,
/// and its outlier detection unless a health-checking balancer holds it.
fn on_route(c: &Cluster) -> Vec<String> {
    let mut policy = c.limits.clone();
    if c.health_check.is_none() {
        policy.extend(c.hosts.iter().cloned());
    }
    policy
}

/// A cluster's Service, behind a LoadBalancer when Envoy health-checks it.
fn service(c: &Cluster) -> String {
    let name = node_name(&c.name);
    let balance = c.balance.as_ref().map(|b| format!(", balance: {b}")).unwrap_or_default();
    let mut out = String::new();
    if let Some(hc) = &c.health_check {
        out.push_str(&format!(
            "        // Envoy's active health checks: gatesim probes from a balancer node (one more hop).\n        \
             LoadBalancer(name: \"{name}-lb\", targets: [{name:?}]{balance}, health_check: Some({hc}),\n                     \
             policy: ({})),\n",
            c.hosts.join(", ")
        ));
    }
    let balance = if c.health_check.is_some() { String::new() } else { balance };
    out.push_str(&format!(
        "        // default: workers, queue and work are not in an Envoy config: measure yours.\n        \
         Service(name: {name:?}, replicas: {}, workers: 16, queue: 256, work: LogNormal(median: \"5ms\", p99: \"50ms\"){balance}),",
        c.replicas
    ));
    out
}

/// A name gatesim accepts (`import::node_name`).
fn node_name(s: &str) -> String {
    super::node_name(s, "envoy")
}

fn write(name: &str, opts: &Options, g: &Gateway, clusters: &[&Cluster]) -> String {
    let gw = node_name(&g.name);
    let mut mix = Vec::new();
    let mut routes = Vec::new();
    for r in &g.routes {
        let cluster = clusters.iter().find(|c| c.name == r.clusters[0].0).expect("checked by the caller");
        let mut policy = r.policy.clone();
        policy.extend(on_route(cluster));
        // Envoy keeps one set of circuit breakers and one outlier detector
        // per cluster: routes to the same cluster share them.
        if !r.split && g.routes.iter().filter(|o| !o.split && o.clusters[0].0 == cluster.name).count() > 1 {
            policy.push(format!("cluster: {:?}", node_name(&cluster.name)));
        }
        let to = if r.split {
            let find = |n: &str| clusters.iter().find(|c| c.name == n).expect("checked by the caller");
            let split: Vec<String> =
                r.clusters.iter().map(|(n, w)| format!("(to: {:?}, weight: {w})", target(find(n)))).collect();
            format!("split: [{}]", split.join(", "))
        } else {
            format!("to: {:?}", target(cluster))
        };
        routes.push(format!(
            "                Route(prefix: {:?}, {to},\n                      policy: ({})),",
            r.path,
            policy.join(", ")
        ));
        mix.push(format!("(weight: 1, method: Get, path: {:?})", r.path));
    }
    let services: Vec<String> = clusters.iter().map(|c| service(c)).collect();
    let mut limits = g.rate_limit.as_ref().map(|l| format!("\n            rate_limits: [{l}],")).unwrap_or_default();
    if let Some(a) = &g.adaptive {
        limits.push_str(&format!("\n            {a},"));
    }
    format!(
        "// Imported by `gatesim import` from an Envoy bootstrap. Lines marked\n\
         // `default:` hold values an Envoy config does not have: fill them in.\n\
         Scenario(\n    name: {:?},\n    seed: 1,\n    duration: \"60s\",\n    warmup: \"5s\",\n    nodes: [\n        \
         // default: the load and the request mix (one path per route).\n        \
         Clients(name: \"clients\", target: {gw:?}, load: Poisson(rps: {}),\n                mix: [{}]),\n        \
         // Envoy is event-driven: many workers and no queue stand for no per-request thread.\n        \
         Gateway(name: {gw:?}, workers: 10000, queue: 0,{limits}\n            routes: [\n{}\n            ]),\n{}\n    ],\n)\n",
        node_name(name),
        opts.rps,
        mix.join(", "),
        routes.join("\n"),
        services.join("\n"),
    )
}
