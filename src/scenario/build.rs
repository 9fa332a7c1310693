//! Whole-file checks and the conversion from raw file types to the model.
//!
//! Collects every problem (never stops at the first) with the node or field
//! it is in, so a user fixes a file in one round.

use std::collections::BTreeMap;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::engine::dist::Dist;
use crate::engine::time::{SimDuration, SimTime};
use crate::mechanisms::balance::Balance;
use crate::mechanisms::rate_limit::{Algorithm, LimitConfig};
use crate::model::config::*;

use super::limits::*;
use super::policy::{dist, policy};
use super::problem::Problem;
use super::raw;

pub struct Built {
    pub model: ModelConfig,
    pub warnings: Vec<Problem>,
}

pub(super) struct Builder<'a> {
    pub(super) file: &'a raw::Scenario,
    pub(super) errors: Vec<Problem>,
    pub(super) warnings: Vec<Problem>,
    pub(super) ids: BTreeMap<&'a str, NodeId>,
    pub(super) nodes: Vec<NodeConfig>,
    pub(super) instances: Vec<Instance>,
    pub(super) edges: Vec<Edge>,
    pub(super) paths: BTreeMap<(&'static str, String), PathId>,
}

pub fn build(file: &raw::Scenario) -> Result<Built, Vec<Problem>> {
    let mut b = Builder {
        file,
        errors: Vec::new(),
        warnings: Vec::new(),
        ids: BTreeMap::new(),
        nodes: Vec::new(),
        instances: Vec::new(),
        edges: Vec::new(),
        paths: BTreeMap::new(),
    };
    b.top_level();
    b.declare_nodes();
    if b.errors.is_empty() {
        b.collect_paths();
        for (i, node) in file.nodes.iter().enumerate() {
            b.node(i as NodeId, node);
        }
    }
    b.clusters();
    let topology = b.topology();
    if b.errors.is_empty() {
        b.check_cycles(&topology);
    }
    let faults = b.faults();
    let chaos = b.chaos();
    b.anti_patterns();
    if b.edges.len() > MAX_EDGES {
        b.errors.push(Problem::field("nodes", format!("{} calls in all; at most {MAX_EDGES}", b.edges.len())));
    }
    if !b.errors.is_empty() {
        return Err(super::problem::dedup(b.errors));
    }
    let mut paths: Vec<PathInfo> = vec![PathInfo { method: "GET", path: String::new() }; b.paths.len()];
    for ((method, path), id) in &b.paths {
        paths[*id as usize] = PathInfo { method, path: path.clone() };
    }
    let limits = file.limits.as_ref();
    let model = ModelConfig {
        name: file.name.clone(),
        seed: file.seed,
        duration: file.duration.0,
        warmup: file.warmup.map_or(SimDuration::ZERO, |w| w.0),
        network: file.network.latency.as_ref().map_or(Dist::ZERO, |d| dist(d).unwrap_or(Dist::ZERO)),
        resolution: file.report.as_ref().and_then(|r| r.resolution).map_or(DEFAULT_RESOLUTION, |r| r.0),
        max_events: limits.and_then(|l| l.max_events).unwrap_or(DEFAULT_MAX_EVENTS),
        max_in_flight: limits.and_then(|l| l.max_in_flight).unwrap_or(DEFAULT_MAX_IN_FLIGHT),
        max_events_per_ms: limits.and_then(|l| l.max_events_per_ms).unwrap_or(DEFAULT_MAX_EVENTS_PER_MS),
        check_invariants: cfg!(debug_assertions),
        nodes: b.nodes,
        instances: b.instances,
        edges: b.edges,
        paths,
        faults,
        chaos,
        slo: Slo {
            p99: file.slo.as_ref().and_then(|s| s.p99).map(|d| d.0),
            success_rate: file.slo.as_ref().and_then(|s| s.success_rate).map(|f| f.0),
            exclude: slo_exclude(file.slo.as_ref().and_then(|s| s.exclude.as_deref())),
        },
        trace: file.report.as_ref().and_then(|r| r.trace).map(|f| f.0).filter(|f| *f > 0.0),
    };
    let mut memory = Vec::new();
    super::limits::check_memory(file, &model, &mut memory);
    super::limits::check_load(&model, &mut memory);
    if !memory.is_empty() {
        return Err(memory);
    }
    Ok(Built { model, warnings: super::problem::dedup(b.warnings) })
}

