//! The sampled requests' spans as files: `trace.json` in OTLP/JSON (the
//! OpenTelemetry collector's file-exporter format, readable by Jaeger,
//! Grafana Tempo and `gatesim import`) and `trace.perfetto.json` in the
//! Chrome trace-event format (ui.perfetto.dev, chrome://tracing).
//!
//! Each instance is a resource (`service.name` = node, `service.instance.id`
//! = `node#replica`); times are simulated time after 2026-01-01T00:00:00Z.
//! Attributes say what the simulation knows: `gatesim.outcome`,
//! `http.request.resend_count` (the retry number), `gatesim.hedge`,
//! `gatesim.cancelled`, `gatesim.breaker` (the caller's breaker when the
//! attempt was sent) and `gatesim.fault_active`.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::SpanKind as Kind};

use crate::engine::SimTime;
use crate::model::RunOutput;
use crate::model::config::{FaultTarget, InstId};
use crate::model::outcome::Outcome;
use crate::model::trace::{SpanKind, SpanRecord};

/// Simulated time 0 on the wall clock of the trace files (2026-01-01T00:00:00Z).
const EPOCH_UNIX_NANOS: u64 = 1_767_225_600_000_000_000;

fn text(key: &str, v: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn int(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(v)) }),
        ..Default::default()
    }
}

fn flag(key: &str, v: bool) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::BoolValue(v)) }),
        ..Default::default()
    }
}

/// What the run knows beside the spans: breaker changes and faults by time.
struct Context<'a> {
    run: &'a RunOutput,
    /// Per breaker index, its changes in time order: looked up per span
    /// by binary search (a scan per span would be spans x changes).
    breakers: Vec<Vec<(SimTime, &'static str)>>,
}

impl<'a> Context<'a> {
    fn new(run: &'a RunOutput) -> Self {
        let mut breakers: Vec<Vec<(SimTime, &'static str)>> = Vec::new();
        for e in &run.rec.breaker_events {
            let i = e.breaker as usize;
            if breakers.len() <= i {
                breakers.resize_with(i + 1, Vec::new);
            }
            let to = if e.to_open {
                "open"
            } else if e.to_half_open {
                "half_open"
            } else {
                "closed"
            };
            breakers[i].push((e.at, to));
        }
        for changes in &mut breakers {
            changes.sort_by_key(|c| c.0);
        }
        Context { run, breakers }
    }

    /// The state of breaker `index` just before `at`, by its recorded changes.
    fn breaker(&self, index: u32, at: SimTime) -> &'static str {
        let Some(changes) = self.breakers.get(index as usize) else { return "closed" };
        match changes.partition_point(|c| c.0 <= at) {
            0 => "closed",
            n => changes[n - 1].1,
        }
    }

    /// Whether a fault (scheduled or random) acted on `inst` at `at`.
    fn fault_active(&self, inst: InstId, at: SimTime) -> bool {
        let node = self.run.cfg.instances[inst as usize].node;
        let hits = |t: &FaultTarget| match t {
            FaultTarget::Instances(list) => list.contains(&inst),
            FaultTarget::Link(a, b) => *a == node || *b == node,
        };
        self.run.cfg.faults.iter().any(|f| f.at <= at && at < f.until && hits(&f.target))
            || self.run.chaos.iter().any(|c| c.inst == inst && c.at <= at && at < c.until)
    }

