"""Recorder: spool every step to disk, send batches to Flightlog in the background."""

import atexit
import datetime
import email.utils
import hashlib
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request

from .spool import Spool

__all__ = ["GuardError", "Recorder", "now"]

log = logging.getLogger("flightlog_client")

MAX_RECORD_BYTES = 4 << 20  # Flightlog refuses larger records
# Retried like an outage: a slow or busy server (408, 429), and a key that
# is wrong or lacks the ingest scope (401, 403), which an operator fixes
# without the agent losing what it recorded meanwhile.
_RETRY_STATUS = {401, 403, 408, 429}


class GuardError(Exception):
    """The guard could not answer (Flightlog unreachable, 5xx, a refused
    question); ``status`` is the HTTP status, None without an answer."""

    def __init__(self, message, status=None, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


def now():
    """The current time as RFC 3339 UTC with microseconds."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _default_spool_dir(url):
    env = os.environ.get("FLIGHTLOG_SPOOL_DIR")
    if env:
        return env
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "flightlog-client", digest)


def _json_default(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime %r: give it a timezone" % (value,))
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError("%s is not JSON serializable" % type(value).__name__)


def _retry_after(headers):
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class _Step:
    """What ``with rec.step(...) as s`` yields: a dict-like step being built."""

    def __init__(self, fields):
        self.fields = fields

    def __getitem__(self, key):
        return self.fields[key]

    def __setitem__(self, key, value):
        self.fields[key] = value

    def update(self, *args, **kwargs):
        self.fields.update(*args, **kwargs)


class _ToolCall(_Step):
    """What ``with rec.tool_call(...) as call`` yields; set ``call.result``."""

    def __init__(self, fields):
        super().__init__(fields)
        self.result = None


class _StepContext:
    def __init__(self, recorder, fields, tool):
        self._recorder = recorder
        self._obj = _ToolCall(fields) if tool else _Step(fields)
        self._tool = tool
        self._t0 = None

    def __enter__(self):
        self._obj.fields.setdefault("timestamp", now())
        self._t0 = time.monotonic()
        return self._obj

    def __exit__(self, exc_type, exc, tb):
        fields = self._obj.fields
        te = fields.get("tool_execution")
        if self._tool or te is not None:
            te = dict(te or {})
            te["duration_ms"] = int(round((time.monotonic() - self._t0) * 1000))
            if self._tool:
                te["result"] = self._obj.result
            if exc is not None:
                te["status"] = "error"
                te["error"] = "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__
            else:
                te.setdefault("status", "ok")
            fields["tool_execution"] = te
        self._recorder.record(fields)
        return False  # an exception is re-raised


class Recorder:
    """Records agent steps durably and sends them to Flightlog.

    ``record()`` returns once the step is fsynced in the local spool; a
    background thread sends the spool to ``{url}/v1/steps`` in NDJSON
    batches and retries (forever, with backoff) until Flightlog answers.
    """

    def __init__(self, url, key, *, spool_dir=None, batch_size=100, flush_interval=1.0,
                 max_spool_bytes=1 << 30, segment_bytes=8 << 20, max_batch_bytes=8 << 20,
                 request_timeout=30.0, min_backoff=0.2, max_backoff=30.0, fsync=True,
                 close_timeout=10.0):
        self.url = url.rstrip("/")
        self.endpoint = self.url + "/v1/steps"
        self.key = key
        self.batch_size = max(1, int(batch_size))
        self.flush_interval = float(flush_interval)
        self.max_batch_bytes = max(MAX_RECORD_BYTES + 1, int(max_batch_bytes))
        self.request_timeout = request_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.close_timeout = close_timeout
        self.spool_dir = spool_dir or _default_spool_dir(self.url)
        self._spool = Spool(self.spool_dir, max_bytes=max_spool_bytes,
                            segment_bytes=segment_bytes, fsync=fsync)
        self._cond = threading.Condition()
        self._stopping = False
        self._closed = False
        self._flush_waiters = 0
        self._unsent = 0  # records appended since the sender last caught up
        self._pending_since = time.monotonic() - self.flush_interval  # a backlog goes at once
        self.stats = {"sent": 0, "duplicates": 0, "rejected": 0, "dropped": 0, "retries": 0}
        self._thread = threading.Thread(target=self._run, name="flightlog-sender", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    # -- recording -----------------------------------------------------------
    def record(self, step):
        """Spools one step (a dict) durably; fills ``timestamp`` when missing."""
        if self._closed:
            raise RuntimeError("the Recorder is closed")
        if not isinstance(step, dict):
            raise TypeError("a step is a dict, got %s" % type(step).__name__)
        if not isinstance(step.get("session_id"), str) or not step["session_id"]:
            raise ValueError("step needs a non-empty string session_id")
        n = step.get("step")
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 2 ** 63:
            raise ValueError("step needs an integer 'step' from 0 to 2^63-1, got %r" % (n,))
        if "timestamp" not in step:
            step = dict(step, timestamp=now())
        line = json.dumps(step, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          default=_json_default).encode("utf-8") + b"\n"
        if len(line) > MAX_RECORD_BYTES:
            raise ValueError("step is %d bytes; Flightlog accepts at most %d" % (len(line), MAX_RECORD_BYTES))
        self._spool.append(line)
        with self._cond:
            if self._unsent == 0:
                self._pending_since = time.monotonic()
            self._unsent += 1
            if self._unsent >= self.batch_size:
                self._cond.notify_all()

    def step(self, session_id, step, **fields):
        """``with rec.step(session_id=..., step=N, agent=...) as s:`` records on exit."""
        return _StepContext(self, dict(fields, session_id=session_id, step=step), tool=False)

    def tool_call(self, session_id, step, name, params=None, **fields):
        """``with rec.tool_call(sid, n, "search", {...}) as call: call.result = ...``"""
        fields = dict(fields, session_id=session_id, step=step)
        te = dict(fields.get("tool_execution") or {})
        te.update(name=name, params=params)
        fields["tool_execution"] = te
        return _StepContext(self, fields, tool=True)

    # -- the guard -----------------------------------------------------------
    def guard(self, session_id, tool, params=None, *, user_id=None, agent=None, timeout=5.0):
        """Asks Flightlog before executing an action (``POST /v1/guard``).

        Returns the answer: ``{"allowed": bool, "reason": None or
        "already_done" | "rate_limited" | "in_a_loop" | "over_budget",
        "message": str, "previous": [{"session_id", "step", "timestamp",
        "user_id"}, ...]}``. ``params`` are compared as the step that
        reports the call stores them. Raises :class:`GuardError` when no
        answer can be had: the caller decides whether to act without one.
        """
        question = {"session_id": session_id, "tool": tool}
        if params is not None:
            question["params"] = params
        if user_id is not None:
            question["user_id"] = user_id
        if agent is not None:
            question["agent"] = agent.get("name") if isinstance(agent, dict) else agent
        body = json.dumps(question, default=_json_default, allow_nan=False).encode("utf-8")
        req = urllib.request.Request(self.url + "/v1/guard", data=body, method="POST", headers={
            "Authorization": "Bearer " + self.key,
            "Content-Type": "application/json",
            "User-Agent": "flightlog-client-python/0.1",
        })
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            try:
                text = e.read().decode("utf-8", "replace")
            except Exception:
                text = ""
            raise GuardError("the guard answered HTTP %s: %s" % (e.code, text[:500]), e.code, text) from None
        except Exception as e:  # connection refused/reset, timeout, DNS, bad JSON
            raise GuardError("the guard could not be asked: %s: %s" % (type(e).__name__, e)) from None

    # -- flushing ------------------------------------------------------------
    def flush(self, timeout=None):
        """Waits until every step recorded so far is acknowledged; True if so."""
        target = self._spool.end()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flush_waiters += 1
            self._cond.notify_all()
            try:
                while self._spool.cursor() < target:
                    if not self._thread.is_alive():
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._cond.wait(0.5 if remaining is None else min(remaining, 0.5))
                return True
            finally:
                self._flush_waiters -= 1

    def pending(self):
        """True while some spooled step is not acknowledged yet."""
        return self._spool.cursor() < self._spool.end()

    def close(self, timeout=None):
        """Flushes (up to ``timeout`` s, default ``close_timeout``), stops, unlocks.

        Steps not sent by then stay in the spool; the next Recorder on the
        same spool_dir sends them. Returns True when everything was sent.
        """
        if self._closed:
            return not self.pending()
        done = self.flush(self.close_timeout if timeout is None else timeout)
        self._closed = True
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(self.request_timeout + 1)
        self._spool.close()
        try:
            atexit.unregister(self._at_exit)
        except Exception:
            pass
        if not done:
            log.warning("flightlog: closing with unsent steps; they stay in %s for the next run", self.spool_dir)
        return done

    def _at_exit(self):
        try:
            self.close()
        except Exception:
            log.exception("flightlog: close at exit failed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- sending -------------------------------------------------------------
    def _run(self):
        try:
            while True:
                with self._cond:
                    while True:
                        if self._stopping:
                            return
                        if self._spool.cursor() < self._spool.end():
                            waited = time.monotonic() - self._pending_since
                            if (self._flush_waiters or self._unsent >= self.batch_size
                                    or waited >= self.flush_interval):
                                break
                            self._cond.wait(self.flush_interval - waited)
                        else:
                            self._unsent = 0
                            self._cond.wait(self.flush_interval)
                lines, new_cursor = self._spool.read_batch(self.batch_size, self.max_batch_bytes)
                if not lines:
                    with self._cond:
                        self._cond.notify_all()
                    continue
                if not self._send(lines):
                    return  # stopping
                self._spool.commit(new_cursor)
                with self._cond:
                    self._unsent = max(0, self._unsent - len(lines))
                    self._pending_since = time.monotonic() - self.flush_interval
                    self._cond.notify_all()
        except Exception:
            log.exception("flightlog: the sender thread failed; steps stay in %s", self.spool_dir)

    def _sleep(self, seconds):
        """Sleeps unless stopping; False when stopping."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True
                self._cond.wait(remaining)
            return False

    def _send(self, lines):
        """Sends one batch until Flightlog has answered it for good.

        Returns True when the batch is done with (stored, duplicate, or
        dropped as a client error), False when the Recorder stops first.
        """
        attempt = 0
        body = b"".join(lines)
        while True:
            if self._stopping:
                return False
            status, headers, text, err = self._post(body)
            if status == 200:
                self._accounted(text, len(lines))
                return True
            if status == 413 and len(lines) > 1:
                half = len(lines) // 2
                return self._send(lines[:half]) and self._send(lines[half:])
            if status is not None and 400 <= status < 500 and status not in _RETRY_STATUS:
                self.stats["dropped"] += len(lines)
                log.error("flightlog: %s refused a batch of %d steps with %d; dropping it: %s",
                          self.endpoint, len(lines), status, text[:2000])
                return True
            delay = min(self.max_backoff, self.min_backoff * (2 ** min(attempt, 30)))
            delay = random.uniform(delay / 2, delay)
            hint = _retry_after(headers)
            if hint is not None:
                delay = min(hint, 2 * self.max_backoff) + random.uniform(0, 0.1)
            attempt += 1
            self.stats["retries"] += 1
            log.warning("flightlog: sending %d steps failed (%s); retrying in %.1f s",
                        len(lines), err or "HTTP %s" % status, delay)
            if not self._sleep(delay):
                return False

    def _post(self, body):
        req = urllib.request.Request(self.endpoint, data=body, method="POST", headers={
            "Authorization": "Bearer " + self.key,
            "Content-Type": "application/x-ndjson",
            "User-Agent": "flightlog-client-python/0.1",
        })
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout) as resp:
                return resp.status, resp.headers, resp.read().decode("utf-8", "replace"), None
        except urllib.error.HTTPError as e:
            try:
                text = e.read().decode("utf-8", "replace")
            except Exception:
                text = ""
            return e.code, e.headers, text, None
        except Exception as e:  # connection refused/reset, timeout, DNS, ...
            return None, None, "", "%s: %s" % (type(e).__name__, e)

    def _accounted(self, text, count):
        try:
            answer = json.loads(text)
        except ValueError:
            self.stats["sent"] += count
            return
        self.stats["sent"] += int(answer.get("accepted", 0))
        self.stats["duplicates"] += int(answer.get("duplicates", 0))
        for r in answer.get("rejected") or []:
            self.stats["rejected"] += 1
            log.error("flightlog: step rejected (dropped, not retried): %s", json.dumps(r))