impl<'a> Builder<'a> {
    fn top_level(&mut self) {
        let f = self.file;
        if let Some(why) = bad_name(&f.name, MAX_NAME_CHARS) {
            self.errors.push(
                Problem::field("name", format!("the scenario name {why}"))
                    .hint("use letters, digits, '-' and '_', e.g. name: \"quickstart\""),
            );
        } else if f.name.trim().is_empty() || f.name.contains(['/', '\\']) || f.name.starts_with('.') {
            self.errors.push(
                Problem::field("name", format!("scenario name \"{}\" cannot be used as a folder name", f.name))
                    .hint("use letters, digits, '-' and '_', e.g. name: \"quickstart\""),
            );
        }
        if f.nodes.len() > MAX_NODES {
            self.errors.push(Problem::field("nodes", format!("{} nodes; at most {MAX_NODES}", f.nodes.len())));
        }
        if f.duration.0.is_zero() {
            self.errors.push(
                Problem::field("duration", "duration is 0: nothing would be simulated").hint("e.g. duration: \"60s\""),
            );
        }
        if let Some(w) = f.warmup
            && w >= f.duration
            && !f.duration.0.is_zero()
        {
            self.errors.push(
                Problem::field("warmup", format!("warm-up {} is not shorter than the duration {}", w.0, f.duration.0))
                    .hint("the warm-up is excluded from statistics, so it must end before the run does"),
            );
        }
        if let Some(Err(e)) = f.network.latency.as_ref().map(dist) {
            self.errors.push(Problem::field("network", e));
        }
        self.time_series();
        if let Some(l) = &f.limits
            && (l.max_events == Some(0) || l.max_in_flight == Some(0))
        {
            self.errors.push(Problem::field("limits", "limits must be at least 1"));
        }
        if f.nodes.is_empty() {
            self.errors
                .push(Problem::field("nodes", "the scenario has no nodes").hint("add at least Clients and a Service"));
        }
    }

    /// The time series holds one row per bucket and node: bound it up
    /// front, whether or not the resolution was written.
    fn time_series(&mut self) {
        let f = self.file;
        let res = f.report.as_ref().and_then(|r| r.resolution).map_or(DEFAULT_RESOLUTION, |r| r.0);
        let buckets = f.duration.0.as_nanos().div_ceil(res.as_nanos().max(1));
        let rows = buckets.saturating_mul(f.nodes.len() as u64);
        if res.is_zero() {
            self.errors.push(
                Problem::field("report", "report.resolution is 0: a time bucket must be more than 0 long")
                    .at("resolution")
                    .hint("leave it out for 1 s buckets, or set report: (resolution: \"100ms\")"),
            );
            return;
        }
        if buckets > MAX_BUCKETS || rows > MAX_ROWS {
            let per_node = (MAX_ROWS / (f.nodes.len() as u64).max(1)).clamp(1, MAX_BUCKETS);
            let coarser = f.duration.0.as_nanos().div_ceil(per_node).max(1);
            // Whole seconds (or milliseconds) read better in a hint.
            let coarser = SimDuration(match coarser {
                c if c >= 1_000_000_000 => c.div_ceil(1_000_000_000) * 1_000_000_000,
                c => c.div_ceil(1_000_000) * 1_000_000,
            });
            // Point at the resolution if it was written, else at the duration.
            let at = if f.report.as_ref().is_some_and(|r| r.resolution.is_some()) { "report" } else { "duration" };
            self.errors.push(
                Problem::field(
                    at,
                    format!(
                        "too many time buckets: {buckets} buckets x {} nodes = {rows} rows of time series (resolution {res}); at most {MAX_BUCKETS} buckets and {MAX_ROWS} rows",
                        f.nodes.len()
                    ),
                )
                .hint(format!("set report: (resolution: \"{}\") or coarser", coarser.max(res))),
            );
        }
    }