    fn span(&self, s: &SpanRecord, seed: u64) -> Span {
        let path = &self.run.cfg.paths[s.path as usize];
        let mut attrs = vec![
            text("http.request.method", path.method),
            text("url.path", path.path.clone()),
            text("gatesim.outcome", s.outcome.key()),
            flag("gatesim.fault_active", self.fault_active(s.inst, s.start)),
        ];
        if s.kind == SpanKind::Serve {
            attrs.push(text("http.route", path.path.clone()));
        }
        if s.retry > 0 {
            attrs.push(int("http.request.resend_count", i64::from(s.retry)));
        }
        if s.hedge {
            attrs.push(flag("gatesim.hedge", true));
        }
        if s.cancelled {
            attrs.push(flag("gatesim.cancelled", true));
        } else if s.unanswered {
            attrs.push(flag("gatesim.unanswered", true));
        }
        if s.edge_state != u32::MAX {
            attrs.push(text("gatesim.breaker", self.breaker(s.edge_state, s.start)));
        }
        attrs.push(int("http.response.status_code", http_status(s.outcome)));
        // OpenTelemetry's HTTP conventions: a 4xx is an error for the client
        // that sent it, not for the server that answered it.
        let failed =
            !s.cancelled && !s.outcome.is_success() && (s.kind != SpanKind::Serve || http_status(s.outcome) >= 500);
        let name = format!("{} {}", path.method, path.path);
        Span {
            trace_id: trace_id(seed, s.trace).to_vec(),
            span_id: u64::from(s.id).to_be_bytes().to_vec(),
            parent_span_id: if s.parent == 0 { Vec::new() } else { u64::from(s.parent).to_be_bytes().to_vec() },
            name,
            kind: if s.kind == SpanKind::Serve { Kind::Server } else { Kind::Client } as i32,
            start_time_unix_nano: EPOCH_UNIX_NANOS + s.start.as_nanos(),
            end_time_unix_nano: EPOCH_UNIX_NANOS + s.end.as_nanos(),
            attributes: attrs,
            status: Some(Status {
                message: if failed { s.outcome.key().into() } else { String::new() },
                code: if failed { 2 } else { 0 },
            }),
            ..Default::default()
        }
    }
}

/// The HTTP status a proxy would show for an outcome.
fn http_status(o: Outcome) -> i64 {
    match o {
        Outcome::Ok | Outcome::Partial | Outcome::Fallback => 200,
        Outcome::Unauthorized => 401,
        Outcome::NotFound => 404,
        Outcome::RateLimited => 429,
        Outcome::Error => 500,
        Outcome::Rejected | Outcome::ShortCircuited | Outcome::Unavailable => 503,
        Outcome::Timeout => 504,
    }
}

/// The trace id of sampled request `n`: the seed, then the number.
fn trace_id(seed: u64, n: u32) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seed.to_be_bytes());
    id[8..].copy_from_slice(&u64::from(n).to_be_bytes());
    id
}

/// Spans per export request: the OpenTelemetry collector's batch
/// processor default (`send_batch_size`).
const BATCH: usize = 8192;

/// `trace.json`: export requests as the collector's file exporter writes
/// them, one JSON line per batch of spans in the order they ended (so a
/// reader sees each trace's spans close together), one resource per
/// instance within a batch.
pub fn otlp_json(run: &RunOutput) -> Option<Vec<u8>> {
    let tracer = run.trace.as_ref()?;
    let cx = Context::new(run);
    let scope = InstrumentationScope {
        name: "gatesim".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    };
    let mut out = Vec::new();
    for batch in tracer.spans.chunks(BATCH) {
        let mut by_inst: Vec<(InstId, Vec<Span>)> = Vec::new();
        let mut sorted: Vec<&SpanRecord> = batch.iter().collect();
        sorted.sort_by_key(|s| s.inst);
        for s in sorted {
            match by_inst.last_mut() {
                Some((inst, spans)) if *inst == s.inst => spans.push(cx.span(s, run.cfg.seed)),
                _ => by_inst.push((s.inst, vec![cx.span(s, run.cfg.seed)])),
            }
        }
        let resource_spans = by_inst
            .into_iter()
            .map(|(i, spans)| {
                let inst = &run.cfg.instances[i as usize];
                let node = &run.cfg.nodes[inst.node as usize].name;
                let attributes = vec![
                    text("service.name", node.clone()),
                    text("service.instance.id", format!("{node}#{}", inst.replica)),
                ];
                ResourceSpans {
                    resource: Some(Resource { attributes, ..Default::default() }),
                    scope_spans: vec![ScopeSpans { scope: Some(scope.clone()), spans, ..Default::default() }],
                    ..Default::default()
                }
            })
            .collect();
        let request = ExportTraceServiceRequest { resource_spans };
        serde_json::to_writer(&mut out, &request).expect("an OTLP request serialises");
        out.push(b'\n');
    }
    Some(out)
}

