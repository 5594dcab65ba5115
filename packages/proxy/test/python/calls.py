"""The same calls through the Python `ollama`, `openai` and `anthropic` clients, against one base URL.

Usage: python calls.py BASE_URL calls      -> one JSON object: call name -> what the client returned (normalized)
       python calls.py BASE_URL walk-away  -> streams a long chat, breaks out after 3 chunks and closes the stream
The test runs it against the Ollama test double directly and through the proxy and compares the two.
"""

import json
import sys

import anthropic
import ollama
import openai

BASE = sys.argv[1]
QUESTION = [{"role": "user", "content": "Why is the sky blue?"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# Values that differ between any two calls, direct or not (ids, clocks, timings).
VOLATILE = {"id", "created", "created_at", "completed_at", "modified_at", "expires_at", "system_fingerprint", "item_id"}


def normalize(value):
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {
            k: normalize(v)
            for k, v in value.items()
            if k not in VOLATILE and not k.endswith("_duration") and not k.endswith("_id")
        }
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    return value


def stream(chunks):
    return [normalize(c) for c in chunks]


def ollama_calls(client):
    return {
        "ollama.chat": client.chat(model="llama3.2", messages=QUESTION),
        "ollama.chat.stream": stream(client.chat(model="llama3.2", messages=QUESTION, stream=True)),
        "ollama.chat.think": client.chat(model="qwen3", messages=QUESTION, think=True),
        "ollama.chat.tools": client.chat(
            model="llama3.2",
            messages=[{"role": "user", "content": "What is the weather in Paris?"}],
            tools=[{"type": "function", "function": WEATHER_TOOL}],
        ),
        "ollama.generate": client.generate(model="llama3.2", prompt="Why is the sky blue?"),
        "ollama.generate.stream": stream(client.generate(model="llama3.2", prompt="Why?", stream=True)),
        "ollama.embed": client.embed(model="all-minilm", input=["one", "two"]),
        "ollama.list": client.list(),
        "ollama.show": client.show("llama3.2"),
    }


def openai_calls(client):
    chat = {"model": "llama3.2", "messages": QUESTION}
    return {
        "openai.chat": client.chat.completions.create(**chat, max_tokens=300, temperature=0.3, seed=7),
        "openai.chat.stream": stream(client.chat.completions.create(**chat, stream=True)),
        "openai.chat.stream.usage": stream(
            client.chat.completions.create(**chat, stream=True, stream_options={"include_usage": True})
        ),
        "openai.completions": client.completions.create(model="llama3.2", prompt="Why is the sky blue?"),
        "openai.completions.stream.usage": stream(
            client.completions.create(
                model="llama3.2", prompt="Why?", stream=True, stream_options={"include_usage": True}
            )
        ),
        "openai.embeddings": client.embeddings.create(model="all-minilm", input=["one", "two"]),
        "openai.models": list(client.models.list()),
        "openai.models.retrieve": client.models.retrieve("llama3.2"),
        "openai.responses": client.responses.create(model="llama3.2", input="Why is the sky blue?"),
        "openai.responses.stream": stream(
            client.responses.create(model="llama3.2", input="Why is the sky blue?", stream=True)
        ),
    }


def anthropic_calls(client):
    message = {"model": "llama3.2", "max_tokens": 300, "messages": QUESTION}

    def streamed():
        with client.messages.stream(**message) as s:
            events = stream(s)
            return {"events": events, "final": normalize(s.get_final_message())}

    return {
        "anthropic.messages": client.messages.create(**message),
        "anthropic.messages.stream": streamed(),
        "anthropic.messages.thinking": client.messages.create(
            **{**message, "model": "qwen3"}, thinking={"type": "enabled", "budget_tokens": 1024}
        ),
        "anthropic.messages.tools": client.messages.create(
            model="llama3.2",
            max_tokens=300,
            messages=[{"role": "user", "content": "What is the weather in Paris?"}],
            tools=[
                {
                    "name": WEATHER_TOOL["name"],
                    "description": WEATHER_TOOL["description"],
                    "input_schema": WEATHER_TOOL["parameters"],
                }
            ],
        ),
    }


def calls():
    results = {}
    results.update(ollama_calls(ollama.Client(host=BASE)))
    results.update(openai_calls(openai.OpenAI(base_url=f"{BASE}/v1", api_key="sk-py-openai-secret", max_retries=0)))
    results.update(anthropic_calls(anthropic.Anthropic(base_url=BASE, api_key="sk-ant-py-secret", max_retries=0)))
    print(json.dumps({name: normalize(value) for name, value in results.items()}))


def walk_away():
    client = openai.OpenAI(base_url=f"{BASE}/v1", api_key="sk-py-openai-secret", max_retries=0)
    chunks = client.chat.completions.create(model="llama3.2", messages=QUESTION, stream=True)
    seen = 0
    for _ in chunks:
        seen += 1
        if seen == 3:
            break
    chunks.close()
    print(json.dumps({"seen": seen}))


{"calls": calls, "walk-away": walk_away}[sys.argv[2]]()
