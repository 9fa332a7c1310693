//! What one trace says, added to what all traces said: per service its
//! own time, its calls (which services, in which steps), its errors and
//! instances; the entry spans' routes and start times (the load); the
//! network delay from client/server span pairs.
//!
//! A service's *entry span* is a span whose parent is missing or belongs
//! to another service. Its *calls* are the entry spans of other services
//! below it, reached through its own client and internal spans; a call's
//! time is its client span's (the caller's view) when there is one. Own
//! time = the entry span's duration minus the union of its calls' times.
//! Calls that overlap in time form one parallel step; a call marked as a
//! resend (`http.request.resend_count` > 0) is a retry of the call before
//! it to the same service, not a call of its own.

use std::collections::{BTreeMap, BTreeSet};

use hdrhistogram::Histogram;

use super::span::{Kind, NONE, Span};

/// The steps of a request's calls: each step the services called at once.
pub(super) type Signature = Vec<Vec<u32>>;

/// Jaeger rounds times to microseconds: a child may seem to begin 1 µs early.
const SKEW_TOLERANCE_NS: u64 = 1_000;
/// Width of the buckets in which each instance's busy time is summed.
pub(super) const BUSY_BUCKET_NS: u64 = 100_000_000;
/// At most this many busy buckets are kept, over all services.
const MAX_BUSY_BUCKETS: usize = 2_000_000;
/// A span longer than this many buckets (about 3 hours) adds no busy time.
const MAX_BUCKETS_PER_SPAN: u64 = 100_000;
/// At most this many calls of one span make its call structure.
const MAX_SIGNATURE_CALLS: usize = 256;
/// At most this many distinct call structures are kept per service.
const MAX_SIGNATURES: usize = 1_000;

/// Durations in nanoseconds, to 1% (2 significant figures), from 1 ns to
/// an hour (longer ones count as an hour): about 18 KB each, whatever the
/// file holds, so 10,000 services stay within a few hundred MB.
pub(super) type Hist = Histogram<u32>;

const HIST_MAX_NS: u64 = 3_600_000_000_000;

pub(super) fn histogram() -> Hist {
    Histogram::new_with_bounds(1, HIST_MAX_NS, 2).expect("valid histogram bounds")
}

/// Records `ns` (clamped to the histogram's hour).
pub(super) fn record(h: &mut Hist, ns: u64) {
    let _ = h.record(ns.min(HIST_MAX_NS));
}

/// One service, over all its entry spans.
pub(super) struct ServiceStats {
    pub(super) spans: u64,
    /// Entry spans with an error status.
    pub(super) errors: u64,
    /// ... whose calls all succeeded: the service's own errors.
    pub(super) own_errors: u64,
    pub(super) own: Hist,
    pub(super) signatures: BTreeMap<Signature, u64>,
    /// Entry spans that called each service at least once.
    pub(super) calls_to: BTreeMap<u32, u64>,
    /// Entry spans with at most one call (a proxy makes one).
    pub(super) single_call: u64,
    pub(super) instances: BTreeSet<u32>,
    /// Busy nanoseconds per (instance, bucket).
    pub(super) busy: BTreeMap<(u32, u64), u64>,
    /// Entry spans that began a request (a root, or called by a client root).
    pub(super) front: u64,
    /// Their routes and call structures.
    pub(super) front_routes: BTreeMap<u32, BTreeMap<Signature, u64>>,
    pub(super) first_start: u64,
    pub(super) last_start: u64,
    /// Durations of its front spans (the latency it served).
    pub(super) latency: Hist,
    /// Per callee: retries it sent (resends) and the highest resend number.
    pub(super) resends_to: BTreeMap<u32, (u64, u32)>,
}

impl Default for ServiceStats {
    fn default() -> Self {
        ServiceStats {
            spans: 0,
            errors: 0,
            own_errors: 0,
            own: histogram(),
            signatures: BTreeMap::new(),
            calls_to: BTreeMap::new(),
            single_call: 0,
            instances: BTreeSet::new(),
            busy: BTreeMap::new(),
            front: 0,
            front_routes: BTreeMap::new(),
            first_start: u64::MAX,
            last_start: 0,
            latency: histogram(),
            resends_to: BTreeMap::new(),
        }
    }
}

