#!/usr/bin/env bash
# Whole-process time of sitoken against the native tools doing the same job, side by side in one run:
#   sitoken tokens --json   vs  pkcs11-tool -L
#   sitoken sign (P-256)    vs  pkcs11-tool --sign
#   sitoken verify          vs  openssl dgst -verify
# Each pair runs alternately ROUNDS times (default 7) on one fresh SoftHSM token; the median of each
# is reported with the ratio (target: at most 6x). Usage: scripts/bench-cli.sh [ROUNDS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
exec "$PY" - "${1:-7}" <<'EOF'
import hashlib, os, resource, shutil, statistics, subprocess, sys, tempfile, time

rounds = int(sys.argv[1])
work = tempfile.mkdtemp(prefix="sitoken-bench-cli-")
env = {**os.environ, "SITOKEN_SIM_DIR": work, "SO": "bench-so-2468", "PIN": "bench7pin3"}
env.pop("SOFTHSM2_CONF", None)
env.pop("SITOKEN_MODULE", None)
# An installed sitoken runs from compiled bytecode (pip writes it); a checkout run with
# PYTHONDONTWRITEBYTECODE=1 would compile every module on every run. The bytecode goes to a
# private cache, written by the warm-up run below, so the tree stays clean.
env.pop("PYTHONDONTWRITEBYTECODE", None)
env["PYTHONPYCACHEPREFIX"] = os.path.join(work, "pycache")
sitoken = [os.path.join(os.path.dirname(sys.executable), "sitoken")]
module = "/usr/lib/softhsm/libsofthsm2.so"


def run(args, **kw):
    return subprocess.run(args, env=env, check=True, capture_output=True, **kw)


run(sitoken + ["sim", "create", "bench", "--so-pin-env", "SO", "--pin-env", "PIN"])
run(sitoken + ["key", "generate", "--token", "bench", "--type", "ec-p256", "--label", "k", "--pin-env", "PIN"])
env["SOFTHSM2_CONF"] = os.path.join(work, "softhsm2.conf")
data, sig, pub = (os.path.join(work, n) for n in ("data", "sig", "pub.pem"))
with open(data, "wb") as f:
    f.write(b"a small file to sign\n" * 10)
run(sitoken + ["sign", "--token", "bench", "--key", "k", "--in", data, "--out", sig, "--pin-env", "PIN"])
digest = os.path.join(work, "digest")
with open(data, "rb") as f, open(digest, "wb") as out:
    out.write(hashlib.sha256(f.read()).digest())
run(sitoken + ["key", "export", "--token", "bench", "--key", "k", "--out", pub])
p11 = ["pkcs11-tool", "--module", module, "--token-label", "bench"]
pairs = [
    ("tokens --json", sitoken + ["tokens", "--json"], ["pkcs11-tool", "--module", module, "-L"]),
    ("sign (P-256)", sitoken + ["sign", "--token", "bench", "--key", "k", "--in", data, "--out", sig + ".s", "--force",
                                "--pin-env", "PIN"],
     # SoftHSM offers raw CKM_ECDSA only, so pkcs11-tool signs the SHA-256 digest (made once, beforehand),
     # as sitoken does after hashing on the host.
     p11 + ["--login", "--pin", env["PIN"], "--sign", "-m", "ECDSA", "--label", "k", "-i", digest,
            "-o", sig + ".p", "--signature-format", "openssl"]),
    ("verify", sitoken + ["verify", "--pubkey", pub, "--in", data, "--sig", sig],
     ["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, data]),
]


def timed(args):
    """Wall time and CPU time (user + system) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# On a busy machine wall time stretches Python's many small steps more than a C tool's few:
# CPU time is printed beside it, and the load average says how busy the machine was.
print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; median of {rounds}, alternating")
print(f"{'command':<16} {'sitoken ms':>10} {'native ms':>10} {'ratio':>6}   {'cpu ms':>7} {'native':>7} {'ratio':>6}")
worst = 0.0
for name, ours, theirs in pairs:
    timed(ours), timed(theirs)  # warm the page cache
    a, b = [], []
    for _ in range(rounds):
        a.append(timed(ours))
        b.append(timed(theirs))
    wall = [statistics.median(x[0] for x in runs) for runs in (a, b)]
    cpu = [statistics.median(x[1] for x in runs) for runs in (a, b)]
    ratio = wall[0] / wall[1]
    worst = max(worst, ratio)
    print(f"{name:<16} {wall[0] * 1000:>10.1f} {wall[1] * 1000:>10.1f} {ratio:>5.1f}x   "
          f"{cpu[0] * 1000:>7.1f} {cpu[1] * 1000:>7.1f} {cpu[0] / max(cpu[1], 1e-4):>5.1f}x")
shutil.rmtree(work)
print(f"worst wall-time ratio {worst:.1f}x (target <= 6x)")
EOF
