"""Provisioning on the simulated store: seconds and CPU per holder, step by step, and memory.

usage: .venv/bin/python scripts/bench-provision.py [HOLDERS] [--parse-alternate]

Holders are provisioned in one process on a SoftHSM store of its own (a temporary directory,
removed at the end: the time to list tokens grows with the store, so a shared store would make
runs incomparable).
It prints wall and CPU seconds per holder, the same per workflow step, the fsyncs Python asked
for, and the maximum RSS halfway and at the end (flat memory: the two stay close). CPU time is
what to compare between runs on a busy machine; wall time only on an idle one.

--parse-alternate: holders alternate between certificate parsing kept by DER and parsing on
every call, in the same run (docs/certificates.md).
"""
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

state = Path(tempfile.mkdtemp(prefix="bench-provision-"))
os.environ["SITOKEN_STATE_DIR"] = str(state)
os.environ["SITOKEN_SIM_DIR"] = str(state / "softhsm")
os.environ.pop("SOFTHSM2_CONF", None)
import sitoken.certs.parse as parse  # noqa: E402
from sitoken.pin import Pin  # noqa: E402
from sitoken.provisioning.applicant import applicant_from_dict, validate  # noqa: E402
from sitoken.provisioning.audit import AuditLog  # noqa: E402
from sitoken.provisioning.holder_pins import FixedPin  # noqa: E402
from sitoken.provisioning.identifiers import resident_id_check_character  # noqa: E402
from sitoken.provisioning.issuers import LocalCAIssuer  # noqa: E402
from sitoken.provisioning.journal import Journal  # noqa: E402
from sitoken.provisioning.workflow import Counter  # noqa: E402

STEPS = ["_token_step", "_pin_step", "_key_step", "_csr_step", "_issue_step", "_install_step", "_check_step",
         "_finish"]
args = [a for a in sys.argv[1:] if not a.startswith("--")]
N = int(args[0]) if args else 20
ALTERNATE = "--parse-alternate" in sys.argv

steps: dict[str, list[float]] = {}


def timed_step(name, method):
    def run(self, enrolment):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return method(self, enrolment)
        finally:
            spent = steps.setdefault(name, [0.0, 0.0])
            spent[0] += time.perf_counter() - wall
            spent[1] += time.process_time() - cpu
    return run


for step in STEPS:
    setattr(Counter, step, timed_step(step, getattr(Counter, step)))
fsyncs = [0]
real_fsync = os.fsync


def counted_fsync(fd):
    fsyncs[0] += 1
    return real_fsync(fd)


os.fsync = counted_fsync
on = date.today()
journal = Journal(state / "journal.sqlite", operator="clerk-7")
counter = Counter(journal, AuditLog(state / "audit.jsonl", "clerk-7"), LocalCAIssuer(state / "ca"),
                  holder_pins=FixedPin(Pin("Hold3r99")), so_pin=Pin("so-pin-2468"), module="sim", on=on)


def person(i):
    body = f"1101051990{(i % 12) + 1:02d}{(i % 28) + 1:02d}{i % 1000:03d}"
    return validate(applicant_from_dict({"kind": "personal", "name": f"Holder {i}", "id_number":
                                         body + resident_id_check_character(body), "mobile": "13800138000"}), on=on)


counter.provision(person(999))  # warm-up: CA creation, module load
cached, uncached = parse._parsed, parse._parsed.__wrapped__
sides = ["parse kept by DER", "parse every call"] if ALTERNATE else ["all"]
totals = {side: [[], [], {}] for side in sides}  # wall per holder, CPU per holder, steps
rss = []
for i in range(N * len(sides)):
    side = sides[i % len(sides)]
    parse._parsed = uncached if side == "parse every call" else cached
    steps.clear()
    fsyncs_before = fsyncs[0]
    wall, cpu = time.perf_counter(), time.process_time()
    result = counter.provision(person(i))
    totals[side][0].append(time.perf_counter() - wall)
    totals[side][1].append(time.process_time() - cpu)
    assert result.state == "done", result
    for name, (w, c) in steps.items():
        acc = totals[side][2].setdefault(name, [0.0, 0.0])
        acc[0] += w
        acc[1] += c
    rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
journal.close()
print(f"{N} holders each way, load average {os.getloadavg()[0]:.1f}, os.fsync per holder "
      f"{fsyncs[0] / (N * len(sides) + 1):.1f} (SQLite's own syncs not counted)")
for side, (walls, cpus, per_step) in totals.items():
    print(f"{side}: s/holder wall mean {sum(walls) / N:.4f} median {sorted(walls)[N // 2]:.4f}, "
          f"CPU mean {sum(cpus) / N:.4f} median {sorted(cpus)[N // 2]:.4f}")
    for name in STEPS:
        w, c = per_step.get(name, (0.0, 0.0))
        print(f"  {name.strip('_'):12} wall {w / N * 1000:7.1f} ms   CPU {c / N * 1000:6.1f} ms")
half = len(rss) // 2
print(f"max RSS kB after {half} holders: {rss[half - 1]}, after {len(rss)}: {rss[-1]}")
shutil.rmtree(state, ignore_errors=True)  # the journal, the CA and the SoftHSM store of this run
