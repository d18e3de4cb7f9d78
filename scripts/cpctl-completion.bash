# bash completion for cpctl, the chargepoint-runtime technician CLI.
# Install: cpctl completion bash > /etc/bash_completion.d/cpctl   (or: source <(cpctl completion bash))
# Static on purpose: a TAB must not start Node on a small board. test/unit/cli.test.ts checks that
# every command of `cpctl help` is offered here.

_cpctl() {
  local cur prev
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"

  case "$prev" in
    --socket | --signature | --certificate)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return
      ;;
    --reader | --power | --limit | --duration | --action)
      return
      ;;
  esac

  # The command words typed so far, options and their values left out.
  local -a words=()
  local i word
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    case "$word" in
      --socket | --reader | --power | --limit | --duration | --action | --signature | --certificate) ((i++)) ;;
      -*) ;;
      *) words+=("$word") ;;
    esac
  done

  local options="--socket --json --help"
  local candidates=""
  local files=""
  case "${words[0]}" in
    "")
      candidates="status config hal selftest limit limits sim transactions queue firmware security-log auth reconnect reset availability unlock log-level trace diagnostics completion version help"
      ;;
    config)
      [[ ${#words[@]} -eq 1 ]] && candidates="get set"
      ;;
    limit)
      [[ ${#words[@]} -eq 2 ]] && candidates="none"
      ;;
    limits) options+=" --duration" ;;
    hal)
      if [[ ${#words[@]} -eq 1 ]]; then
        candidates="meter rfid relay"
      elif [[ ${words[1]} == relay && ${#words[@]} -eq 3 ]]; then
        candidates="open close"
      fi
      ;;
    sim)
      if [[ ${#words[@]} -eq 1 ]]; then
        candidates="plug unplug ev swipe fault clear lock-fail tamper meter"
      elif [[ ${words[1]} == tamper && ${#words[@]} -eq 2 ]]; then
        candidates="on off"
      elif [[ ${#words[@]} -eq 3 ]]; then
        case "${words[1]}" in
          ev) candidates="charge pause" ;;
          lock-fail) candidates="on off" ;;
          fault)
            candidates="ConnectorLockFailure EVCommunicationError GroundFailure HighTemperature InternalError OverCurrentFailure OverVoltage PowerMeterFailure PowerSwitchFailure ReaderFailure UnderVoltage WeakSignal OtherError"
            ;;
        esac
      fi
      case "${words[1]}" in
        swipe) options+=" --reader" ;;
        meter) options+=" --power" ;;
      esac
      ;;
    transactions) options+=" --limit" ;;
    security-log) options+=" --limit --clear" ;;
    queue)
      [[ ${#words[@]} -eq 1 ]] && candidates="retry"
      ;;
    firmware)
      if [[ ${#words[@]} -eq 1 ]]; then
        candidates="install"
      elif [[ ${words[1]} == install ]]; then
        options+=" --signature --certificate"
        files=yes
      fi
      ;;
    reset)
      [[ ${#words[@]} -eq 1 ]] && candidates="soft hard"
      ;;
    availability)
      [[ ${#words[@]} -eq 2 ]] && candidates="operative inoperative"
      ;;
    log-level)
      [[ ${#words[@]} -eq 1 ]] && candidates="fatal error warn info debug trace"
      ;;
    trace) options+=" --action --limit --follow" ;;
    diagnostics)
      [[ ${#words[@]} -eq 1 ]] && mapfile -t COMPREPLY < <(compgen -f -- "$cur") && return
      ;;
    completion)
      [[ ${#words[@]} -eq 1 ]] && candidates="bash"
      ;;
  esac

  if [[ "$cur" == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
  elif [[ -n $files ]]; then
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -W "$candidates" -- "$cur")
  fi
}

complete -F _cpctl cpctl
