"""Provisioning on the simulated store, certificate parsing with and without the parse kept by DER.

usage: .venv/bin/python scripts/bench-provision.py [HOLDERS]   (default 20 each way)

Holders are provisioned alternately with the cache off and on in one process, so machine load
falls on both sides alike; it prints seconds per holder, parses and parse time per holder, and
the maximum RSS halfway and at the end (flat memory: the two stay close).
"""
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
state = Path(tempfile.mkdtemp(prefix="h6prov"))
os.environ["SITOKEN_STATE_DIR"] = str(state)
from sitoken.pin import Pin
from sitoken.provisioning.audit import AuditLog
from sitoken.provisioning.holder_pins import FixedPin
from sitoken.provisioning.issuers import LocalCAIssuer
from sitoken.provisioning.journal import Journal
from sitoken.provisioning.workflow import Counter
from sitoken.provisioning.applicant import applicant_from_dict, validate
from sitoken.provisioning.identifiers import resident_id_check_character
import sitoken.certs.parse as parse
calls = [0]
cached = parse._parsed
uncached = parse._parsed.__wrapped__
parse_seconds = [0.0]
def timed(fn):
    def run(der):
        calls[0] += 1
        t = time.perf_counter()
        try:
            return fn(der)
        finally:
            parse_seconds[0] += time.perf_counter() - t
    return run
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20
on = date.today()
journal = Journal(state / "journal.sqlite", operator="clerk-7")
counter = Counter(journal, AuditLog(state / "audit.jsonl", "clerk-7"), LocalCAIssuer(state / "ca"),
                  holder_pins=FixedPin(Pin("Hold3r99")), so_pin=Pin("so-pin-2468"), module="sim", on=on)
def person(i):
    body = f"1101051990{(i % 12) + 1:02d}{(i % 28) + 1:02d}{i % 1000:03d}"
    return validate(applicant_from_dict({"kind": "personal", "name": f"Holder {i}", "id_number": body + resident_id_check_character(body), "mobile": "13800138000"}), on=on)
counter.provision(person(999))  # warm-up: CA creation, module load
# Alternate holder by holder, so machine load falls on both sides alike.
stats = {"before (parse every call)": [[], 0, 0.0], "after (kept by DER)": [[], 0, 0.0]}
rss = []
for i in range(2 * N):
    name = list(stats)[i % 2]
    parse._parsed = timed(uncached if i % 2 == 0 else cached)
    calls[0], parse_seconds[0] = 0, 0.0
    t = time.perf_counter(); r = counter.provision(person(i)); dt = time.perf_counter() - t
    assert r.state == "done", r
    stats[name][0].append(dt); stats[name][1] += calls[0]; stats[name][2] += parse_seconds[0]
    rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
journal.close()
for name, (times, n, secs) in stats.items():
    print(f"{name:28} holders={len(times)} s/holder mean={sum(times)/len(times):.4f} median={sorted(times)[len(times)//2]:.4f} "
          f"parses/holder={n/len(times):.0f} parse s/holder={secs/len(times):.4f}")
print(f"max RSS kB after {N//2*2} holders: {rss[N-1]}, after {2*N}: {rss[-1]}")
