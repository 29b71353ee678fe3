#!/usr/bin/env bash
# Installs what is missing, then runs the end-to-end demo on a simulated USB-Key:
# create a token, set and change its PINs, generate keys, sign a file, verify it
# with sitoken and with openssl. Every step is printed as it happens.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"

OUT="$ROOT/demo-out"
rm -rf "$OUT" && mkdir -p "$OUT"
export SITOKEN_SIM_DIR="$OUT/softhsm"   # a private token store, removed at the next run
export SITOKEN_SKF_DIR="$OUT/softskf"  # the software SKF token's devices, also private to the demo
unset SOFTHSM2_CONF SITOKEN_MODULE SOFTSKF_DIR SOFTSKF_CONF

# Demo PINs, passed by variable name (never on the command line). Do not reuse them.
export DEMO_SO_PIN="demo-so-2468" DEMO_PIN="zq83demo" DEMO_NEW_PIN="k7w2demo" DEMO_RESET_PIN="r5t9demo"

n=0
step() { n=$((n + 1)); printf '\n== step %d: %s\n' "$n" "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "what sitoken sees on this machine"
run sitoken doctor

step "create a simulated USB-Key with its SO PIN and user PIN"
run sitoken sim create demo-key --so-pin-env DEMO_SO_PIN --pin-env DEMO_PIN

step "list tokens (as JSON, the way a script reads them)"
run sitoken tokens --json

step "a weak new PIN is refused before it reaches the token"
WEAK=123456 sitoken pin change --token demo-key --pin-env DEMO_PIN --new-pin-env WEAK \
  && { echo "unexpected: weak PIN accepted"; exit 1; } || echo "refused, exit status $?"

step "the holder changes the PIN"
run sitoken pin change --token demo-key --pin-env DEMO_PIN --new-pin-env DEMO_NEW_PIN

step "a wrong PIN is refused and the token says so"
rc=0
WRONG=wrong1pin sitoken sign --token demo-key --key none --in /dev/null --out "$OUT/never-written.sig" \
  --pin-env WRONG || rc=$?
# 4 is the wrong-PIN status: anything else means the demo no longer shows what it says.
[ "$rc" -eq 4 ] || { echo "unexpected: exit status $rc, not 4 (wrong PIN)"; exit 1; }
echo "refused, exit status $rc"
run sitoken pin status --token demo-key

step "forgotten PIN: the counter resets it with the SO PIN"
run sitoken pin reset --token demo-key --so-pin-env DEMO_SO_PIN --new-pin-env DEMO_RESET_PIN

step "generate an EC P-256 and an RSA-2048 key pair on the token"
run sitoken key generate --token demo-key --type ec-p256 --label sign-ec --pin-env DEMO_RESET_PIN
run sitoken key generate --token demo-key --type rsa2048 --label sign-rsa --pin-env DEMO_RESET_PIN
run sitoken key list --token demo-key --pin-env DEMO_RESET_PIN

step "sign a document with each key"
printf 'Social-insurance record 2026-11: contribution confirmed.\n' > "$OUT/record.txt"
run sitoken sign --token demo-key --key sign-ec --in "$OUT/record.txt" --out "$OUT/record.ec.sig" --pin-env DEMO_RESET_PIN
run sitoken sign --token demo-key --key sign-rsa --in "$OUT/record.txt" --out "$OUT/record.rsa.sig" --pin-env DEMO_RESET_PIN

step "verify with sitoken (exit 0 when valid)"
run sitoken verify --token demo-key --key sign-ec --in "$OUT/record.txt" --sig "$OUT/record.ec.sig"
run sitoken verify --token demo-key --key sign-rsa --in "$OUT/record.txt" --sig "$OUT/record.rsa.sig" --on-token

step "a tampered document does not verify (exit 1)"
sed 's/confirmed/reversed/' "$OUT/record.txt" > "$OUT/tampered.txt"
sitoken verify --token demo-key --key sign-ec --in "$OUT/tampered.txt" --sig "$OUT/record.ec.sig" \
  && { echo "unexpected: tampered document verified"; exit 1; } || echo "rejected, exit status $?"

step "export the public keys and verify with openssl, independently of sitoken"
run sitoken key export --token demo-key --key sign-ec --out "$OUT/sign-ec.pem"
run sitoken key export --token demo-key --key sign-rsa --out "$OUT/sign-rsa.pem"
run openssl dgst -sha256 -verify "$OUT/sign-ec.pem" -signature "$OUT/record.ec.sig" "$OUT/record.txt"
run openssl dgst -sha256 -verify "$OUT/sign-rsa.pem" -signature "$OUT/record.rsa.sig" "$OUT/record.txt"

step "certificate request (PKCS#10) signed on the token, issued by the local demo CA"
run sitoken csr --token demo-key --key sign-ec --subject "CN=张三,OU=Individual-1,O=某市社会保险事业管理中心,C=CN" \
  --san email:zhangsan@example.cn --out "$OUT/sign-ec.csr" --pin-env DEMO_RESET_PIN
run openssl req -verify -in "$OUT/sign-ec.csr" -noout
run sitoken ca init "$OUT/demo-ca" --name "sitoken Demo CA"
run sitoken ca issue "$OUT/demo-ca" --csr "$OUT/sign-ec.csr" --days 365 --out "$OUT/sign-ec.issued.pem"

step "install the certificate with its chain next to its key, and check its status"
run sitoken cert import --token demo-key "$OUT/sign-ec.issued.pem" --pin-env DEMO_RESET_PIN
run sitoken cert status --token demo-key

step "CMS signature of the document, verified by sitoken and by openssl cms"
run sitoken sign --token demo-key --key sign-ec --cms --in "$OUT/record.txt" --out "$OUT/record.p7s" --pin-env DEMO_RESET_PIN
run sitoken verify --cms --trust "$OUT/demo-ca/root.pem" --in "$OUT/record.txt" --sig "$OUT/record.p7s"
run openssl cms -verify -binary -inform DER -in "$OUT/record.p7s" -content "$OUT/record.txt" \
  -CAfile "$OUT/demo-ca/root.pem" -purpose any -out /dev/null

# --- counter provisioning (docs/counter-guide.md) ---------------------------------------
export SITOKEN_STATE_DIR="$OUT/counter"   # journal, audit log, local CA: owner-only files
export DEMO_HOLDER_PIN="zh4ng3pin" DEMO_ORG_PIN="0rg7pin5k"
cat > "$OUT/zhang.json" <<'JSON'
{"kind": "personal", "name": "张三", "id_number": "110105199003071239", "mobile": "+86 138 0013 8000"}
JSON
cat > "$OUT/org.json" <<'JSON'
{"kind": "organisation", "name": "某市某某科技有限公司", "credit_code": "91350100M000100Y43",
 "agent": {"name": "李四", "id_number": "320102198511200012", "authorisation_ref": "AUTH-2026-0042"}}
JSON
sed 's/071239/071238/' "$OUT/zhang.json" > "$OUT/typo.json"

step "counter: an applicant with a mistyped ID number is refused before any token work"
sitoken provision --applicant "$OUT/typo.json" --so-pin-env DEMO_SO_PIN --holder-pin-env DEMO_HOLDER_PIN \
  && { echo "unexpected: invalid applicant accepted"; exit 1; } || echo "refused, exit status $?"

step "counter: provision a personal applicant on a new simulated USB-Key (init, PIN, key, CSR, CA, install, check)"
run sitoken provision --applicant "$OUT/zhang.json" --so-pin-env DEMO_SO_PIN --holder-pin-env DEMO_HOLDER_PIN

step "counter: provision an organisation applicant (RSA-2048 profile, credit code in its own extension)"
run sitoken provision --applicant "$OUT/org.json" --so-pin-env DEMO_SO_PIN --holder-pin-env DEMO_ORG_PIN

step "counter: the same applicants again as a batch: nobody is provisioned twice"
python3 -c 'import json,sys; print(json.dumps([json.load(open(f)) for f in sys.argv[1:]], ensure_ascii=False))' \
  "$OUT/zhang.json" "$OUT/org.json" > "$OUT/applicants.json"
run sitoken batch "$OUT/applicants.json" --so-pin-env DEMO_SO_PIN --holder-pin-env DEMO_HOLDER_PIN

step "counter: the journal (subject numbers masked)"
run sitoken journal show

step "each holder signs a document (CMS) with the new certificate; verified by sitoken and by openssl"
field() { sitoken journal show --json --applicant-id "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['enrolments'][-1]['$2'])"; }
for who in 110105199003071239:DEMO_HOLDER_PIN 91350100M000100Y43:DEMO_ORG_PIN; do
  id=${who%%:*} pinvar=${who##*:}
  label=$(field "$id" token_label) key=$(field "$id" key_label)
  run sitoken sign --token "$label" --key "$key" --cms --in "$OUT/record.txt" --out "$OUT/record.$id.p7s" --pin-env "$pinvar"
  run sitoken verify --cms --trust "$SITOKEN_STATE_DIR/local-ca/root.pem" --in "$OUT/record.txt" --sig "$OUT/record.$id.p7s"
  run openssl cms -verify -binary -inform DER -in "$OUT/record.$id.p7s" -content "$OUT/record.txt" \
    -CAfile "$SITOKEN_STATE_DIR/local-ca/root.pem" -purpose any -out /dev/null
done

# --- dual SM2 certificates on an SKF USB-Key (docs/counter-guide.md) ---------------------
export DEMO_SM2_PIN="w4ngwu7pin"
cat > "$OUT/wang.json" <<'JSON'
{"kind": "personal", "name": "王五", "id_number": "440305200002292462", "mobile": "13912345678"}
JSON

step "counter: an SM2 local CA (with its KMC stand-in), then a holder on a software SKF USB-Key with dual certificates"
run sitoken ca init "$OUT/sm2-ca" --algorithm sm2 --name "sitoken Demo SM2 CA"
run sitoken provision --module skf --applicant "$OUT/wang.json" --ca "$OUT/sm2-ca" \
  --so-pin-env DEMO_SO_PIN --holder-pin-env DEMO_SM2_PIN
serial=$(field 440305200002292462 token_serial) key=$(field 440305200002292462 key_label)
run sitoken cert status --module skf --token "$serial"

step "openssl checks both certificates against the SM2 CA, with the SM2 signer ID"
run sitoken cert export --module skf --token "$serial" --key "$key" --out "$OUT/wang-sign.pem"
run sitoken cert export --module skf --token "$serial" --key "$key/enc" --out "$OUT/wang-enc.pem"
for cert in wang-sign wang-enc; do
  run openssl verify -partial_chain -CAfile "$OUT/sm2-ca/intermediate.pem" -vfyopt distid:1234567812345678 "$OUT/$cert.pem"
done

step "the SM2 holder signs a document (CMS, SM2 with SM3) on the USB-Key; sitoken verifies it to the SM2 CA"
cat "$OUT/sm2-ca/intermediate.pem" "$OUT/sm2-ca/root.pem" > "$OUT/sm2-trust.pem"
run sitoken sign --module skf --token "$serial" --key "$key" --cms --in "$OUT/record.txt" --out "$OUT/record.sm2.p7s" \
  --pin-env DEMO_SM2_PIN
run sitoken verify --cms --trust "$OUT/sm2-trust.pem" --in "$OUT/record.txt" --sig "$OUT/record.sm2.p7s"

step "anyone encrypts a message to the holder's encryption certificate (openssl); the USB-Key decrypts it"
printf '王五: your pension statement for 2026 is ready.\n' > "$OUT/message.txt"
run openssl x509 -in "$OUT/wang-enc.pem" -pubkey -noout -out "$OUT/wang-enc.pub"
run openssl pkeyutl -encrypt -pubin -inkey "$OUT/wang-enc.pub" -in "$OUT/message.txt" -out "$OUT/message.sm2"
run sitoken decrypt --module skf --token "$serial" --key "$key/enc" --in "$OUT/message.sm2" --out "$OUT/message.out" \
  --pin-env DEMO_SM2_PIN
run cmp "$OUT/message.txt" "$OUT/message.out"

printf '\nDemo complete. Files are in %s\n' "$OUT"