    /// Names, ids and instances of every node.
    fn declare_nodes(&mut self) {
        for (i, node) in self.file.nodes.iter().enumerate() {
            let (name, replicas, balance) = match node {
                raw::Node::Clients { name, .. } => (name, None, None),
                raw::Node::LoadBalancer { name, balance, .. } => (name, None, *balance),
                raw::Node::Gateway { name, replicas, balance, .. }
                | raw::Node::Service { name, replicas, balance, .. } => (name, *replicas, *balance),
            };
            // Every node is declared, even a misnamed one: ids stay dense.
            if let Some(why) = bad_name(name, MAX_NAME_CHARS) {
                let shown = shorten(name);
                self.errors.push(
                    Problem::node(&shown, format!("node name \"{shown}\" {why}"))
                        .hint("names are short words: letters, digits, '-' and '_'"),
                );
            } else if name.trim().is_empty()
                || name.contains('#')
                || name.contains("->")
                || name.contains(char::is_whitespace)
            {
                self.errors.push(
                    Problem::node(name, format!("node name \"{name}\" is not usable")).hint(
                        "names are non-empty, without spaces, '#' (it selects a replica) or '->' (it names a link)",
                    ),
                );
            }
            if self.ids.insert(name.as_str(), i as NodeId).is_some() {
                self.errors.push(
                    Problem::node(name, format!("two nodes are named \"{name}\"")).hint("node names must be unique"),
                );
            }
            let replicas = replicas.map_or(1, |r| r.0);
            if replicas > MAX_REPLICAS {
                self.errors.push(Problem::node(name, format!("{replicas} replicas is more than {MAX_REPLICAS}")));
            }
            let replicas = replicas.min(MAX_REPLICAS);
            let first_instance = self.instances.len() as InstId;
            for r in 0..replicas {
                self.instances.push(Instance { node: i as NodeId, replica: r });
            }
            let balance = self.balance(name, balance.unwrap_or(raw::Balance::RoundRobin));
            // The kind is filled in by `node`; a placeholder keeps indices dense.
            let kind = NodeKind::Service(ServiceConfig {
                workers: 1,
                queue: 0,
                work: Dist::ZERO,
                errors: 0.0,
                steps: vec![],
                sidecar: None,
                inbound_adaptive: None,
            });
            self.nodes.push(NodeConfig { name: name.clone(), kind, first_instance, replicas, balance });
        }
    }

    /// Every (method, path) a client sends gets a dense id.
    fn collect_paths(&mut self) {
        for node in &self.file.nodes {
            if let raw::Node::Clients { name, mix, .. } = node {
                for m in mix {
                    if let Some(why) = bad_name(&m.path, MAX_PATH_CHARS) {
                        self.errors.push(Problem::node(name, format!("path \"{}\" {why}", shorten(&m.path))));
                    } else if !m.path.starts_with('/') {
                        self.errors.push(
                            Problem::node(name, format!("path \"{}\" does not start with '/'", m.path))
                                .at(&m.path)
                                .hint("e.g. path: \"/api/users/42\""),
                        );
                    }
                    let next = self.paths.len() as PathId;
                    self.paths.entry((method_name(m.method), m.path.clone())).or_insert(next);
                }
            }
        }
        if self.paths.len() > MAX_PATHS {
            self.errors.push(Problem::field(
                "nodes",
                format!("clients send {} distinct paths; at most {MAX_PATHS}", self.paths.len()),
            ));
        }
    }

    /// Resolves `"name"` or `"name#i"` to (node, instances).
    pub(super) fn resolve(&mut self, from: &str, reference: &str) -> Option<(NodeId, Vec<InstId>)> {
        let (name, replica) = match reference.split_once('#') {
            Some((n, r)) => (n, Some(r)),
            None => (reference, None),
        };
        let Some(&id) = self.ids.get(name) else {
            let known: Vec<&str> = self.ids.keys().copied().collect();
            let hint = match closest(name, &known) {
                Some(c) => format!("did you mean \"{c}\"?"),
                None => format!("known nodes: {}", known.join(", ")),
            };
            self.errors.push(Problem::node(from, format!("\"{reference}\" names no node")).at(reference).hint(hint));
            return None;
        };
        let node = &self.nodes[id as usize];
        match replica {
            None => Some((id, node.instances().collect())),
            Some(r) => match r.parse::<u32>() {
                Ok(i) if i < node.replicas => Some((id, vec![node.first_instance + i])),
                _ => {
                    let msg = format!("\"{reference}\": {name} has replicas #0..#{}", node.replicas - 1);
                    self.errors.push(Problem::node(from, msg).at(reference).hint("replicas are numbered from 0"));
                    None
                }
            },
        }
    }

