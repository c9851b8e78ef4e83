# Sourced by run.sh and compare.sh: the corpora this recipe prepares and the released model of each.
#
#   check_corpus_and_model        checks $data (toy | valentini | dns) and, when stage 0 will run, that a
#                                 real corpus has its $path; sets $model to the corpus's default when empty.

check_corpus_and_model() {
  local script
  script="$(basename "$0")"
  case "$data" in
    toy) ;;
    valentini|dns)
      if [[ $stage -le 0 && -z "$path" ]]; then
        echo "$script: data=$data needs path=/where/the/corpus/is for stage 0" >&2; exit 2
      fi ;;
    *) echo "$script: data must be toy, valentini or dns (got '$data')" >&2; exit 2 ;;
  esac
  if [[ -z "$model" ]]; then
    case "$data" in toy) model=toy ;; valentini) model=released ;; dns) model=released_dns ;; esac
  fi
}
