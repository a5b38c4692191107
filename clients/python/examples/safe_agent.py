"""The SafeAgent pattern with Flightlog's guard: every tool call is asked
about first (no side effect twice, a rate limit per tool, no loops), and a
dangerous tool also needs a person's yes. Run against a server:

    python3 safe_agent.py URL KEY SPOOL_DIR

It prints one JSON line per call: what the agent did or why it did not.
"""

import json
import sys

from flightlog_client import GuardError, Recorder

DANGEROUS = {"refund_payment", "delete_account"}


class SafeAgent:
    def __init__(self, rec, session_id, agent, user_id, confirm=input):
        self.rec, self.session_id, self.agent, self.user_id = rec, session_id, agent, user_id
        self.confirm, self.step = confirm, 0

    def call(self, tool, fn, **params):
        try:
            answer = self.rec.guard(self.session_id, tool, params, user_id=self.user_id, agent=self.agent)
        except GuardError as e:  # no answer: fail closed
            answer = {"allowed": False, "reason": "no_answer", "message": str(e), "previous": []}
        if not answer["allowed"]:
            return {"skipped": answer["reason"], "why": answer["message"], "previous": answer["previous"]}
        if tool in DANGEROUS and self.confirm("%s(%s)? [y/N] " % (tool, params)).strip().lower() != "y":
            return {"skipped": "not_confirmed"}
        with self.rec.tool_call(self.session_id, self.step, tool, params,
                                agent={"name": self.agent}, user_id=self.user_id) as call:
            call.result = fn(**params)
        self.step += 1
        self.rec.flush(timeout=5)  # the guard knows of a call once its step is stored
        return call.result


if __name__ == "__main__":
    url, key, spool = sys.argv[1:4]
    rec = Recorder(url, key, spool_dir=spool)
    send_email = lambda to, subject: {"sent": True}
    search = lambda q: {"hits": 3}
    refund = lambda order: {"refunded": order}
    first = SafeAgent(rec, "safe-1", "support-bot", "customer-7", confirm=lambda _: "y")
    print(json.dumps(first.call("send_email", send_email, to="jane@example.com", subject="Refund")))
    # The agent restarts (a new session) and would send the same email again.
    again = SafeAgent(rec, "safe-2", "support-bot", "customer-7", confirm=lambda _: "n")
    print(json.dumps(again.call("send_email", send_email, to="jane@example.com", subject="Refund")))
    print(json.dumps(again.call("refund_payment", refund, order=991)))
    for i in range(21):
        outcome = again.call("search_kb", search, q="refund policy %d" % i)
    print(json.dumps(outcome))
    rec.close()
