"""The FastAPI setup people use today: a FastAPI app calling Ollama through the Python `ollama` client, instrumented by
OpenLLMetry's `opentelemetry-instrumentation-ollama`, exporting traces and metrics over OTLP/HTTP (the standard
OTEL_* variables). The same routes as examples/express-chat, so the same traffic can go to both.

Usage: python openllmetry_app.py PORT     (OLLAMA_HOST: the Ollama to call)
"""

import os
import sys

import ollama
import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.ollama import OllamaInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

resource = Resource.create()
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(tracer_provider)
meter_provider = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
metrics.set_meter_provider(meter_provider)
OllamaInstrumentor().instrument()

client = ollama.Client(host=os.environ["OLLAMA_HOST"])
app = FastAPI()
MODEL = "llama3.2"


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.post("/v1/ask")
def ask(body: dict):
    reply = client.chat(model=MODEL, messages=[{"role": "user", "content": body["question"]}])
    return {"answer": reply.message.content}


@app.post("/v1/chat")
def chat(body: dict):
    model = body.get("model", MODEL)
    try:
        if not body.get("stream"):
            return {"content": client.chat(model=model, messages=body["messages"]).message.content}
        parts = client.chat(model=model, messages=body["messages"], stream=True)
        return StreamingResponse((f"data: {p.message.content}\n\n" for p in parts), media_type="text/event-stream")
    except ollama.ResponseError as error:
        raise HTTPException(status_code=error.status_code, detail=error.error)


@app.post("/v1/embed")
def embed(body: dict):
    return client.embed(model="all-minilm", input=body["input"]).model_dump()


@app.post("/flush")
def flush():
    tracer_provider.force_flush()
    meter_provider.force_flush()
    return {"ok": True}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