    /// A node's `balance`, checked.
    fn balance(&mut self, name: &str, balance: raw::Balance) -> Balance {
        match balance {
            raw::Balance::RoundRobin => Balance::RoundRobin,
            raw::Balance::Random => Balance::Random,
            raw::Balance::LeastOutstanding => Balance::LeastOutstanding,
            raw::Balance::PowerOfTwo => Balance::PowerOfTwo,
            raw::Balance::LeastRequest { choice_count } => {
                let choices = choice_count.unwrap_or(DEFAULT_CHOICE_COUNT);
                if !(2..=MAX_CHOICE_COUNT).contains(&choices) {
                    self.errors.push(
                        Problem::node(
                            name,
                            format!("LeastRequest choice_count {choices} is not 2 to {MAX_CHOICE_COUNT}"),
                        )
                        .at("choice_count")
                        .hint("Envoy requires at least 2; 2 is its default (power of two choices)"),
                    );
                }
                Balance::LeastRequest { choices: choices.clamp(2, MAX_CHOICE_COUNT) }
            }
        }
    }

    /// Adds an edge from node `from` to `reference` with a policy.
    pub(super) fn edge(&mut self, from: NodeId, reference: &str, pol: &raw::Policy, label: String) -> Option<EdgeId> {
        let from_name = self.file_name(from);
        let (to, targets) = self.resolve(&from_name, reference)?;
        if matches!(self.file.nodes[to as usize], raw::Node::Clients { .. }) {
            self.errors.push(
                Problem::node(&from_name, format!("\"{reference}\" is a Clients node and cannot be called"))
                    .at(reference),
            );
            return None;
        }
        if to == from {
            self.errors.push(
                Problem::node(&from_name, format!("\"{from_name}\" calls itself"))
                    .at(reference)
                    .hint("a call cycle never ends"),
            );
            return None;
        }
        let mut msgs = Vec::new();
        let policy = policy(pol, &mut msgs);
        for m in msgs {
            self.errors
                .push(Problem::node(&from_name, format!("policy on the call to \"{reference}\": {m}")).at(reference));
        }
        let balance = self.nodes[to as usize].balance;
        self.edges.push(Edge { from, to, targets, balance, policy, label, shares_with: None });
        Some(self.edges.len() as EdgeId - 1)
    }

    fn file_name(&self, id: NodeId) -> String {
        self.nodes[id as usize].name.clone()
    }

