"""An OTLP/HTTP (protobuf) trace sink for bench/peers/proxy.mjs: decodes what each arm exports and serves the spans
back as JSON (GET /spans; DELETE /spans clears). Metrics and logs are accepted and dropped.

Usage: python otlp_sink.py      (prints "otlp-sink http://127.0.0.1:PORT" once listening)
"""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SPANS = []


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        SPANS.append(
                            {
                                "name": span.name,
                                "kind": span.kind,
                                "service": resource.get("service.name"),
                                "status": MessageToDict(span.status),
                                "durationMs": (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
                                "attributes": {a.key: value(a.value) for a in span.attributes},
                                "events": [e.name for e in span.events],
                            }
                        )
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        body = json.dumps(SPANS).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self):
        SPANS.clear()
        self.send_response(204)
        self.end_headers()


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"otlp-sink http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
