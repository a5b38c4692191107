"""A stand-in agent for the end-to-end test (tests/python_client.rs).

usage: agent_1000.py URL KEY SPOOL_DIR SESSION FIRST LAST [CLOSE_TIMEOUT]

Records steps FIRST..LAST-1 of SESSION (each step is fsynced to the spool
before its "recorded N" line is printed), then closes the Recorder, waiting
up to CLOSE_TIMEOUT seconds for Flightlog to acknowledge everything.
Exit status 0 when everything was acknowledged, 3 when not.
"""

import logging
import sys
import time

from flightlog_client import Recorder


def main():
    url, key, spool, session, first, last = sys.argv[1:7]
    close_timeout = float(sys.argv[7]) if len(sys.argv) > 7 else 30.0
    first, last = int(first), int(last)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="agent: %(levelname)s %(message)s")
    rec = Recorder(url, key, spool_dir=spool, batch_size=100, flush_interval=0.2, max_backoff=1.0)
    for n in range(first, last):
        if n % 3 == 0:
            # A tool call through the context manager; every 10th one fails.
            try:
                with rec.tool_call(session, n, "lookup", {"n": n}, agent={"name": "agent-1000"},
                                   agent_thoughts={"reasoning": "step %d" % n, "chosen_tool": "lookup",
                                                   "confidence": 0.5}) as call:
                    if n % 10 == 0:
                        raise KeyError("no record %d" % n)
                    call.result = {"square": n * n}
            except KeyError:
                pass
        elif n % 3 == 1:
            with rec.step(session_id=session, step=n, agent={"name": "agent-1000"}) as s:
                s["metadata"] = {"kind": "thought", "n": n}
        else:
            rec.record({"session_id": session, "step": n, "tags": ["plain"], "metadata": {"n": n}})
        print("recorded %d" % n, flush=True)
        time.sleep(0.001)
    print("recorded all", flush=True)
    t0 = time.monotonic()
    ok = rec.close(timeout=close_timeout)
    print("closed ok=%s after %.2f s stats=%s" % (ok, time.monotonic() - t0, rec.stats), flush=True)
    sys.exit(0 if ok else 3)


if __name__ == "__main__":
    main()