/// A client root: a root `CLIENT` span, the caller outside the system.
pub(super) struct ClientStats {
    pub(super) requests: u64,
    pub(super) first_start: u64,
    pub(super) last_start: u64,
    pub(super) routes: BTreeMap<u32, u64>,
    pub(super) targets: BTreeMap<u32, u64>,
    pub(super) latency: Hist,
}

impl Default for ClientStats {
    fn default() -> Self {
        ClientStats {
            requests: 0,
            first_start: u64::MAX,
            last_start: 0,
            routes: BTreeMap::new(),
            targets: BTreeMap::new(),
            latency: histogram(),
        }
    }
}

#[derive(Default)]
pub(super) struct Stats {
    /// Sum busy time per instance (`--workers-from-concurrency` only).
    pub(super) track_busy: bool,
    pub(super) busy_buckets: usize,
    pub(super) services: Vec<ServiceStats>,
    pub(super) clients: BTreeMap<u32, ClientStats>,
    /// Half the difference of a client span and the server span it called.
    pub(super) network: Option<Hist>,
    pub(super) traces: u64,
    pub(super) spans: u64,
    pub(super) missing_parent: u64,
    /// Children that begin before their parent.
    pub(super) skewed: u64,
    /// Spans seen twice (same trace and span id).
    pub(super) duplicates: u64,
}

/// One call seen from its caller.
#[derive(Clone, Copy)]
struct Seen {
    target: u32,
    start: u64,
    end: u64,
    error: bool,
    resend: u32,
}

/// A trace's spans sorted by id, with each span's children.
struct Tree<'a> {
    spans: &'a [Span],
    parent: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
}

impl<'a> Tree<'a> {
    fn new(spans: &'a [Span], stats: &mut Stats) -> Self {
        let find = |id: u64| spans.binary_search_by_key(&id, |s| s.id).ok();
        let mut parent = vec![None; spans.len()];
        let mut children = vec![Vec::new(); spans.len()];
        for (i, s) in spans.iter().enumerate() {
            if s.parent == 0 {
                continue;
            }
            match find(s.parent).filter(|&p| p != i) {
                Some(p) => {
                    parent[i] = Some(p);
                    children[p].push(i);
                    // A child may outlive its parent (a callee still working
                    // after its caller timed out); one that begins first is skew.
                    if s.start.saturating_add(SKEW_TOLERANCE_NS) < spans[p].start {
                        stats.skewed += 1;
                    }
                }
                None => stats.missing_parent += 1,
            }
        }
        for c in &mut children {
            c.sort_by_key(|&i| (spans[i].start, i));
        }
        Tree { spans, parent, children }
    }

    fn is_entry(&self, i: usize) -> bool {
        self.parent[i].is_none_or(|p| self.spans[p].service != self.spans[i].service)
    }

    fn is_client_root(&self, i: usize) -> bool {
        self.parent[i].is_none() && self.spans[i].kind == Kind::Client
    }

    /// Whether entry span `i` began a request: it is a root, or its caller
    /// is a client root (through the client's own attempt spans).
    fn is_front(&self, i: usize) -> bool {
        let Some(mut p) = self.parent[i] else { return true };
        // At most one step per span: parent links in a file may form a loop.
        for _ in 0..self.spans.len() {
            match self.parent[p].filter(|&up| self.spans[up].service == self.spans[p].service) {
                Some(up) => p = up,
                None => break,
            }
        }
        self.is_client_root(p)
    }
}

impl Stats {
    /// Adds one trace (its spans in any order).
    pub(super) fn trace(&mut self, spans: &mut Vec<Span>) {
        spans.sort_by_key(|s| s.id);
        // The same span in two files (overlapping exports) counts once.
        let before = spans.len();
        spans.dedup_by_key(|s| s.id);
        self.duplicates += (before - spans.len()) as u64;
        self.traces += 1;
        self.spans += spans.len() as u64;
        let tree = Tree::new(spans, self);
        for i in 0..spans.len() {
            if tree.is_client_root(i) {
                self.client_root(&tree, i);
            } else if tree.is_entry(i) {
                self.entry(&tree, i);
            }
        }
    }