    pub(super) fn node_dist(&mut self, node: &str, what: &str, d: Option<&raw::Dist>) -> Dist {
        match d.map(dist) {
            None => Dist::ZERO,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                self.errors.push(Problem::node(node, format!("{what}: {e}")));
                Dist::ZERO
            }
        }
    }

    fn node(&mut self, id: NodeId, node: &'a raw::Node) {
        let kind = match node {
            raw::Node::Clients { .. } => self.clients(id, node),
            raw::Node::LoadBalancer { name, targets, health_check, policy, .. } => {
                self.balancer(id, name, targets, health_check.as_ref(), policy)
            }
            raw::Node::Gateway { .. } => self.gateway(id, node),
            raw::Node::Service { name, workers, queue, work, errors, calls, sidecar, .. } => {
                let work = self.node_dist(name, "work", Some(work));
                let sidecar_cfg = sidecar.as_ref();
                let sidecar = sidecar_cfg.map(|s| self.node_dist(name, "sidecar overhead", Some(&s.overhead)));
                let inbound_adaptive = sidecar_cfg
                    .and_then(|s| s.adaptive_concurrency.as_ref())
                    .map(|a| self.inbound_adaptive(name, "sidecar: ", a));
                let mut steps = Vec::new();
                for step in calls {
                    let edges: Vec<EdgeId> = match step {
                        raw::CallStep::Call { to, policy } => {
                            self.edge(id, to, policy, format!("{name} -> {to}")).into_iter().collect()
                        }
                        raw::CallStep::Parallel(list) => {
                            if list.is_empty() {
                                self.errors.push(Problem::node(name, "Parallel([]) has no calls").at("Parallel"));
                            }
                            list.iter()
                                .filter_map(|c| self.edge(id, &c.to, &c.policy, format!("{name} -> {}", c.to)))
                                .collect()
                        }
                    };
                    if !edges.is_empty() {
                        steps.push(edges);
                    }
                }
                NodeKind::Service(ServiceConfig {
                    workers: workers.0,
                    queue: *queue,
                    work,
                    errors: errors.map_or(0.0, |e| e.0),
                    steps,
                    sidecar,
                    inbound_adaptive,
                })
            }
        };
        self.nodes[id as usize].kind = kind;
    }

    /// The adaptive concurrency limit on a node's inbound side (a service's
    /// sidecar, a gateway's own filter chain); problems start with `what`.
    pub(super) fn inbound_adaptive(
        &mut self,
        name: &str,
        what: &str,
        a: &raw::AdaptiveConcurrency,
    ) -> Box<crate::mechanisms::adaptive::AdaptiveConfig> {
        let mut msgs = Vec::new();
        let config = super::policy::adaptive(a, &mut msgs);
        for m in msgs {
            self.errors.push(Problem::node(name, format!("{what}{m}")).at("adaptive_concurrency"));
        }
        Box::new(config)
    }

    fn clients(&mut self, id: NodeId, node: &'a raw::Node) -> NodeKind {
        let raw::Node::Clients { name, target, load, mix, users, skew, invalid_tokens, policy, honor_retry_after } =
            node
        else {
            unreachable!("called for Clients only")
        };
        let edge = self.edge(id, target, policy, format!("{name} -> {target}")).unwrap_or(0);
        let load = match load {
            raw::Load::Poisson { rps } => Load::Poisson { rps: rps.0 },
            raw::Load::Closed { users, think } => {
                Load::Closed { users: users.0, think: self.node_dist(name, "think", Some(think)) }
            }
            raw::Load::Profile(steps) => {
                if steps.is_empty() {
                    self.errors.push(
                        Problem::node(name, "Profile([]) has no steps")
                            .at("Profile")
                            .hint("e.g. Profile([(at: \"0s\", rps: 500)])"),
                    );
                }
                if steps.windows(2).any(|w| w[1].at <= w[0].at) {
                    self.errors
                        .push(Problem::node(name, "Profile steps must be in increasing order of `at`").at("Profile"));
                }
                Load::Profile(steps.iter().map(|s| (SimTime(s.at.0.as_nanos()), s.rps.0)).collect())
            }
        };
        if mix.is_empty() {
            self.errors.push(
                Problem::node(name, "the request mix is empty")
                    .at("mix")
                    .hint("add (weight: 1, method: Get, path: \"/\")"),
            );
        }
        let total: f64 = mix.iter().map(|m| m.weight.map_or(1.0, |w| w.0)).sum();
        if !mix.is_empty() && total <= 0.0 {
            self.errors.push(Problem::node(name, "every weight of the mix is 0").at("mix"));
        }
        let mut cumulative = 0.0;
        let mut out = Vec::new();
        for (i, m) in mix.iter().enumerate() {
            cumulative += m.weight.map_or(1.0, |w| w.0) / total;
            let c = if i + 1 == mix.len() { 1.0 } else { cumulative };
            let path = self.paths.get(&(method_name(m.method), m.path.clone())).copied().unwrap_or(0);
            out.push((c, path, priority(m)));
        }
        let users = users.map_or(1000, |u| u.0);
        let user_base = self.nodes[..id as usize]
            .iter()
            .zip(&self.file.nodes)
            .filter_map(|(_, n)| match n {
                raw::Node::Clients { users, .. } => Some(users.map_or(1000u64, |u| u64::from(u.0))),
                _ => None,
            })
            .sum::<u64>();
        if user_base + u64::from(users) > u64::from(u32::MAX) {
            self.errors.push(Problem::node(name, "too many users in total (more than 4 billion)").at("users"));
        }
        NodeKind::Clients(ClientsConfig {
            edge,
            load,
            mix: out,
            users,
            user_base: user_base.min(u64::from(u32::MAX)) as u32,
            skew: skew.map_or(0.0, |s| s.0),
            invalid_tokens: invalid_tokens.map_or(0.0, |f| f.0),
            honor_retry_after: honor_retry_after.unwrap_or(false),
        })
    }

    fn balancer(
        &mut self,
        id: NodeId,
        name: &str,
        targets: &[String],
        hc: Option<&raw::HealthCheck>,
        pol: &raw::Policy,
    ) -> NodeKind {
        if targets.is_empty() {
            self.errors.push(Problem::node(name, "the balancer has no targets").at("targets"));
        }
        // One edge over the union of all targets' instances; every target
        // gets the same checks as any call (exists, not a client, not itself).
        let mut all = Vec::new();
        let mut first = None;
        for t in targets {
            if self.edge(id, t, pol, format!("{name} -> {t}")).is_none() {
                continue;
            }
            let edge = self.edges.pop().expect("just added");
            all.extend(edge.targets.iter().copied());
            first.get_or_insert(edge);
        }
        all.sort_unstable();
        all.dedup();
        let edge = match first {
            Some(mut edge) => {
                edge.targets = all;
                edge.balance = self.nodes[id as usize].balance;
                edge.label = format!("{name} -> {}", targets.join(", "));
                self.edges.push(edge);
                self.edges.len() as EdgeId - 1
            }
            None => 0,
        };
        if let Some(h) = hc
            && h.interval.0 < MIN_PROBE_INTERVAL
        {
            self.errors.push(
                Problem::node(name, format!("health_check interval {} is below {MIN_PROBE_INTERVAL}", h.interval.0))
                    .at("interval")
                    .hint("real balancers probe every few seconds, e.g. interval: \"1s\""),
            );
        }
        NodeKind::Balancer(BalancerConfig {
            edge,
            health_check: hc.map(|h| HealthCheck {
                interval: h.interval.0.max(SimDuration(1)),
                timeout: h.timeout.0,
                unhealthy_after: h.unhealthy_after.0,
                healthy_after: h.healthy_after.0,
            }),
        })
    }
}

