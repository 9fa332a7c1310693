//! Puts spans back into traces, in bounded memory: spans wait, grouped by
//! trace id, until their trace is taken to be complete. Exports are
//! written in batches as spans end, so a trace's spans arrive close
//! together; when more than `MAX_WAITING` spans wait, the oldest trace is
//! analysed as it is (a span of it arriving later is then a span whose
//! parent is missing, and counted as such).

use std::collections::{BTreeMap, VecDeque};

use super::span::{Interner, Span};
use super::stats::Stats;

/// Spans held at most while their traces are being put together.
pub(super) const MAX_WAITING: usize = 200_000;

/// At most this many distinct services, instances and routes are told
/// apart; beyond, they are left out (and the user is told).
const MAX_NAMES: usize = 10_000;

pub(super) struct Assembler {
    pub(super) services: Interner,
    pub(super) instances: Interner,
    pub(super) routes: Interner,
    waiting: BTreeMap<u128, Vec<Span>>,
    order: VecDeque<u128>,
    held: usize,
    /// Spans without a usable trace or span id.
    pub(super) bad_ids: u64,
    /// Spans beyond the name caps (service, instance or route unknown).
    pub(super) unnamed: u64,
    /// Spans that end before they begin (taken as lasting no time).
    pub(super) backwards: u64,
    /// Traces analysed before all their spans could have arrived.
    pub(super) cut_short: u64,
    pub(super) stats: Stats,
}

impl Assembler {
    /// `track_busy`: sum each instance's busy time (for `--workers-from-concurrency`).
    pub(super) fn new(track_busy: bool) -> Self {
        Assembler {
            services: Interner::new(MAX_NAMES),
            instances: Interner::new(MAX_NAMES),
            routes: Interner::new(MAX_NAMES),
            waiting: BTreeMap::new(),
            order: VecDeque::new(),
            held: 0,
            bad_ids: 0,
            unnamed: 0,
            backwards: 0,
            cut_short: 0,
            stats: Stats { track_busy, ..Stats::default() },
        }
    }

    pub(super) fn push(&mut self, mut span: Span) {
        if span.end < span.start {
            // A broken clock or file: every later step assumes end >= start.
            self.backwards += 1;
            span.end = span.start;
        }
        if span.id == 0 || span.trace == 0 {
            self.bad_ids += 1;
            return;
        }
        if span.service == super::span::NONE {
            self.unnamed += 1;
            return;
        }
        let spans = self.waiting.entry(span.trace).or_insert_with(|| {
            self.order.push_back(span.trace);
            Vec::new()
        });
        spans.push(span);
        self.held += 1;
        while self.held > MAX_WAITING {
            self.cut_short += 1;
            self.analyse_oldest();
        }
    }

    fn analyse_oldest(&mut self) {
        let Some(trace) = self.order.pop_front() else { return };
        if let Some(mut spans) = self.waiting.remove(&trace) {
            self.held -= spans.len();
            self.stats.trace(&mut spans);
        }
    }

    /// Analyses every trace still waiting and returns what they showed.
    pub(super) fn finish(mut self) -> Finished {
        while !self.order.is_empty() {
            self.analyse_oldest();
        }
        Finished {
            services: self.services.names,
            instances_overflowed: self.instances.overflowed,
            routes: self.routes.names,
            bad_ids: self.bad_ids,
            unnamed: self.unnamed,
            backwards: self.backwards,
            cut_short: self.cut_short,
            stats: self.stats,
        }
    }
}

/// Everything read, ready to be written as a scenario.
pub(super) struct Finished {
    pub(super) services: Vec<String>,
    pub(super) instances_overflowed: bool,
    pub(super) routes: Vec<String>,
    pub(super) bad_ids: u64,
    pub(super) unnamed: u64,
    pub(super) backwards: u64,
    pub(super) cut_short: u64,
    pub(super) stats: Stats,
}