    fn client_root(&mut self, tree: &Tree, i: usize) {
        let s = &tree.spans[i];
        let calls = self.calls(tree, i);
        let c = self.clients.entry(s.service).or_default();
        c.requests += 1;
        c.first_start = c.first_start.min(s.start);
        c.last_start = c.last_start.max(s.start);
        *c.routes.entry(s.route).or_default() += 1;
        if let Some(first) = calls.iter().find(|c| c.target != NONE) {
            *c.targets.entry(first.target).or_default() += 1;
        }
        record(&mut c.latency, s.duration());
    }

    fn entry(&mut self, tree: &Tree, i: usize) {
        let s = tree.spans[i];
        let mut calls = self.calls(tree, i);
        let resends: Vec<(u32, u32)> =
            calls.iter().filter(|c| c.resend > 0 && c.target != NONE).map(|c| (c.target, c.resend)).collect();
        // Joined first, so that the back-off between a call and its retry
        // is waiting, not the service's own work.
        merge_retries(&mut calls);
        let own = s.duration().saturating_sub(covered(&calls, s.start, s.end));
        let signature = signature(&calls);
        let front = tree.is_front(i);
        let idx = s.service as usize;
        if self.services.len() <= idx {
            self.services.resize_with(idx + 1, ServiceStats::default);
        }
        let st = &mut self.services[idx];
        st.spans += 1;
        for (target, n) in resends {
            let r = st.resends_to.entry(target).or_default();
            (r.0, r.1) = (r.0 + 1, r.1.max(n));
        }
        st.errors += u64::from(s.error);
        st.own_errors += u64::from(s.error && !calls.iter().any(|c| c.error));
        record(&mut st.own, own);
        let targets: BTreeSet<u32> = calls.iter().map(|c| c.target).filter(|&t| t != NONE).collect();
        for t in targets {
            *st.calls_to.entry(t).or_default() += 1;
        }
        st.single_call += u64::from(calls.len() <= 1);
        if s.instance != NONE {
            st.instances.insert(s.instance);
        }
        if self.track_busy {
            add_busy(&mut st.busy, &mut self.busy_buckets, s.instance, s.start, s.end);
        }
        if front {
            st.front += 1;
            st.first_start = st.first_start.min(s.start);
            st.last_start = st.last_start.max(s.start);
            record(&mut st.latency, s.duration());
            if st.front_routes.len() < MAX_SIGNATURES || st.front_routes.contains_key(&s.route) {
                let sigs = st.front_routes.entry(s.route).or_default();
                if sigs.len() < MAX_SIGNATURES || sigs.contains_key(&signature) {
                    *sigs.entry(signature.clone()).or_default() += 1;
                }
            }
        }
        if st.signatures.len() < MAX_SIGNATURES || st.signatures.contains_key(&signature) {
            *st.signatures.entry(signature).or_default() += 1;
        }
    }

    /// The calls made below span `i`, in the order they began.
    fn calls(&mut self, tree: &Tree, i: usize) -> Vec<Seen> {
        let me = tree.spans[i].service;
        let mut out = Vec::new();
        let mut stack: Vec<(usize, Option<usize>)> = tree.children[i].iter().rev().map(|&c| (c, None)).collect();
        // A tree has as many spans to visit as it has spans; parent links
        // that loop (a broken file) would visit them for ever.
        let mut budget = tree.spans.len();
        while let Some((c, outer)) = stack.pop() {
            if budget == 0 {
                break;
            }
            budget -= 1;
            let s = &tree.spans[c];
            if s.service != me {
                let view = outer.map_or(*s, |o| tree.spans[o]);
                if let Some(o) = outer {
                    self.network_sample(tree.spans[o].duration(), s.duration());
                }
                let resend = view.resend.max(s.resend);
                out.push(Seen { target: s.service, start: view.start, end: view.end, error: s.error, resend });
                continue;
            }
            if s.kind == Kind::Client && tree.children[c].is_empty() {
                // A call to something that left no span: its time is not the service's own.
                out.push(Seen { target: NONE, start: s.start, end: s.end, error: s.error, resend: s.resend });
                continue;
            }
            let outer = if s.kind == Kind::Client { Some(c) } else { outer };
            stack.extend(tree.children[c].iter().rev().map(|&k| (k, outer)));
        }
        out.sort_by_key(|c| (c.start, c.end));
        out
    }

