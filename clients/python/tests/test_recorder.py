"""Pure-Python tests of the client against a fake Flightlog (python3 -m unittest)."""

import http.server
import json
import logging
import os
import tempfile
import threading
import unittest

from flightlog_client import GuardError, Recorder, SpoolFullError, SpoolLockedError


class Fake(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/guard":
            srv.questions.append(json.loads(body))
            status, answer = srv.guard_answers.pop(0)
            out = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        srv.requests.append((self.headers.get("Authorization"), self.headers.get("Content-Type")))
        if srv.script and srv.script[0] == "store-then-503":
            srv.script.pop(0)
            for line in body.splitlines():
                step = json.loads(line)
                srv.stored[(step["session_id"], step["step"])] = step
            srv.script.insert(0, 503)
        if srv.script:
            status = srv.script.pop(0)
            self.send_response(status)
            if status in (429, 503):
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
            return
        accepted, dups, rejected = 0, 0, []
        for i, line in enumerate(body.splitlines()):
            step = json.loads(line)
            if step.get("metadata", {}).get("bad"):
                rejected.append({"index": i, "field": "metadata", "reason": "bad"})
                continue
            k = (step["session_id"], step["step"])
            if k in srv.stored:
                dups += 1
            else:
                srv.stored[k] = step
                accepted += 1
        out = json.dumps({"accepted": accepted, "duplicates": dups, "rejected": rejected}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class RecorderTest(unittest.TestCase):
    def setUp(self):
        logging.disable(logging.CRITICAL)
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
        self.srv.stored, self.srv.script, self.srv.requests = {}, [], []
        self.srv.questions, self.srv.guard_answers = [], []
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        self.tmp = tempfile.TemporaryDirectory()
        self.spool = os.path.join(self.tmp.name, "spool")

    def tearDown(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.tmp.cleanup()
        logging.disable(logging.NOTSET)

    def rec(self, **kw):
        kw.setdefault("flush_interval", 0.05)
        kw.setdefault("min_backoff", 0.01)
        kw.setdefault("max_backoff", 0.05)
        return Recorder(self.url, "k", spool_dir=self.spool, **kw)

    def test_guard_asks_and_returns_the_answer(self):
        denied = {"allowed": False, "reason": "already_done", "message": "sent",
                  "previous": [{"session_id": "s1", "step": 4, "timestamp": "2026-01-01T00:00:00Z", "user_id": "u"}]}
        self.srv.guard_answers += [(200, denied), (503, {"error": {"code": "unavailable"}})]
        rec = self.rec()
        try:
            answer = rec.guard("s2", "send_email", {"to": "a"}, user_id="u", agent={"name": "bot"})
            self.assertEqual(answer, denied)
            self.assertEqual(self.srv.questions, [{"session_id": "s2", "tool": "send_email", "params": {"to": "a"},
                                                   "user_id": "u", "agent": "bot"}])
            with self.assertRaises(GuardError) as err:
                rec.guard("s2", "send_email")
            self.assertEqual(err.exception.status, 503)
        finally:
            rec.close()

    def test_context_managers_fill_the_fields(self):
        r = self.rec()
        with r.tool_call("s", 0, "search", {"q": 1}) as call:
            call.result = {"hits": 2}
        with self.assertRaises(ValueError):
            with r.tool_call("s", 1, "search", {"q": 2}):
                raise ValueError("boom")
        with r.step(session_id="s", step=2, agent={"name": "a"}) as s:
            s["tags"] = ["x"]
        self.assertTrue(r.close(timeout=5))
        ok, failed, plain = (self.srv.stored[("s", n)] for n in range(3))
        self.assertEqual(ok["tool_execution"]["status"], "ok")
        self.assertEqual(ok["tool_execution"]["result"], {"hits": 2})
        self.assertIsInstance(ok["tool_execution"]["duration_ms"], int)
        self.assertRegex(ok["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(failed["tool_execution"]["status"], "error")
        self.assertIn("boom", failed["tool_execution"]["error"])
        self.assertEqual(plain["tags"], ["x"])
        self.assertNotIn("tool_execution", plain)
        self.assertEqual(self.srv.requests[0], ("Bearer k", "application/x-ndjson"))

    def test_retries_503_429_500_401_and_drops_rejected_and_400(self):
        self.srv.script = [503, 429, 500, 408, 401]
        r = self.rec(batch_size=10)
        for n in range(25):
            r.record({"session_id": "s", "step": n, "metadata": {"bad": n == 7}})
        self.assertTrue(r.flush(5))
        self.assertEqual(sorted(n for _, n in self.srv.stored), [n for n in range(25) if n != 7])
        self.assertEqual(r.stats["rejected"], 1)
        self.srv.script = [400]
        r.record({"session_id": "s", "step": 100})
        self.assertTrue(r.flush(5))
        self.assertNotIn(("s", 100), self.srv.stored)
        self.assertEqual(r.stats["dropped"], 1)
        r.close()

    def test_a_new_recorder_resends_what_was_not_acknowledged(self):
        self.srv.script = [503] * 1000
        r = self.rec()
        for n in range(50):
            r.record({"session_id": "s", "step": n})
        self.assertFalse(r.close(timeout=0.2))
        self.assertEqual(self.srv.stored, {})
        self.srv.script = []
        r2 = self.rec()
        self.assertTrue(r2.close(timeout=5))
        self.assertEqual(sorted(n for _, n in self.srv.stored), list(range(50)))

    def test_a_lost_answer_is_resent_and_counted_as_duplicates(self):
        self.srv.script = ["store-then-503"]
        r = self.rec(batch_size=5, flush_interval=60)  # one batch of 5
        for n in range(5):
            r.record({"session_id": "s", "step": n})
        self.assertTrue(r.close(timeout=5))
        self.assertEqual(r.stats["duplicates"], 5)
        self.assertEqual(sorted(n for _, n in self.srv.stored), list(range(5)))

    def test_one_spool_dir_one_recorder(self):
        r = self.rec()
        with self.assertRaises(SpoolLockedError):
            self.rec()
        r.close()
        self.rec().close()

    def test_a_torn_last_line_is_dropped_and_segments_rotate(self):
        self.srv.script = [503] * 1000
        r = self.rec(segment_bytes=2000)
        for n in range(100):
            r.record({"session_id": "s", "step": n})
        r.close(timeout=0)
        segments = sorted(f for f in os.listdir(self.spool) if f.startswith("segment-"))
        self.assertGreater(len(segments), 2)
        with open(os.path.join(self.spool, segments[-1]), "ab") as f:
            f.write(b'{"session_id":"s","st')
        self.srv.script = []
        r2 = self.rec(segment_bytes=2000)
        self.assertTrue(r2.close(timeout=5))
        self.assertEqual(sorted(n for _, n in self.srv.stored), list(range(100)))
        left = [f for f in os.listdir(self.spool) if f.startswith("segment-")]
        self.assertEqual(len(left), 1)

    def test_a_full_spool_raises(self):
        self.srv.script = [503] * 1000
        r = self.rec(max_spool_bytes=1000)
        with self.assertRaises(SpoolFullError):
            for n in range(100):
                r.record({"session_id": "s", "step": n})
        r.close(timeout=0)

    def test_invalid_steps_raise_at_record(self):
        r = self.rec()
        for bad in [{"step": 1}, {"session_id": "s"}, {"session_id": "s", "step": -1},
                    {"session_id": "s", "step": True}, {"session_id": "s", "step": 1, "x": float("nan")}]:
            with self.assertRaises((ValueError, TypeError)):
                r.record(bad)
        r.close()


if __name__ == "__main__":
    unittest.main()