#[derive(serde::Serialize)]
struct Event {
    name: String,
    cat: &'static str,
    ph: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u32,
    tid: u32,
    /// A flow's id (`ph` "s" / "f"): an arrow from an attempt to the
    /// instance that handled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bp: Option<&'static str>,
    args: serde_json::Map<String, serde_json::Value>,
}

/// `trace.perfetto.json`: a complete event (`ph: X`) per span, a process
/// per node and a thread per replica, in microseconds of simulated time,
/// and a flow arrow (`ph: s` / `f`) from each attempt to its handling.
pub fn perfetto_json(run: &RunOutput) -> Option<Vec<u8>> {
    let tracer = run.trace.as_ref()?;
    let mut events = Vec::with_capacity(tracer.spans.len() + run.cfg.instances.len() * 2);
    let meta = |name: &str, pid: u32, tid: u32, value: String| {
        let mut args = serde_json::Map::new();
        args.insert("name".into(), value.into());
        Event { name: name.into(), cat: "__metadata", ph: "M", ts: None, dur: None, pid, tid, id: None, bp: None, args }
    };
    for (pid, node) in run.cfg.nodes.iter().enumerate() {
        events.push(meta("process_name", pid as u32, 0, node.name.clone()));
    }
    for inst in &run.cfg.instances {
        let name = format!("{}#{}", run.cfg.nodes[inst.node as usize].name, inst.replica);
        events.push(meta("thread_name", inst.node, inst.replica, name));
    }
    for s in &tracer.spans {
        let inst = &run.cfg.instances[s.inst as usize];
        let path = &run.cfg.paths[s.path as usize];
        let mut args = serde_json::Map::new();
        args.insert("trace".into(), s.trace.into());
        args.insert("span".into(), s.id.into());
        args.insert("parent".into(), s.parent.into());
        args.insert("outcome".into(), s.outcome.key().into());
        if s.retry > 0 {
            args.insert("retry".into(), s.retry.into());
        }
        let cat = match s.kind {
            SpanKind::Request => "request",
            SpanKind::Attempt => "attempt",
            SpanKind::Serve => "serve",
        };
        let us = |t: SimTime| t.as_nanos() as f64 / 1e3;
        let name = format!("{} {} {}", cat, path.method, path.path);
        // An arrow from each attempt to the handling of it (ids come in pairs).
        let flow = match s.kind {
            SpanKind::Attempt => Some(("s", s.id)),
            SpanKind::Serve => Some(("f", s.parent)),
            SpanKind::Request => None,
        };
        if let Some((ph, id)) = flow {
            let (pid, tid, ts) = (inst.node, inst.replica, Some(us(s.start)));
            let bp = (ph == "f").then_some("e");
            let args = serde_json::Map::new();
            events.push(Event { name: name.clone(), cat: "hop", ph, ts, dur: None, pid, tid, id: Some(id), bp, args });
        }
        events.push(Event {
            name,
            cat,
            ph: "X",
            ts: Some(us(s.start)),
            dur: Some(us(s.end) - us(s.start)),
            pid: inst.node,
            tid: inst.replica,
            id: None,
            bp: None,
            args,
        });
    }
    let mut out = serde_json::to_vec(&serde_json::json!({ "traceEvents": events, "displayTimeUnit": "ms" }))
        .expect("trace events serialise");
    out.push(b'\n');
    Some(out)
}