impl Builder<'_> {
    fn topology(&self) -> DiGraph<NodeId, EdgeId> {
        let mut g = DiGraph::with_capacity(self.nodes.len(), self.edges.len());
        let idx: Vec<NodeIndex> = (0..self.nodes.len() as NodeId).map(|i| g.add_node(i)).collect();
        for (e, edge) in self.edges.iter().enumerate() {
            // One arc per node the edge can reach (a balancer may reach several).
            let mut to: Vec<NodeId> = edge.targets.iter().map(|&i| self.instances[i as usize].node).collect();
            to.push(edge.to);
            to.sort_unstable();
            to.dedup();
            for t in to {
                if (edge.from as usize) < idx.len() && (t as usize) < idx.len() {
                    g.add_edge(idx[edge.from as usize], idx[t as usize], e as EdgeId);
                }
            }
        }
        g
    }

    /// Calls of one caller naming the same cluster share one caller-side
    /// state (`Edge::shares_with`), so they must agree on what it is made of.
    fn clusters(&mut self) {
        let mut first: BTreeMap<(NodeId, String), EdgeId> = BTreeMap::new();
        for e in 0..self.edges.len() {
            let Some(name) = self.edges[e].policy.cluster.clone() else { continue };
            let from = self.edges[e].from;
            let Some(&leader) = first.get(&(from, name.clone())) else {
                if let Some(why) =
                    bad_name(&name, MAX_NAME_CHARS).or_else(|| name.is_empty().then(|| "is empty".into()))
                {
                    let msg = format!("cluster name {why}");
                    self.errors.push(Problem::node(&self.file_name(from), msg).at(&name));
                }
                first.insert((from, name), e as EdgeId);
                continue;
            };
            let (a, b) = (&self.edges[leader as usize], &self.edges[e]);
            match cluster_difference(a, b) {
                None => self.edges[e].shares_with = Some(leader),
                Some(what) => {
                    let msg = format!("cluster \"{}\": {} and {} differ in {what}", shorten(&name), a.label, b.label);
                    self.errors.push(Problem::node(&self.file_name(from), msg).at(&name).hint(
                        "calls in one cluster share its breaker, bulkhead, thresholds, retry budget, outlier detection, \
                         panic threshold, adaptive limit and balancer (timeouts and retries stay per call): give them \
                         the same, or name different clusters",
                    ));
                }
            }
        }
    }

    /// A call cycle would make a request recurse for ever: refuse it.
    fn check_cycles(&mut self, g: &DiGraph<NodeId, EdgeId>) {
        for scc in petgraph::algo::tarjan_scc(g) {
            if scc.len() > 1 {
                let mut names: Vec<String> = scc.iter().map(|n| self.nodes[g[*n] as usize].name.clone()).collect();
                names.sort();
                let first = names[0].clone();
                self.errors.push(
                    Problem::node(&first, format!("call cycle between {}", names.join(", ")))
                        .hint("a request that calls back into a node it came from never ends; break the cycle"),
                );
            }
        }
    }
}

