//! OTLP/JSON, as the OpenTelemetry collector's file exporter writes it:
//! one `ExportTraceServiceRequest` per line, or one for the whole file.
//!
//! The types are `opentelemetry-proto`'s (its `with-serde` feature speaks
//! the OTLP/JSON mapping: hex ids, string nanoseconds, camelCase). The
//! outer object is walked with `walk::EachIn` so that each
//! `ResourceSpans` is handed on as soon as it is read: memory follows one
//! export line (or, in a file that is one request, one batch), not the file.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::rc::Rc;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde::de::DeserializeSeed;

use super::assemble::Assembler;
use super::span::{self, Kind, Span};
use super::walk::EachIn;

/// A line longer than this is not read into memory whole: it is parsed
/// as a stream instead.
const MAX_LINE: u64 = 64 << 20;

/// Reads every request in `r` into `to`. The file exporter's JSON Lines
/// (one request per line) are parsed a line at a time from memory, which
/// is fast; a request over several lines (pretty-printed) or one longer
/// than `MAX_LINE` is parsed as a stream.
pub(super) fn read(r: impl Read, to: &mut Assembler) -> Result<(), String> {
    let mut reader = BufReader::with_capacity(1 << 16, r);
    let mut line = Vec::new();
    let mut values = 0u64;
    for number in 1u64.. {
        line.clear();
        let n = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let whole = (n as u64) < MAX_LINE || line.ends_with(b"\n");
        if !(whole && text.starts_with(b"{") && text.ends_with(b"}")) {
            // Not one request per line: read the rest as a stream.
            return stream(std::io::Cursor::new(line).chain(reader), to, values);
        }
        let mut de = serde_json::Deserializer::from_slice(text);
        match request(to).deserialize(&mut de).and_then(|()| de.end()) {
            Ok(()) => values += 1,
            Err(e) if e.is_eof() => return Err(format!("line {number}: the file ends inside a request ({e})")),
            Err(e) => return Err(format!("line {number}: {e}")),
        }
    }
    if values == 0 { Err("the file is empty".into()) } else { Ok(()) }
}

/// Reads requests from a stream, one after the other.
fn stream(r: impl Read, to: &mut Assembler, mut values: u64) -> Result<(), String> {
    let watch = Watch { inner: BufReader::with_capacity(1 << 16, r), text: Rc::new(Cell::new(false)) };
    let text = Rc::clone(&watch.text);
    let mut de = serde_json::Deserializer::from_reader(watch);
    loop {
        text.set(false);
        match request(to).deserialize(&mut de) {
            Ok(()) => values += 1,
            // Nothing but white space after the last request: the end.
            Err(e) if e.is_eof() && values > 0 && !text.get() => return Ok(()),
            Err(e) if e.is_eof() && !text.get() => return Err("the file is empty".into()),
            Err(e) if e.is_eof() => return Err(format!("the file ends inside a request ({e})")),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Notes whether anything but white space went by since `text` was
/// cleared: serde_json reads one byte at a time, so this is exact.
struct Watch<R> {
    inner: R,
    text: Rc<Cell<bool>>,
}

impl<R: Read> Read for Watch<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if buf[..n].iter().any(|b| !b.is_ascii_whitespace()) {
            self.text.set(true);
        }
        Ok(n)
    }
}

/// The outer object, `{"resourceSpans": [...]}`, each batch handed to `to`.
fn request(to: &mut Assembler) -> EachIn<ResourceSpans, impl FnMut(ResourceSpans) + '_> {
    EachIn {
        keys: &["resourceSpans", "resource_spans"],
        object: "an OTLP/JSON ExportTraceServiceRequest ({\"resourceSpans\": [...]})",
        items: "an array of ResourceSpans",
        missing: "no \"resourceSpans\": not an OTLP/JSON trace export",
        each: move |batch| add(&batch, to),
        item: PhantomData,
    }
}

fn text(v: &Option<AnyValue>) -> Option<String> {
    match v.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

fn find(attrs: &[KeyValue], keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| attrs.iter().find(|a| a.key == *k).and_then(|a| text(&a.value)))
}

fn id(bytes: &[u8]) -> u128 {
    bytes.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
}

/// Hands every span of one resource to the assembler.
fn add(batch: &ResourceSpans, to: &mut Assembler) {
    let attrs = batch.resource.as_ref().map(|r| r.attributes.as_slice()).unwrap_or_default();
    let service = find(attrs, &[span::SERVICE]).unwrap_or_else(|| "unknown_service".into());
    let service = to.services.id(&service);
    let instance = find(attrs, span::INSTANCE_KEYS).map_or(span::NONE, |i| to.instances.id(&i));
    for s in batch.scope_spans.iter().flat_map(|s| &s.spans) {
        let attr = |keys: &[&str]| find(&s.attributes, keys);
        let route = span::route_key(attr, &s.name);
        let error = s.status.as_ref().is_some_and(|st| st.code == 2);
        let resend = span::resend(attr);
        let span = Span {
            trace: id(&s.trace_id),
            id: id(&s.span_id) as u64,
            parent: id(&s.parent_span_id) as u64,
            service,
            instance,
            route: to.routes.id(&route),
            kind: Kind::from_otlp(s.kind),
            start: s.start_time_unix_nano,
            end: s.end_time_unix_nano,
            error,
            resend,
        };
        to.push(span);
    }
}
