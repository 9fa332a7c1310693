//! Jaeger JSON, as the Jaeger UI's "Download JSON" and the query API's
//! `/api/traces` write it: `{"data": [trace, ...]}`, each trace with its
//! spans and a `processes` table (service name and tags per process).
//!
//! Jaeger publishes no Rust types for this model, so it is read with
//! serde structs of the fields used here (unknown fields are skipped, as
//! the format grows). Like OTLP, the `data` array is walked one trace at
//! a time: memory follows the largest trace, not the file.

use std::collections::BTreeMap;
use std::io::Read;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::DeserializeSeed;

use super::assemble::Assembler;
use super::span::{self, Kind, Span};
use super::walk::EachIn;

#[derive(Deserialize)]
struct Trace {
    #[serde(default)]
    spans: Vec<JSpan>,
    #[serde(default)]
    processes: BTreeMap<String, Process>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JSpan {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    #[serde(default)]
    operation_name: String,
    #[serde(default)]
    references: Vec<Reference>,
    /// Microseconds since the epoch.
    start_time: u64,
    /// Microseconds.
    duration: u64,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(rename = "processID", default)]
    process_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    ref_type: String,
    #[serde(rename = "spanID")]
    span_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    service_name: String,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

/// Reads the `data` of a Jaeger export into `to`.
pub(super) fn read(r: impl Read, to: &mut Assembler) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, r));
    export(to).deserialize(&mut de).map_err(|e| {
        if e.is_eof() && e.line() == 1 && e.column() == 0 { "the file is empty".into() } else { e.to_string() }
    })?;
    de.end().map_err(|e| format!("text after the export: {e}"))
}

/// The export, `{"data": [trace, ...]}`, each trace handed to `to`.
fn export(to: &mut Assembler) -> EachIn<Trace, impl FnMut(Trace) + '_> {
    EachIn {
        keys: &["data"],
        object: "a Jaeger JSON export ({\"data\": [trace, ...]})",
        items: "an array of traces",
        missing: "no \"data\": not a Jaeger JSON export",
        each: move |trace| add(&trace, to),
        item: PhantomData,
    }
}

fn tag<'a>(tags: &'a [Tag], keys: &[&str]) -> Option<&'a serde_json::Value> {
    keys.iter().find_map(|k| tags.iter().find(|t| t.key == *k).map(|t| &t.value))
}

fn tag_text(tags: &[Tag], keys: &[&str]) -> Option<String> {
    match tag(tags, keys)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The error flag: the `error` tag (true or "true"), or OpenTelemetry's
/// status code carried as `otel.status_code = ERROR`.
fn is_error(tags: &[Tag]) -> bool {
    let flag = tag(tags, &["error"]).is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
    flag || tag_text(tags, &["otel.status_code"]).is_some_and(|s| s == "ERROR")
}

fn add(trace: &Trace, to: &mut Assembler) {
    for s in &trace.spans {
        let process = trace.processes.get(&s.process_id);
        let service = process.map_or("unknown_service", |p| p.service_name.as_str());
        let instance = process.and_then(|p| tag_text(&p.tags, span::INSTANCE_KEYS));
        let attr = |keys: &[&str]| tag_text(&s.tags, keys);
        let route = span::route_key(attr, &s.operation_name);
        let parent = s.references.iter().find(|r| r.ref_type == "CHILD_OF").or(s.references.first());
        let Some(trace_id) = span::hex_id(&s.trace_id) else {
            to.bad_ids += 1;
            continue;
        };
        let start = s.start_time.saturating_mul(1000);
        let span = Span {
            trace: trace_id,
            id: span::hex_id(&s.span_id).unwrap_or(0) as u64,
            parent: parent.and_then(|p| span::hex_id(&p.span_id)).unwrap_or(0) as u64,
            service: to.services.id(service),
            instance: instance.map_or(span::NONE, |i| to.instances.id(&i)),
            route: to.routes.id(&route),
            kind: tag_text(&s.tags, &["span.kind"]).map_or(Kind::Unspecified, |k| Kind::from_tag(&k)),
            start,
            end: start.saturating_add(s.duration.saturating_mul(1000)),
            error: is_error(&s.tags),
            resend: span::resend(attr),
        };
        to.push(span);
    }
}