/// What two calls of one cluster disagree on, if anything.
fn cluster_difference(a: &Edge, b: &Edge) -> Option<&'static str> {
    let (p, q) = (&a.policy, &b.policy);
    let budget = |p: &Policy| p.retry.as_ref().and_then(|r| r.budget);
    if a.to != b.to || a.targets != b.targets {
        Some("the node they call")
    } else if a.balance != b.balance {
        Some("balancing")
    } else if p.breaker != q.breaker {
        Some("breaker")
    } else if (p.bulkhead, p.bulkhead_trips_breaker) != (q.bulkhead, q.bulkhead_trips_breaker) {
        Some("bulkhead")
    } else if p.thresholds != q.thresholds {
        Some("thresholds")
    } else if budget(p) != budget(q) {
        Some("retry budget")
    } else if p.outlier != q.outlier {
        Some("outlier_detection")
    } else if p.adaptive != q.adaptive {
        Some("adaptive_concurrency")
    } else if p.panic_threshold != q.panic_threshold {
        Some("healthy_panic_threshold")
    } else if p.fail_on_panic != q.fail_on_panic {
        Some("fail_traffic_on_panic")
    } else {
        None
    }
}

/// The outcomes an SLO's success rate leaves out; by default the ones the
/// client causes (401, 404, 429), as SRE practice counts availability.
fn slo_exclude(list: Option<&[raw::SloOutcome]>) -> crate::model::outcome::OutcomeSet {
    use crate::model::outcome::{Outcome, OutcomeSet};
    let Some(list) = list else {
        return OutcomeSet::of(&[Outcome::Unauthorized, Outcome::NotFound, Outcome::RateLimited]);
    };
    let outcomes: Vec<Outcome> = list
        .iter()
        .map(|o| match o {
            raw::SloOutcome::Error => Outcome::Error,
            raw::SloOutcome::Timeout => Outcome::Timeout,
            raw::SloOutcome::RateLimited => Outcome::RateLimited,
            raw::SloOutcome::Unauthorized => Outcome::Unauthorized,
            raw::SloOutcome::NotFound => Outcome::NotFound,
            raw::SloOutcome::Rejected => Outcome::Rejected,
            raw::SloOutcome::ShortCircuited => Outcome::ShortCircuited,
            raw::SloOutcome::Unavailable => Outcome::Unavailable,
        })
        .collect();
    OutcomeSet::of(&outcomes)
}

fn method_name(m: Option<raw::Method>) -> &'static str {
    match m.unwrap_or(raw::Method::Get) {
        raw::Method::Get => "GET",
        raw::Method::Post => "POST",
        raw::Method::Put => "PUT",
        raw::Method::Patch => "PATCH",
        raw::Method::Delete => "DELETE",
        raw::Method::Head => "HEAD",
        raw::Method::Options => "OPTIONS",
    }
}

/// A name as messages show it: at most 40 characters, control characters escaped.
pub fn shorten(name: &str) -> String {
    let short: String =
        if name.chars().count() <= 40 { name.to_string() } else { name.chars().take(39).collect::<String>() + "…" };
    if short.chars().any(char::is_control) { short.escape_debug().to_string() } else { short }
}

/// The known name closest to `name` (edit distance at most 2), for hints.
pub fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    // Two edits turn any short name into another: allow one for those.
    let max = if name.chars().count() <= 4 { 1 } else { 2 };
    known.iter().map(|k| (edit_distance(name, k), *k)).filter(|(d, _)| *d <= max).min().map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

pub fn limit_config(rl: &raw::RateLimit) -> LimitConfig {
    LimitConfig {
        limit: u64::from(rl.limit.0),
        per: rl.per.0.max(SimDuration(1)),
        algorithm: match rl.algorithm {
            raw::Algorithm::TokenBucket { burst } => Algorithm::TokenBucket { burst: burst.0 },
            raw::Algorithm::FixedWindow => Algorithm::FixedWindow,
            raw::Algorithm::SlidingWindow => Algorithm::SlidingWindow { penalty: rl.disable_penalty != Some(true) },
        },
    }
}

/// A mix entry's class: as written, or by its method (GET and HEAD read,
/// everything else writes).
fn priority(m: &raw::MixEntry) -> crate::mechanisms::shed::Priority {
    use crate::mechanisms::shed::Priority;
    match (m.priority, m.method) {
        (Some(raw::Priority::Critical), _) => Priority::Critical,
        (Some(raw::Priority::Post), _) => Priority::Post,
        (Some(raw::Priority::Get), _) => Priority::Get,
        (Some(raw::Priority::Test), _) => Priority::Test,
        (None, None | Some(raw::Method::Get | raw::Method::Head)) => Priority::Get,
        (None, Some(_)) => Priority::Post,
    }
}
