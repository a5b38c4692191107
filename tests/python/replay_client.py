"""Drives `flightlog replay` with the official openai client.

argv[1]: the replay's base URL; argv[2]: a JSON list of chat.completions
requests to make in order. Prints a JSON list of what came back.
"""
import json
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="not-needed", max_retries=0)
answers = []
for request in json.loads(sys.argv[2]):
    raw = client.chat.completions.with_raw_response.create(**request)
    completion = raw.parse()
    answers.append({
        "content": completion.choices[0].message.content,
        "model": completion.model,
        "divergence": raw.headers.get("x-flightlog-divergence"),
    })
print(json.dumps(answers))
