//! Simulated requests as traces (`report: (trace: SHARE)`): a sampled
//! request's every hop becomes a span, as a distributed tracer would
//! record it: the client's request (the root), each attempt a caller
//! sends (a client span, its retry number and whether it is a hedge), and
//! each instance's handling of it (a server span, from arrival to answer).
//!
//! Sampling is per request, from each client's own `trace` stream, so it
//! changes no other random number. Span ids come in pairs: an attempt is
//! `n`, the callee's handling of it `n + 1`, so nothing but the id travels
//! with the request (`Ctx::span`). Memory is bounded: after
//! `MAX_TRACE_SPANS` spans no new request is sampled.

use crate::engine::SimTime;

use super::config::{InstId, PathId};
use super::outcome::Outcome;
use super::world::{Ctx, World};

/// Spans kept at most (about 48 MB); later requests are not sampled.
const MAX_TRACE_SPANS: usize = 1_000_000;

/// The spans' memory for `requests` requests of which `share` are traced,
/// each crossing at most `nodes` nodes (an attempt and a serve span per
/// hop, and a retry or two): bounded by `MAX_TRACE_SPANS`.
pub(super) fn memory_bytes(share: Option<f64>, requests: u64, nodes: usize) -> u64 {
    let Some(share) = share else { return 0 };
    let spans = (requests as f64 * share * (1.0 + 3.0 * nodes as f64)).min(MAX_TRACE_SPANS as f64);
    spans as u64 * std::mem::size_of::<SpanRecord>() as u64
}

/// What a span stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// A client's request, from issue to its end (retries included).
    Request,
    /// One attempt a caller sent (OpenTelemetry `CLIENT`).
    Attempt,
    /// An instance handling an attempt (OpenTelemetry `SERVER`).
    Serve,
}

/// One finished span. Ids are unique within a run; `parent` 0 is none.
#[derive(Clone, Copy, Debug)]
pub struct SpanRecord {
    /// The sampled request's number, from 1.
    pub trace: u32,
    pub id: u32,
    pub parent: u32,
    pub kind: SpanKind,
    /// The instance that recorded it (the caller's for a request or an attempt).
    pub inst: InstId,
    pub path: PathId,
    pub start: SimTime,
    pub end: SimTime,
    pub outcome: Outcome,
    /// The attempt's number within its call (0: the first, n: the n-th retry).
    pub retry: u16,
    pub hedge: bool,
    /// The caller gave up on it (timeout, cancellation) before an answer.
    pub unanswered: bool,
    /// The caller cancelled it (another attempt won, or its own caller gave up).
    pub cancelled: bool,
    /// An attempt's caller-side edge (its breaker's index in
    /// `BreakerEvent::breaker`); `u32::MAX` for other spans.
    pub edge_state: u32,
}

/// Where a sampled request's spans go.
pub struct Tracer {
    share: f64,
    next_id: u32,
    traces: u32,
    pub spans: Vec<SpanRecord>,
    /// Requests that would have been sampled after the span limit.
    pub not_sampled: u64,
}

impl Tracer {
    pub(super) fn new(share: f64) -> Self {
        Tracer { share, next_id: 1, traces: 0, spans: Vec::new(), not_sampled: 0 }
    }

    /// What was traced, in a sentence for the person who ran it.
    pub fn note(&self) -> String {
        let mut s = format!(
            "traced {} requests ({}% sampled), {} spans: trace.json (OTLP/JSON), trace.perfetto.json (Perfetto)",
            self.traces,
            self.share * 100.0,
            self.spans.len()
        );
        if self.not_sampled > 0 {
            s.push_str(&format!(
                "; sampling stopped at {MAX_TRACE_SPANS} spans: {} later requests were not traced (lower `trace`)",
                self.not_sampled
            ));
        }
        s
    }

    /// A new trace for a request whose draw was `u` in [0, 1): its trace
    /// number and root span id, or `None` if it is not sampled.
    pub(super) fn sample(&mut self, u: f64) -> Option<(u32, u32)> {
        if u >= self.share {
            return None;
        }
        if self.spans.len() >= MAX_TRACE_SPANS || self.next_id > u32::MAX - 2 {
            self.not_sampled += 1;
            return None;
        }
        self.traces += 1;
        let root = self.next_id;
        self.next_id += 1;
        Some((self.traces, root))
    }

    /// Ids for an attempt and the callee's handling of it (`id`, `id + 1`).
    pub(super) fn pair(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(2);
        id
    }

    pub(super) fn record(&mut self, span: SpanRecord) {
        self.spans.push(span);
    }
}

/// When a hop began and how it ended.
#[derive(Clone, Copy)]
pub(super) struct Ended {
    pub(super) start: SimTime,
    pub(super) end: SimTime,
    pub(super) outcome: Outcome,
    pub(super) answered: bool,
    pub(super) cancelled: bool,
}

/// An attempt's place within its call.
#[derive(Clone, Copy)]
pub(super) struct Try {
    /// The caller's span (the parent of the attempt).
    pub(super) parent: u32,
    pub(super) retry: u16,
    pub(super) hedge: bool,
    /// The caller's edge state (its breaker's index).
    pub(super) edge_state: u32,
}

impl Ctx {
    /// The context a server works under: its span is the attempt's `+ 1`.
    pub(super) fn served(self) -> Ctx {
        if self.trace == 0 { self } else { Ctx { span: self.span + 1, ..self } }
    }
}

impl World<'_> {
    fn push_span(&mut self, ctx: &Ctx, kind: SpanKind, inst: InstId, parent: u32, e: Ended, t: Option<Try>) {
        let Some(tracer) = &mut self.tracer else { return };
        let (retry, hedge, edge_state) = t.map_or((0, false, u32::MAX), |t| (t.retry, t.hedge, t.edge_state));
        tracer.record(SpanRecord {
            trace: ctx.trace,
            id: ctx.span,
            parent,
            kind,
            inst,
            path: ctx.path,
            start: e.start,
            end: e.end,
            outcome: e.outcome,
            retry,
            hedge,
            unanswered: !e.answered,
            cancelled: e.cancelled,
            edge_state,
        });
    }

    /// A client's request ended: its root span.
    pub(super) fn trace_request(&mut self, ctx: &Ctx, inst: InstId, e: Ended) {
        if ctx.trace != 0 {
            self.push_span(ctx, SpanKind::Request, inst, 0, e, None);
        }
    }

    /// An attempt ended at its caller `inst` (`ctx` is the attempt's).
    pub(super) fn trace_attempt(&mut self, ctx: &Ctx, inst: InstId, t: Try, e: Ended) {
        if ctx.trace != 0 {
            self.push_span(ctx, SpanKind::Attempt, inst, t.parent, e, Some(t));
        }
    }

    /// Instance `inst` is done with a request (`ctx` is the job's, `served`).
    pub(super) fn trace_serve(&mut self, ctx: &Ctx, inst: InstId, e: Ended) {
        if ctx.trace != 0 {
            self.push_span(ctx, SpanKind::Serve, inst, ctx.span - 1, e, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_in_pairs_after_the_root() {
        let mut t = Tracer::new(1.0);
        assert_eq!(t.sample(0.3), Some((1, 1)));
        assert_eq!(t.pair(), 2);
        assert_eq!(t.pair(), 4);
        assert_eq!(t.sample(0.9), Some((2, 6)));
        let mut half = Tracer::new(0.5);
        assert_eq!(half.sample(0.5), None);
    }
}
