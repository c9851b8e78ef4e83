# Sourced by every recipe's run.sh: the one stage runner of the recipes' convention (recipes/README.md).
#
#   run_stage N NAME COMMAND...   runs COMMAND when $stage <= N <= $stop_stage, with a banner and its
#                                 wall time; appends "N<TAB>NAME<TAB>seconds" to $timings when it is set.

run_stage() {
  local number="$1" name="$2"; shift 2
  if [[ $stage -le $number && $stop_stage -ge $number ]]; then
    echo "=== stage $number: $name ==="
    local started=$SECONDS
    "$@"
    if [[ -n "${timings:-}" ]]; then printf '%s\t%s\t%s\n' "$number" "$name" "$((SECONDS - started))" >> "$timings"; fi
    echo "=== stage $number done in $((SECONDS - started)) s ==="
  fi
}
