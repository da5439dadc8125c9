#!/usr/bin/env bash
# Install the peer toolkits into their own virtual environments under benchmarks/peers/.venvs/
# (git-ignored; no peer code is ever committed). torch is pinned to the local CPU wheel through
# the repository's constraints file, since anything looser pulls GBs of CUDA wheels.
#   bash benchmarks/peers/install.sh [opennmt] [joeynmt]     (default: both)
# A peer that cannot be installed is skipped with the reason in .venvs/<peer>.install.log.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venvs="$here/.venvs"
cons="$root/constraints.txt"
mkdir -p "$venvs"
peers=("$@"); [ ${#peers[@]} -eq 0 ] && peers=(opennmt joeynmt)

install_one() {
  local name="$1" v="$venvs/$1"
  python3 -m venv "$v" || return 1
  "$v/bin/pip" install -q --upgrade pip || return 1
  "$v/bin/pip" install -q -c "$cons" torch==2.13.0 || return 1
  case "$name" in
    opennmt)
      # OpenNMT-py 3.5.1's metadata asks for torch<2.3: install it without dependencies, then the
      # imports its training and translation paths need, by hand.
      "$v/bin/pip" install -q --no-deps OpenNMT-py==3.5.1 || return 1
      "$v/bin/pip" install -q -c "$cons" configargparse pyyaml sacrebleu rapidfuzz tensorboard \
        pyonmttok subword-nmt sentencepiece numpy spacy pyahocorasick fasttext-wheel || return 1
      "$v/bin/python" -c "import onmt.bin.train, onmt.bin.translate" || return 1 ;;
    joeynmt)
      # JoeyNMT 2.3.0 also needs importlib_metadata on Python >= 3.10.
      "$v/bin/pip" install -q -c "$cons" joeynmt==2.3.0 importlib_metadata || return 1
      "$v/bin/python" -c "import joeynmt.training, joeynmt.prediction" || return 1 ;;
  esac
}

for p in "${peers[@]}"; do
  if [ -f "$venvs/$p/.installed" ]; then echo "$p: already installed"; continue; fi
  if install_one "$p" >"$venvs/$p.install.log" 2>&1; then
    touch "$venvs/$p/.installed"; echo "$p: installed"
  else
    echo "$p: NOT installed, skipped; last lines of $venvs/$p.install.log:"; tail -5 "$venvs/$p.install.log"
  fi
done
