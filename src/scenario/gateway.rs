//! Building a gateway: routes (longest prefix per path), auth, rate limits.

use crate::engine::time::SimDuration;
use crate::model::config::*;

/// A shared rate-limit store call's timeout unless its policy sets one:
/// Kong's `redis_timeout` default (2000 ms).
const STORE_TIMEOUT: SimDuration = SimDuration::from_secs(2);
/// Most targets of one split route.
const MAX_SPLIT: usize = 64;

use super::build::{Builder, limit_config};
use super::problem::Problem;
use super::raw;

impl Builder<'_> {
    pub(super) fn gateway(&mut self, id: NodeId, node: &raw::Node) -> NodeKind {
        let raw::Node::Gateway {
            name,
            workers,
            queue,
            overhead,
            auth,
            rate_limits,
            routes,
            translation,
            shed,
            adaptive_concurrency,
            ..
        } = node
        else {
            unreachable!("called for Gateway only")
        };
        let overhead = self.node_dist(name, "overhead", overhead.as_ref());
        let translation = self.node_dist(name, "translation", translation.as_ref());
        let auth = match auth {
            None => Auth::None,
            Some(raw::Auth::Local { verify }) => {
                Auth::Local { verify: self.node_dist(name, "auth verify", Some(verify)) }
            }
            Some(raw::Auth::Remote { service, cache_ttl, policy }) => {
                match self.edge(id, service, policy, format!("{name} -> {service} (auth)")) {
                    Some(edge) => Auth::Remote { edge, cache_ttl: cache_ttl.0 },
                    None => Auth::None,
                }
            }
        };
        let routes = self.routes(id, name, routes);
        let route_of_path = self.route_table(name, &routes);
        let rate_limits = rate_limits.iter().filter_map(|rl| self.rate_limit(id, name, rl, &routes)).collect();
        NodeKind::Gateway(GatewayConfig {
            workers: workers.0,
            queue: *queue,
            overhead,
            auth,
            rate_limits,
            routes,
            route_of_path,
            translation,
            shed: shed.as_ref().and_then(|s| self.shed(name, s)),
            inbound_adaptive: adaptive_concurrency.as_ref().map(|a| self.inbound_adaptive(name, "", a)),
        })
    }

    /// A gateway's priority load shedding, its thresholds in order.
    fn shed(&mut self, name: &str, s: &raw::Shed) -> Option<crate::mechanisms::shed::ShedConfig> {
        let c = crate::mechanisms::shed::ShedConfig {
            test: s.test.map(|t| t.0),
            get: s.get.map(|t| t.0),
            post: s.post.map(|t| t.0),
            test_delay: s.test_delay.map(|d| d.0),
            get_delay: s.get_delay.map(|d| d.0),
            post_delay: s.post_delay.map(|d| d.0),
        };
        match c.check() {
            Ok(()) => Some(c),
            Err(e) => {
                self.errors.push(
                    Problem::node(name, e)
                        .at("shed")
                        .hint("thresholds are occupancy (busy + queued) / workers and the oldest queued request's wait: test <= get <= post"),
                );
                None
            }
        }
    }

    fn routes(&mut self, id: NodeId, name: &str, routes: &[raw::RouteEntry]) -> Vec<Route> {
        if routes.is_empty() {
            self.warnings.push(Problem::node(name, "the gateway has no routes: every request gets 404").at("routes"));
        }
        let mut out: Vec<Route> = Vec::new();
        for r in routes {
            let (path, kind, grpc) = match r {
                raw::RouteEntry::Route { prefix, to, split, policy, protocol } => {
                    (prefix, self.forward(id, name, (prefix, to.as_deref(), split), policy), *protocol)
                }
                raw::RouteEntry::Aggregate { path, calls, partial, policy, protocol } => {
                    if calls.is_empty() {
                        self.errors.push(Problem::node(name, format!("Aggregate \"{path}\" has no calls")).at(path));
                    }
                    let edges: Vec<EdgeId> = calls
                        .iter()
                        .filter_map(|c| self.edge(id, c, policy, format!("{name} -> {c} ({path})")))
                        .collect();
                    let degrade = matches!(partial, Some(raw::Partial::Degrade));
                    (path, (edges.len() == calls.len()).then_some(RouteKind::Aggregate { edges, degrade }), *protocol)
                }
            };
            if let Some(why) = super::limits::bad_name(path, super::limits::MAX_PATH_CHARS) {
                let shown = super::build::shorten(path);
                self.errors.push(Problem::node(name, format!("route \"{shown}\" {why}")));
            } else if !path.starts_with('/') {
                self.errors.push(Problem::node(name, format!("route \"{path}\" does not start with '/'")).at(path));
            }
            if out.iter().any(|o| &o.path == path) {
                self.errors.push(
                    Problem::node(name, format!("two routes have the prefix \"{path}\""))
                        .at(path)
                        .hint("each prefix may appear once per gateway"),
                );
            }
            if let Some(kind) = kind {
                out.push(Route { path: path.clone(), kind, grpc: matches!(grpc, Some(raw::Protocol::Grpc)) });
            }
        }
        out
    }

    /// A plain route's target: `to`, or a `split` over several by weight.
    fn forward(
        &mut self,
        id: NodeId,
        name: &str,
        (prefix, to, split): (&str, Option<&str>, &[raw::SplitTarget]),
        policy: &raw::Policy,
    ) -> Option<RouteKind> {
        let problem = |msg: String| Problem::node(name, msg).at(prefix);
        match (to, split.is_empty()) {
            (Some(to), true) => {
                return self
                    .edge(id, to, policy, format!("{name} -> {to} ({prefix})"))
                    .map(|edge| RouteKind::Forward { edge });
            }
            (None, true) => {
                self.errors.push(
                    problem(format!("route \"{prefix}\" has no target"))
                        .hint("give `to: \"service\"` or `split: [...]`"),
                );
                return None;
            }
            (Some(_), false) => {
                self.errors.push(
                    problem(format!("route \"{prefix}\" has both `to` and `split`"))
                        .hint("a split route names its targets in `split` only"),
                );
                return None;
            }
            (None, false) => {}
        }
        if split.len() > MAX_SPLIT {
            self.errors.push(problem(format!(
                "route \"{prefix}\" splits over {} targets, more than {MAX_SPLIT}",
                split.len()
            )));
            return None;
        }
        let total = split.iter().fold(0u64, |t, s| t + u64::from(s.weight));
        if total == 0 || total > u64::from(u32::MAX) {
            self.errors.push(
                problem(format!("route \"{prefix}\": the split's weights add up to {total}"))
                    .hint("weights are whole numbers adding up to at least 1, e.g. 90 and 10"),
            );
            return None;
        }
        let (mut edges, mut upto, mut sum) = (Vec::new(), Vec::new(), 0u32);
        for (i, s) in split.iter().enumerate() {
            if split[..i].iter().any(|o| o.to == s.to) {
                self.errors.push(problem(format!("route \"{prefix}\" splits to \"{}\" twice", s.to)));
                return None;
            }
            let edge = self.edge(id, &s.to, policy, format!("{name} -> {} ({prefix})", s.to))?;
            sum += s.weight;
            edges.push(edge);
            upto.push(sum);
        }
        Some(RouteKind::Split { edges, upto })
    }

    /// Longest matching prefix wins (plain string prefix, as Envoy's
    /// `prefix` and Kong's paths); no match is a 404.
    fn route_table(&mut self, name: &str, routes: &[Route]) -> Vec<Option<u16>> {
        let mut table = vec![None; self.paths.len()];
        for ((_, path), id) in &self.paths {
            let best = routes
                .iter()
                .enumerate()
                .filter(|(_, r)| path.starts_with(r.path.as_str()))
                .max_by_key(|(_, r)| r.path.len());
            table[*id as usize] = best.map(|(i, _)| i as u16);
        }
        if routes.len() > u16::MAX as usize {
            self.errors.push(Problem::node(name, "too many routes (at most 65535)"));
        }
        table
    }

    fn rate_limit(&mut self, id: NodeId, name: &str, rl: &raw::RateLimit, routes: &[Route]) -> Option<RateLimit> {
        let (scope, label) = match &rl.scope {
            raw::Scope::PerUser => (LimitScope::PerUser, "PerUser".to_string()),
            raw::Scope::Global => (LimitScope::Global, "Global".to_string()),
            raw::Scope::Route(spec) => {
                let (method, prefix) = match spec.split_once(' ') {
                    Some((m, p)) => (Some(m.trim().to_ascii_uppercase()), p.trim()),
                    None => (None, spec.trim()),
                };
                if !prefix.starts_with('/') {
                    self.errors.push(
                        Problem::node(name, format!("rate limit scope Route(\"{spec}\") is not \"[METHOD ]/prefix\""))
                            .at(spec)
                            .hint("e.g. Route(\"POST /api/orders\") or Route(\"/api/users\")"),
                    );
                }
                if !routes.iter().any(|r| prefix.starts_with(r.path.as_str()) || r.path.starts_with(prefix)) {
                    self.warnings.push(
                        Problem::node(name, format!("rate limit Route(\"{spec}\") matches no route of this gateway"))
                            .at(spec),
                    );
                }
                let mut applies = vec![false; self.paths.len()];
                for ((m, p), pid) in &self.paths {
                    applies[*pid as usize] = p.starts_with(prefix) && method.as_deref().is_none_or(|want| want == *m);
                }
                (LimitScope::Route(applies), format!("Route({spec})"))
            }
        };
        if rl.per.0.is_zero() {
            self.errors.push(Problem::node(name, "rate limit `per` is 0").hint("e.g. per: \"1s\""));
            return None;
        }
        if rl.disable_penalty.is_some() && !matches!(rl.algorithm, raw::Algorithm::SlidingWindow) {
            self.errors.push(
                Problem::node(name, "disable_penalty applies to a SlidingWindow only")
                    .at("disable_penalty")
                    .hint("a token bucket and a fixed window count admitted requests only"),
            );
        }
        let store = match &rl.store {
            None | Some(raw::Store::Local) => None,
            Some(raw::Store::Shared { node, fail_open, policy }) => {
                let default = raw::Policy::default();
                let label = format!("{name} -> {node} (rate-limit store)");
                let edge = self.edge(id, node, policy.as_ref().unwrap_or(&default), label)?;
                // Kong's redis policy: every store call is bounded (redis_timeout, 2 s).
                let timeout = &mut self.edges[edge as usize].policy.timeout;
                timeout.get_or_insert(STORE_TIMEOUT);
                Some((edge, fail_open.unwrap_or(true)))
            }
        };
        Some(RateLimit { label, scope, config: limit_config(rl), store })
    }
}