    fn network_sample(&mut self, client: u64, server: u64) {
        // A callee that outlasts its caller's span was given up on: no sample.
        let Some(two_ways) = client.checked_sub(server) else { return };
        record(self.network.get_or_insert_with(histogram), two_ways / 2);
    }
}

/// Time within [start, end] covered by at least one call.
fn covered(calls: &[Seen], start: u64, end: u64) -> u64 {
    let mut total = 0;
    let mut reach = start;
    for c in calls {
        let (a, b) = (c.start.clamp(start, end), c.end.clamp(start, end));
        let a = a.max(reach);
        if b > a {
            total += b - a;
            reach = b;
        }
    }
    total
}

/// A resend joins the call before it to the same service.
fn merge_retries(calls: &mut Vec<Seen>) {
    let mut out: Vec<Seen> = Vec::with_capacity(calls.len());
    for c in calls.drain(..) {
        match out.iter_mut().rev().find(|o| o.target == c.target).filter(|_| c.resend > 0) {
            Some(first) => {
                first.end = first.end.max(c.end);
                first.error = c.error;
            }
            None => out.push(c),
        }
    }
    *calls = out;
}

/// Steps of overlapping calls, each step's services sorted.
fn signature(calls: &[Seen]) -> Signature {
    let mut steps: Signature = Vec::new();
    let mut step_end = 0;
    for c in calls.iter().filter(|c| c.target != NONE).take(MAX_SIGNATURE_CALLS) {
        match steps.last_mut() {
            Some(step) if c.start < step_end => {
                step.push(c.target);
                step_end = step_end.max(c.end);
            }
            _ => {
                steps.push(vec![c.target]);
                step_end = c.end;
            }
        }
    }
    for s in &mut steps {
        s.sort_unstable();
    }
    steps
}

fn add_busy(busy: &mut BTreeMap<(u32, u64), u64>, kept: &mut usize, instance: u32, start: u64, end: u64) {
    if (end - start.min(end)) / BUSY_BUCKET_NS > MAX_BUCKETS_PER_SPAN {
        return;
    }
    let mut t = start;
    while t < end {
        let bucket = t / BUSY_BUCKET_NS;
        let stop = end.min((bucket + 1) * BUSY_BUCKET_NS);
        match busy.get_mut(&(instance, bucket)) {
            Some(b) => *b += stop - t,
            None if *kept < MAX_BUSY_BUCKETS => {
                busy.insert((instance, bucket), stop - t);
                *kept += 1;
            }
            None => return,
        }
        t = stop;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(target: u32, start: u64, end: u64) -> Seen {
        Seen { target, start, end, error: false, resend: 0 }
    }

    #[test]
    fn overlapping_calls_are_one_parallel_step() {
        let calls = [seen(1, 0, 10), seen(2, 2, 8), seen(3, 12, 20)];
        assert_eq!(signature(&calls), vec![vec![1, 2], vec![3]]);
        assert_eq!(covered(&calls, 0, 30), 18);
    }

    #[test]
    fn a_resend_is_a_retry_of_the_call_before() {
        let mut calls = vec![seen(1, 0, 10), Seen { resend: 1, ..seen(1, 12, 20) }, seen(2, 21, 25)];
        merge_retries(&mut calls);
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].start, calls[0].end), (0, 20));
        // The back-off (10..12) is covered: waiting on the call, not own work.
        assert_eq!(covered(&calls, 0, 30), 24);
    }

    #[test]
    fn busy_time_is_split_over_buckets() {
        let (mut b, mut kept) = (BTreeMap::new(), 0);
        add_busy(&mut b, &mut kept, 0, BUSY_BUCKET_NS / 2, BUSY_BUCKET_NS * 2);
        assert_eq!(kept, 2);
        assert_eq!(b.get(&(0, 0)), Some(&(BUSY_BUCKET_NS / 2)));
        assert_eq!(b.get(&(0, 1)), Some(&BUSY_BUCKET_NS));
    }
}
