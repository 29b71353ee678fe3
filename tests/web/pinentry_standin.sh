#!/bin/sh
# A scripted stand-in for a GnuPG pinentry in the web host's tests: it speaks the Assuan lines
# sitoken sends and answers GETPIN from the environment (STANDIN_PIN, or STANDIN_CANCEL=1 for a
# closed dialog); each SETDESC line is appended to $STANDIN_LOG so a test sees what the holder saw.
# With STANDIN_CONTROL=DIR (a browser's hosts, whose environment is fixed at its start) the files
# in DIR decide at each GETPIN: `pin` (the PIN typed), `cancel` (the dialog closed), `delay`
# (seconds the holder takes) and `crash` (the host that asked is killed: a crash mid-request).
# A certificate-choice dialog (prompt "Certificate number") is answered with STANDIN_CHOICE.
echo "OK Pleased to meet you"
while IFS= read -r line; do
  case "$line" in
    "SETPROMPT Certificate number"*) CHOICE=1; echo OK ;;
    SETDESC*)
      if [ -n "$STANDIN_LOG" ]; then printf '%s\n' "$line" >> "$STANDIN_LOG"; fi
      echo OK ;;
    GETPIN)
      if [ -n "$CHOICE" ]; then printf 'D %s\nOK\n' "$STANDIN_CHOICE"; continue; fi
      if [ -n "$STANDIN_CONTROL" ]; then
        if [ -f "$STANDIN_CONTROL/delay" ]; then sleep "$(cat "$STANDIN_CONTROL/delay")"; fi
        if [ -f "$STANDIN_CONTROL/crash" ]; then kill -9 "$PPID"; exit 1; fi
        if [ -f "$STANDIN_CONTROL/cancel" ]; then STANDIN_CANCEL=1; fi
        if [ -f "$STANDIN_CONTROL/pin" ]; then STANDIN_PIN=$(cat "$STANDIN_CONTROL/pin"); fi
      fi
      if [ -n "$STANDIN_CANCEL" ]; then echo "ERR 83886179 Operation cancelled <Pinentry>"
      else printf 'D %s\nOK\n' "$STANDIN_PIN"; fi ;;
    BYE) echo OK; exit 0 ;;
    *) echo OK ;;
  esac
done
