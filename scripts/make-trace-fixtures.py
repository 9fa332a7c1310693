#!/usr/bin/env python3
"""Writes the hand-made trace fixtures in scenarios/traces/ (deterministic).

A small shop: `edge` (a proxy) routes /orders to `orders` and /items to
`catalog`; `orders` (two instances) works, then calls `stock` and `pricing`
in parallel, then `db`. 5% of `stock` calls fail, and the failure shows up
the chain (orders and edge answer with an error status too). Every hop
crosses 0.3 ms of network each way. Written twice: as OTLP/JSON (one
export request per line, as the collector's file exporter writes) and as
Jaeger JSON (the UI's download).
"""
import json
import random

rng = random.Random(7)
NET = 300_000  # ns, one way
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def lognormal(median_ms, sigma):
    return int(median_ms * 1e6 * rng.lognormvariate(0, sigma))


class Trace:
    def __init__(self, n):
        self.id = f"{n + 1:032x}"
        self.spans = []
        self.next = 1

    def span(self, service, instance, kind, name, start, end, parent, route=None, error=False):
        sid = f"{(int(self.id, 16) * 1000 + self.next) & 0xFFFFFFFFFFFFFFFF:016x}"
        self.next += 1
        self.spans.append(dict(service=service, instance=instance, kind=kind, name=name, start=start,
                               end=end, parent=parent, id=sid, route=route, error=error))
        return sid


def call(t, parent, caller, service, instance, start, serve):
    """A client span of `caller` around a server span of `service`; `serve(t, sid, start)` returns (end, error)."""
    cid_index = len(t.spans)
    cid = t.span(caller[0], caller[1], "client", f"call {service}", start, 0, parent)
    sid_index = len(t.spans)
    sid = t.span(service, instance, "server", service, start + NET, 0, cid)
    end, error = serve(t, sid, start + NET)
    t.spans[sid_index].update(end=end, error=error)
    t.spans[cid_index].update(end=end + NET, error=error)
    return end + NET, error


def leaf(service, median_ms, sigma, fail=0.0):
    def serve(t, sid, start):
        return start + lognormal(median_ms, sigma), rng.random() < fail
    return serve


def orders(t, sid, start):
    me = t.spans[-1]
    who = (me["service"], me["instance"])
    now = start + lognormal(3.0, 0.5)
    a_end, a_err = call(t, sid, who, "stock", "stock-1", now, leaf("stock", 2.0, 0.4, fail=0.05))
    b_end, b_err = call(t, sid, who, "pricing", "pricing-1", now, leaf("pricing", 1.0, 0.3))
    now = max(a_end, b_end)
    if a_err or b_err:
        return now, True
    return call(t, sid, who, "db", "db-1", now, leaf("db", 0.5, 0.2))


def catalog(t, sid, start):
    return start + lognormal(1.5, 0.4), False


def make(n, at):
    t = Trace(n)
    route = "/orders" if rng.random() < 0.6 else "/items"
    root = t.span("edge", "edge-1", "server", f"GET {route}", at, 0, None, route=route)
    own = lognormal(0.2, 0.2)
    if route == "/orders":
        instance = f"orders-{1 + n % 2}"
        end, err = call(t, root, ("edge", "edge-1"), "orders", instance, at + own, orders)
    else:
        end, err = call(t, root, ("edge", "edge-1"), "catalog", "catalog-1", at + own, catalog)
    t.spans[0].update(end=end + lognormal(0.05, 0.2), error=err)
    return t


def traces(count, rate):
    at, out = T0, []
    for n in range(count):
        at += int(rng.expovariate(rate) * 1e9)
        out.append(make(n, at))
    return out


KIND = {"server": 2, "client": 3}


def otlp_value(v):
    return {"stringValue": v}


def otlp(batch):
    by_resource = {}
    for t in batch:
        for s in t.spans:
            by_resource.setdefault((s["service"], s["instance"]), []).append((t, s))
    out = []
    for (service, instance), spans in sorted(by_resource.items()):
        otel = []
        for t, s in spans:
            attrs = [{"key": "http.route", "value": otlp_value(s["route"])}] if s["route"] else []
            otel.append({
                "traceId": t.id, "spanId": s["id"], "parentSpanId": s["parent"] or "",
                "name": s["name"], "kind": KIND[s["kind"]],
                "startTimeUnixNano": str(s["start"]), "endTimeUnixNano": str(s["end"]),
                "attributes": attrs, "status": {"code": 2} if s["error"] else {},
            })
        out.append({"resource": {"attributes": [
            {"key": "service.name", "value": otlp_value(service)},
            {"key": "service.instance.id", "value": otlp_value(instance)}]},
            "scopeSpans": [{"scope": {"name": "fixture"}, "spans": otel}]})
    return {"resourceSpans": out}


def jaeger(ts):
    data = []
    for t in ts:
        procs, spans = {}, []
        for s in t.spans:
            key = (s["service"], s["instance"])
            pid = procs.setdefault(key, f"p{len(procs) + 1}")
            tags = [{"key": "span.kind", "type": "string", "value": s["kind"]}]
            if s["route"]:
                tags.append({"key": "http.route", "type": "string", "value": s["route"]})
            if s["error"]:
                tags.append({"key": "error", "type": "bool", "value": True})
            refs = [{"refType": "CHILD_OF", "traceID": t.id, "spanID": s["parent"]}] if s["parent"] else []
            spans.append({"traceID": t.id, "spanID": s["id"], "operationName": s["name"], "references": refs,
                          "startTime": s["start"] // 1000, "duration": (s["end"] - s["start"]) // 1000,
                          "tags": tags, "logs": [], "processID": pid, "warnings": None})
        processes = {pid: {"serviceName": k[0], "tags": [{"key": "hostname", "type": "string", "value": k[1]}]}
                     for k, pid in procs.items()}
        data.append({"traceID": t.id, "spans": spans, "processes": processes, "warnings": None})
    return {"data": data, "total": 0, "limit": 0, "offset": 0, "errors": None}


if __name__ == "__main__":
    ts = traces(500, 50.0)
    with open("scenarios/traces/shop.otlp.json", "w") as f:
        for i in range(0, len(ts), 100):
            f.write(json.dumps(otlp(ts[i:i + 100]), separators=(",", ":")) + "\n")
    with open("scenarios/traces/shop.jaeger.json", "w") as f:
        json.dump(jaeger(ts[:300]), f, separators=(",", ":"))
        f.write("\n")
