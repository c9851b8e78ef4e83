# Sourced by every recipe's run.sh: the command line and the stage runner of the recipes' one
# convention (recipes/README.md).
#
#   parse_arguments "$@"          --stage N, --stop-stage M, -h/--help and key=value. A key listed in
#                                 $recipe_options (the recipe sets each one's default first) sets that
#                                 variable; any other key=value goes to the array $overrides.
#   run_stage N NAME COMMAND...   runs COMMAND when $stage <= N <= $stop_stage, with a banner and its
#                                 wall time; appends "N<TAB>NAME<TAB>seconds" to $timings when it is set.

parse_arguments() {
  overrides=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --stage) stage="$2"; shift 2 ;;
      --stop-stage|--stop_stage) stop_stage="$2"; shift 2 ;;
      -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
      *=*)
        local key="${1%%=*}"
        if [[ " ${recipe_options[*]} " == *" $key "* ]]; then printf -v "$key" '%s' "${1#*=}"; else overrides+=("$1"); fi
        shift ;;
      *) echo "$(basename "$0"): unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
  done
}

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
